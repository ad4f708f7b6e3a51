"""The fence around Faust and aiokafka internals (streams/patches.py): every patched
name exists on the pinned versions, each patch takes effect once applied (and not at
import of the app), and another version stops the worker with one line naming the patch
unless WIRESTREAM_ALLOW_UNPINNED_PATCHES=true. What each patch fixes is shown against a
real broker in tests/streams/test_app.py and tests/integration/test_cli.py."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tomllib
from collections.abc import Iterator

import pytest
from aiokafka import client as aiokafka_client
from aiokafka.admin import client as aiokafka_admin
from aiokafka.consumer.group_coordinator import GroupCoordinator

import streams.patches as patches
from streams.app import configure_for_broker, create_app
from streams.cli import main
from streams.settings import Settings
from tests.helpers import ROOT


@pytest.fixture
def keep_fetch_wait() -> Iterator[None]:
    before = patches.fetch_max_wait_ms
    try:
        yield
    finally:
        patches.fetch_max_wait_ms = before


def test_the_pins_are_pyprojects_and_installed() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for package, version in patches.PINNED.items():
        assert f"{package}=={version}" in project["dependencies"]
        assert patches.installed_version(package) == version


@pytest.mark.parametrize("patch", patches.PATCHES, ids=lambda p: f"{p.name}-{p.package}")
def test_every_patched_name_exists(patch: patches.Patch) -> None:
    assert [t for t in patch.targets if not patches.target_exists(t)] == []


def test_a_missing_name_is_reported() -> None:
    assert not patches.target_exists("aiokafka.consumer.group_coordinator:GroupCoordinator.nope")
    assert not patches.target_exists("faust.nowhere:X")


def test_importing_the_app_changes_no_library_code() -> None:
    code = (
        "import streams.app\n"
        "from aiokafka.consumer.group_coordinator import GroupCoordinator as G\n"
        "from aiokafka import client\n"
        "print(getattr(G._do_commit_offsets, 'wirestream_patched', False),"
        " client.MetadataRequest.__name__)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["False", "MetadataRequest"]


def test_apply_patches_replaces_each_once() -> None:
    applied = patches.apply_patches(Settings())
    assert applied == ["commit_only_as_a_group_member", "no_topic_auto_creation"]
    commit = GroupCoordinator._do_commit_offsets
    assert commit.wirestream_patched is True  # type: ignore[attr-defined]
    assert aiokafka_client.MetadataRequest is patches._NoAutoCreateMetadataRequest
    assert aiokafka_admin.MetadataRequest is patches._NoAutoCreateMetadataRequest
    assert patches.apply_patches(Settings()) == applied
    assert GroupCoordinator._do_commit_offsets is commit  # not wrapped twice
    request = patches._NoAutoCreateMetadataRequest(["t"])
    token = patches._FORBID.set(True)
    try:
        forbidden = patches._NoAutoCreateMetadataRequest(["t"])
    finally:
        patches._FORBID.reset(token)
    assert request._allow_auto_topic_creation is None
    assert forbidden._allow_auto_topic_creation is False


@pytest.mark.parametrize(("kind", "expected_ms"), [("tansu", 50), ("kafka", 1500)])
def test_the_consumer_faust_creates_uses_the_configured_fetch_wait(
    keep_fetch_wait: None, kind: str, expected_ms: int
) -> None:
    """The app's consumer transport is the registered subclass, and the aiokafka consumer
    its thread builds carries the wait the worker chose for its broker."""
    settings = Settings(app_id=f"wirestream-patch-test-{kind}")

    async def build() -> tuple[object, int, str]:
        app = create_app(settings)
        configure_for_broker(app, settings, kind)
        thread = app.consumer._thread  # type: ignore[attr-defined]
        consumer = thread._create_worker_consumer(app.transport)
        return thread, consumer._fetch_max_wait_ms, type(app.transport).__name__

    thread, wait_ms, transport = asyncio.run(build())
    assert isinstance(thread, patches.ConsumerThread)
    assert type(thread).seek_to_committed is patches.ConsumerThread.seek_to_committed
    assert transport == "Transport" and wait_ms == expected_ms


def test_another_version_refuses_with_one_line_naming_the_patch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        patches,
        "installed_version",
        lambda package: "0.16.0" if package == "faust-streaming" else "0.14.0",
    )
    with pytest.raises(patches.PatchError) as refused:
        patches.check_patches(Settings())
    assert str(refused.value) == (
        "patch bounded_fetch_wait changes faust.transport.drivers.aiokafka:"
        "AIOKafkaConsumerThread._create_worker_consumer, written for faust-streaming 0.15.3,"
        " but 0.16.0 is installed: set WIRESTREAM_ALLOW_UNPINNED_PATCHES=true to start anyway"
    )
    warnings = patches.check_patches(Settings(allow_unpinned_patches=True))
    assert [w.split(" changes ")[0] for w in warnings] == [
        "patch bounded_fetch_wait",
        "patch rewind_partitions_without_commits",
        "patch offsets_only_in_transactions",
        "patch bounded_shutdown",
    ]


def test_a_missing_name_refuses_even_when_unpinned_is_allowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gone = patches.Patch("gone", "aiokafka", ("aiokafka:AIOKafkaConsumer.nope",), "both")
    monkeypatch.setattr(patches, "PATCHES", (gone,))
    with pytest.raises(patches.PatchError, match="^patch gone: aiokafka:AIOKafkaConsumer.nope"):
        patches.check_patches(Settings(allow_unpinned_patches=True))


def test_the_worker_command_refuses_before_touching_the_broker(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(patches, "installed_version", lambda package: "9.9.9")
    monkeypatch.setenv("WIRESTREAM_BROKER", "kafka://127.0.0.1:1")  # nothing listens there
    from streams.settings import get_settings

    get_settings.cache_clear()
    try:
        status = main(["worker"])
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1
    assert err == [
        "wirestream worker: patch bounded_fetch_wait changes faust.transport.drivers.aiokafka:"
        "AIOKafkaConsumerThread._create_worker_consumer, written for faust-streaming 0.15.3,"
        " but 9.9.9 is installed: set WIRESTREAM_ALLOW_UNPINNED_PATCHES=true to start anyway"
    ]
