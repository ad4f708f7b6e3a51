"""The slow lane (``agents.lanes``) in a real worker on the embedded broker: an article
over ``WIRESTREAM_NLP_SLOW_TOKENS`` runs in an NLP process of its own, so the normal
articles published after it are enriched while it is still in the NLP; a later article
with its key waits for it (the key's order is kept); and once the lane is done the
worker commits every offset (the lane acknowledges what it sent).

The lane article is held in the NLP by ``FAULT:wait`` (``tests/faults/nlp/sitecustomize.py``)
until the normal articles are out, so the test does not depend on the machine's load.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from agents.routing import ENRICHED
from streams.broker import EmbeddedBroker
from streams.settings import Settings
from tests.helpers import ROOT, create_topics, read, start_worker, worker_env
from tests.integration.test_guard import publish, value
from tests.integration.test_outputs import committed_offsets

pytestmark = pytest.mark.integration

FAULTS = ROOT / "tests" / "faults" / "nlp"
#: Normal test articles are about 40 estimated tokens; the lane article about 600.
THRESHOLD = 200
LONG = " ".join(["Officials met in Geneva on Monday to discuss the ceasefire."] * 50)


def test_a_slow_article_runs_beside_the_batches_and_its_key_keeps_its_order(
    tmp_path: Path,
) -> None:
    broker = EmbeddedBroker(port=0).start()
    try:
        servers = [f"127.0.0.1:{broker.port}"]
        create_topics(Settings(broker=broker.url))
        group = "wirestream-lane-test"
        faults = tmp_path / "faults"
        faults.mkdir()
        env = worker_env(
            broker.url,
            tmp_path / "data",
            WIRESTREAM_APP_ID=group,
            WIRESTREAM_NLP_DEADLINE="300",
            WIRESTREAM_TEST_FAULTS_DIR=str(faults),
            WIRESTREAM_NLP_SLOW_TOKENS=str(THRESHOLD),
            PYTHONPATH=os.pathsep.join([str(FAULTS), str(ROOT)]),
        )
        worker = start_worker(env, tmp_path / "worker.log")
        try:
            warm = asyncio.run(publish(servers, [("warm", value("warm"))]))
            read(servers, [ENRICHED], until=lambda rs: any(r.key == "warm" for r in rs))

            normal = [f"n{i}" for i in range(6)]
            items = [("big", value("big", f"{LONG} FAULT:wait:release"))]
            items += [(k, value(k)) for k in normal[:3]]
            items.append(("big", value("big", "The talks ended without a deal.")))
            items += [(k, value(k)) for k in normal[3:]]
            began = time.monotonic()
            origin = asyncio.run(publish(servers, items))

            def normals_in(records: list) -> bool:
                return set(normal) <= {r.key for r in records if r.topic == ENRICHED}

            # Enriched while the lane article is still held in its own process.
            first = read(servers, [ENRICHED], until=normals_in, timeout=240)
            print(f"normal articles out in {time.monotonic() - began:.1f} s")
            assert normals_in(first), sorted({r.key for r in first})
            assert "big" not in {r.key for r in first}
            (faults / "release").touch()

            def bigs_in(records: list) -> bool:
                return sum(r.key == "big" for r in records if r.topic == ENRICHED) == 2

            records = read(servers, [ENRICHED], until=bigs_in, timeout=120)
            assert bigs_in(records)
            bigs = sorted((r for r in records if r.key == "big"), key=lambda r: r.offset)
            assert [b.value["body"].endswith("FAULT:wait:release") for b in bigs] == [
                True,
                False,
            ]
            assert len({b.partition for b in bigs}) == 1

            # Every offset committed: the lane's article was acknowledged once it was sent.
            # (publish() keeps the last offset per key: the second "big", after the first.)
            ends: dict[int, int] = {}
            for partition, offset, _ in [*warm.values(), *origin.values()]:
                ends[partition] = max(ends.get(partition, 0), offset + 1)
            committed: dict[int, int | None] = {}
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                committed = asyncio.run(committed_offsets(servers, group))
                if all((committed.get(p) or 0) >= end for p, end in ends.items()):
                    break
                time.sleep(1.0)
            assert all((committed.get(p) or 0) >= end for p, end in ends.items()), (
                committed,
                ends,
            )
            assert worker.alive() and worker.log_text().count("[^Worker]: Ready") == 1
        finally:
            worker.stop()
    finally:
        broker.stop()
