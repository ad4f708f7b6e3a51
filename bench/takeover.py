"""Takeover benchmark: how long a partition stands still when a worker dies, on Apache
Kafka, with dynamic and with static group membership (``WIRESTREAM_INSTANCE_ID``).

For each membership mode and each scenario, on one Apache Kafka broker (the ``kafka``
engine, a temporary data directory): articles are published at a steady rate to every
partition of ``wirestream.articles`` (ids name their partition), then a worker is killed
with SIGKILL and

* ``restart``: one worker, restarted at once with the same settings (same instance id);
* ``takeover``: two workers, the killed one is not restarted; the other one takes over.

"stalled" is the time from the kill until every partition of the input has an article
published after the kill come out enriched (the worst partition); "after ready" is the
same measured from the restarted worker's "Ready" line (restart only: the rejoin without
the worker's own start-up, mostly its NLP process loading the models); "assigned" is the
time from the kill until the worker that takes the partitions logs its new assignment
(the group protocol's share). Each run uses its own consumer group.

    python bench/takeover.py --json /tmp/takeover.json
    python bench/takeover.py --modes static --scenarios restart --repeat 2

Prints a table and the load average; ``--json`` writes every run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agents.routing import ENRICHED  # noqa: E402
from streams.broker import free_port, local_broker  # noqa: E402
from streams.settings import Settings  # noqa: E402
from streams.topics import ARTICLES, ensure_topics  # noqa: E402
from tests.helpers import WorkerProcess, start_worker, worker_env  # noqa: E402

#: Seconds a run may wait for every partition to flow again after the kill.
STALL_LIMIT = 90.0


def article(run: str, partition: int, seq: int) -> bytes:
    return orjson.dumps(
        {
            "id": f"{run}-{partition}-{seq}",
            "headline": f"Takeover probe {seq} on partition {partition}",
            "body": "Officials in Lisbon said on Monday that talks on the ceasefire resumed.",
            "language": "en",
        }
    )


class Flow:
    """Publishes ``rate`` articles/s round-robin over the partitions and records when each
    comes out enriched (a consumer without a group, from the end of the topic)."""

    def __init__(self, servers: list[str], run: str, partitions: int, rate: float) -> None:
        self.servers, self.run, self.partitions, self.rate = servers, run, partitions, rate
        self.sent_at: dict[str, float] = {}
        self.seen_at: dict[str, float] = {}
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._threads = [
            threading.Thread(target=lambda: asyncio.run(self._consume()), daemon=True),
            threading.Thread(target=lambda: asyncio.run(self._publish()), daemon=True),
        ]
        self._threads[0].start()
        self._ready.wait(60)
        self._threads[1].start()

    async def _consume(self) -> None:
        consumer = AIOKafkaConsumer(
            ENRICHED, bootstrap_servers=self.servers, group_id=None, auto_offset_reset="latest"
        )
        await consumer.start()
        await consumer.seek_to_end()
        self._ready.set()
        try:
            while not self._stop.is_set():
                for records in (await consumer.getmany(timeout_ms=100)).values():
                    now = time.monotonic()
                    for r in records:
                        self.seen_at.setdefault((r.key or b"").decode(), now)
        finally:
            await consumer.stop()

    async def _publish(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.servers, acks="all", linger_ms=0)
        await producer.start()
        try:
            seq = 0
            while not self._stop.is_set():
                partition = seq % self.partitions
                key = f"{self.run}-{partition}-{seq}"
                await producer.send_and_wait(
                    ARTICLES,
                    article(self.run, partition, seq),
                    key=key.encode(),
                    partition=partition,
                )
                self.sent_at[key] = time.monotonic()
                seq += 1
                await asyncio.sleep(1 / self.rate)
        finally:
            await producer.stop()

    def flowing_since(self, moment: float) -> float | None:
        """Seconds from ``moment`` until every partition had an article published after
        it enriched (None while one has not)."""
        first: dict[int, float] = {}
        for key, seen in list(self.seen_at.items()):
            sent = self.sent_at.get(key)
            if sent is None or sent <= moment:
                continue
            partition = int(key.rsplit("-", 2)[1])
            first[partition] = min(first.get(partition, seen), seen)
        if len(first) < self.partitions:
            return None
        return max(first.values()) - moment

    def wait_flowing(self, moment: float, timeout: float = STALL_LIMIT) -> float:
        deadline = time.monotonic() + timeout
        while (took := self.flowing_since(moment)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"not every partition flowed within {timeout:.0f} s")
            time.sleep(0.05)
        return took

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)


#: What Faust logs once a generation's assignment is in place.
ASSIGNED = "Executing _on_partitions_assigned"


def wait_assigned(worker: WorkerProcess, before: int, killed: float, timeout: float = 120) -> float:
    """Seconds from ``killed`` until ``worker`` logs a new assignment (after ``before`` of
    them), timed by the log line's own timestamp."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [line for line in worker.log_text().splitlines() if ASSIGNED in line]
        if len(lines) > before:
            stamp = lines[before][1:24]  # [2026-12-03 13:56:17,696]
            at = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
            return at - (time.time() - (time.monotonic() - killed))
        if time.monotonic() > deadline:
            raise TimeoutError(f"no new assignment within {timeout:.0f} s")
        time.sleep(0.1)


def one_run(
    broker_url: str,
    servers: list[str],
    workdir: Path,
    mode: str,
    scenario: str,
    n: int,
    partitions: int,
    rate: float,
) -> dict[str, Any]:
    run = f"{mode}-{scenario}-{n}"
    env = worker_env(
        broker_url,
        workdir / run,
        WIRESTREAM_APP_ID=f"takeover-{run}",
        WIRESTREAM_INSTANCE_ID="" if mode == "static" else "off",
    )
    if mode == "static":
        env.pop("WIRESTREAM_INSTANCE_ID")  # the default: HOSTNAME-WEBPORT
    logs = workdir / run
    logs.mkdir(parents=True, exist_ok=True)
    workers = [start_worker(env, logs / "a.log")]
    if scenario == "takeover":
        other = {**env, "WIRESTREAM_WEB_PORT": str(free_port())}
        workers.append(start_worker(other, logs / "b.log"))
    flow = Flow(servers, run, partitions, rate)
    result: dict[str, Any] = {"mode": mode, "scenario": scenario, "run": n}
    try:
        flow.wait_flowing(time.monotonic(), timeout=120)  # every partition assigned
        time.sleep(3)
        victim = workers[-1]
        # the worker that will own the victim's partitions: the restarted one (a new log
        # portion of the same file) or the survivor
        assigned_before = workers[0].log_text().count(ASSIGNED)
        victim.kill()
        killed = time.monotonic()
        if scenario == "restart":
            before = victim.log_text().count("[^Worker]: Ready")
            workers[-1] = start_worker(env, victim.log, ready=False)
            workers[-1].wait_ready(after=before, timeout=120)
            result["ready_s"] = round(time.monotonic() - killed, 2)
        else:
            workers.pop()
        result["assigned_s"] = round(wait_assigned(workers[0], assigned_before, killed), 2)
        result["stalled_s"] = round(flow.wait_flowing(killed), 2)
        if "ready_s" in result:
            result["after_ready_s"] = round(result["stalled_s"] - result["ready_s"], 2)
    finally:
        flow.close()
        for worker in workers:
            worker.stop()
    result["load"] = os.getloadavg()[0]
    return result


def print_table(runs: Sequence[dict[str, Any]]) -> None:
    print(
        f"{'mode':8} {'scenario':9} {'run':>3} {'ready s':>8} {'stalled s':>10} "
        f"{'after ready s':>14} {'load1':>6}"
    )
    for r in runs:
        print(
            f"{r['mode']:8} {r['scenario']:9} {r['run']:>3} {r.get('ready_s', '-')!s:>8} "
            f"{r['stalled_s']:>10} {r.get('after_ready_s', '-')!s:>14} {r['assigned_s']:>11} "
            f"{r['load']:>6.2f}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--modes", nargs="+", default=["dynamic", "static"], choices=["dynamic", "static"]
    )
    parser.add_argument(
        "--scenarios", nargs="+", default=["restart", "takeover"], choices=["restart", "takeover"]
    )
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--rate", type=float, default=8.0, help="articles/s published")
    parser.add_argument("--partitions", type=int, default=4, help="WIRESTREAM_PARTITIONS")
    parser.add_argument("--json", type=Path, help="write the runs here")
    args = parser.parse_args(argv)

    os.environ["WIRESTREAM_PARTITIONS"] = str(args.partitions)
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="takeover-") as tmp:
        workdir = Path(tmp)
        broker = local_broker("kafka", free_port(), data_dir=workdir / "kafka").start()
        try:
            servers = [f"127.0.0.1:{broker.port}"]
            asyncio.run(ensure_topics(Settings(broker=broker.url, partitions=args.partitions)))
            for n in range(1, args.repeat + 1):
                for scenario in args.scenarios:
                    for mode in args.modes:
                        runs.append(
                            one_run(
                                broker.url,
                                servers,
                                workdir,
                                mode,
                                scenario,
                                n,
                                args.partitions,
                                args.rate,
                            )
                        )
                        print(json.dumps(runs[-1]), flush=True)
        finally:
            broker.stop()
    print_table(runs)
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {platform.node()}")
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "loadavg": load}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
