"""The worker's NLP process on the test broker: it exists, and it never outlives
the worker, even after ``kill -9``."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from streams.broker import LocalBroker
from tests.helpers import WorkerProcess, on_kafka, start_worker, worker_env
from tests.integration.conftest import Worker

pytestmark = pytest.mark.integration


def children(pid: int) -> dict[int, str]:
    """Live child processes of ``pid`` with their command lines (from /proc)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ")
                found[int(stat.parent.name)] = cmdline.decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_nlp_process_exits_when_its_worker_is_killed(broker: LocalBroker, tmp_path: Path) -> None:
    env = worker_env(broker.url, tmp_path / "data", WIRESTREAM_APP_ID="wirestream-orphan-test")
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        deadline = time.monotonic() + 60
        nlp = {}
        while not nlp and time.monotonic() < deadline:
            nlp = {p: c for p, c in children(worker.process.pid).items() if "spawn" in c}
            time.sleep(0.2)
        assert len(nlp) >= 1, f"no NLP process under the worker: {children(worker.process.pid)}"
    finally:
        worker.kill()
    deadline = time.monotonic() + 10
    while any(alive(p) for p in nlp) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in nlp if alive(p)], "NLP processes outlived the killed worker"


@pytest.mark.parametrize(
    "path", ["/router/x/", "/router/x/y/", "/router/", "/table/x/", "/table/x/y/", "/nope"]
)
def test_unknown_web_paths_answer_404(worker: Worker, env: dict[str, str], path: str) -> None:
    """Faust's /router and /table views answered 500 with a traceback for names that do
    not exist (Wirestream keeps no tables); every unknown path must answer 404."""
    url = f"http://127.0.0.1:{env['WIRESTREAM_WEB_PORT']}{path}"
    before = len(worker.log_text())
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(url, timeout=10)
    assert info.value.code == 404
    assert "Traceback" not in worker.log_text()[before:]
    assert worker.alive()


def test_the_worker_fits_itself_to_the_broker(worker: WorkerProcess, env: dict[str, str]) -> None:
    """It finds the broker's kind from its ApiVersions answer: Tansu's workarounds (the
    short fetch wait) on Tansu only, and a session Apache Kafka accepts (6 s) there, with
    static membership (HOSTNAME-WEBPORT) on Apache Kafka only."""
    if on_kafka():
        member = f"{socket.gethostname()}-{env['WIRESTREAM_WEB_PORT']}"
        expected = (
            "broker is Apache Kafka (or compatible): fetch wait Faust's 1500 ms, "
            f"session timeout 6 s, static member {member}, at_least_once"
        )
    else:
        expected = (
            "broker is the embedded Tansu: fetch wait 50 ms, session timeout 5 s, "
            "dynamic membership, at_least_once"
        )
    assert f"wirestream worker: {expected}" in worker.log_text()
