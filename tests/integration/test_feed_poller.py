"""``wirestream feed`` as a user runs it, against a local HTTP server and a real broker:
what it publishes to wirestream.articles, poll after poll."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from schemas.validation import guid_id
from streams.settings import Settings
from streams.topics import ARTICLES
from tests.feed_server import Server, serve
from tests.helpers import ROOT, new_broker, read, worker_env

GUIDS = ["urn:test:json:1", "urn:test:json:2"]


def items(second_body: str) -> bytes:
    return orjson.dumps(
        [
            {"guid": GUIDS[0], "headline": "Port strike ends", "body": "Dock workers returned."},
            {"guid": GUIDS[1], "headline": "Rates held", "body": second_body},
        ]
    )


def feed(loop: asyncio.AbstractEventLoop, env: dict[str, str], url: str) -> tuple[int, str]:
    """Run ``wirestream feed URL --once`` while the server's loop serves."""

    async def go() -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "streams.cli", "feed", url, "--once",
            cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await asyncio.wait_for(proc.communicate(), timeout=120)
        return proc.returncode or 0, err.decode()

    return loop.run_until_complete(go())


def test_feed_publishes_new_and_changed_items_to_the_broker(
    server: Any,
    tmp_path: Path,
) -> None:
    srv, loop = server
    srv.json = items("The bank kept its rate.")
    url = srv.url("/json")
    with new_broker(tmp_path / "broker") as broker:
        env = worker_env(broker.url, tmp_path / "data")
        servers = Settings(broker=broker.url).bootstrap_servers

        status, err = feed(loop, env, url)
        assert status == 0, err
        assert f"feed {url}: new 2, changed 0, unchanged 0, errors 0" in err
        status, err = feed(loop, env, url)
        assert status == 0, err
        assert f"feed {url}: new 0, changed 0, unchanged 0, errors 0 (304 not modified)" in err
        srv.json = items("The bank cut its rate.")
        status, err = feed(loop, env, url)
        assert f"feed {url}: new 0, changed 1, unchanged 1, errors 0" in err
        records = read(servers, [ARTICLES], until=lambda rs: len(rs) >= 3, timeout=30)
        records += read(servers, [ARTICLES], idle=1.5, timeout=10)[3:]  # nothing more

    got = [(r.key, r.value["version"], r.value["body"]) for r in records]
    assert sorted(got) == sorted(
        [
            (guid_id(GUIDS[0]), 1, "Dock workers returned."),
            (guid_id(GUIDS[1]), 1, "The bank kept its rate."),
            (guid_id(GUIDS[1]), 2, "The bank cut its rate."),
        ]
    )
    assert (tmp_path / "data" / "feeds-state.json").is_file()


@pytest.fixture
def server() -> Iterator[tuple[Server, asyncio.AbstractEventLoop]]:
    """The local feed server (tests/feed_server.py)."""
    yield from serve()
