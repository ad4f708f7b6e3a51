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
import subprocess
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

from agents.routing import ENRICHED, pipeline_topics  # noqa: E402
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
        flow.wait_flowing(time.monotonic(), timeout=240)  # every partition assigned
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


def print_protocol_table(runs: Sequence[dict[str, Any]]) -> None:
    print(
        f"{'mode':8} {'scenario':9} {'run':>3} {'assigned s':>11} {'survivor rebalances':>20} "
        f"{'load1':>6}"
    )
    for r in runs:
        print(
            f"{r['mode']:8} {r['scenario']:9} {r['run']:>3} {r['assigned_s']:>11} "
            f"{r['survivor_rebalances']:>20} {r['load']:>6.2f}"
        )


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


#: A bare group member (``--protocol``): the worker's group settings (6 s session, 1 s
#: heartbeats, Faust's 60 s rebalance timeout), printing "assigned T N" at each assignment
#: (T: wall clock, N: partitions).
MEMBER = """
import asyncio, sys, time
from aiokafka import AIOKafkaConsumer
from aiokafka.abc import ConsumerRebalanceListener

class Say(ConsumerRebalanceListener):
    def on_partitions_revoked(self, revoked):
        pass
    def on_partitions_assigned(self, assigned):
        print("assigned", time.time(), len(assigned), flush=True)

async def main(servers, group, instance):
    consumer = AIOKafkaConsumer(
        bootstrap_servers=servers, group_id=group, group_instance_id=instance or None,
        session_timeout_ms=6000, heartbeat_interval_ms=1000, rebalance_timeout_ms=60000,
        enable_auto_commit=False,
    )
    consumer.subscribe([sys.argv[4]], listener=Say())
    await consumer.start()
    while True:
        await consumer.getmany(timeout_ms=500)

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
"""


class Member:
    """A bare group member in its own process (so that SIGKILL is a real crash)."""

    def __init__(self, servers: list[str], group: str, instance: str, topic: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", MEMBER, ",".join(servers), group, instance, topic],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.assignments: list[tuple[float, int]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            _, at, count = line.split()
            self.assignments.append((float(at), int(count)))

    def wait_assigned(self, after: int, timeout: float = 90) -> tuple[float, int]:
        deadline = time.monotonic() + timeout
        while len(self.assignments) <= after:
            if time.monotonic() > deadline:
                raise TimeoutError("no assignment")
            time.sleep(0.02)
        return self.assignments[after]

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


def protocol_run(
    servers: list[str], mode: str, scenario: str, n: int, partitions: int
) -> dict[str, Any]:
    """Two bare members of one group; one is SIGKILLed and (``restart``) started again at
    once with the same instance id, or (``takeover``) left dead."""
    run = f"proto-{mode}-{scenario}-{n}"
    ids = ("member-a", "member-b") if mode == "static" else ("", "")
    a = Member(servers, run, ids[0], ARTICLES)
    a.wait_assigned(0)
    b = Member(servers, run, ids[1], ARTICLES)
    b.wait_assigned(0)
    time.sleep(3)  # settled: both members assigned
    a_before = len(a.assignments)
    result: dict[str, Any] = {"mode": mode, "scenario": scenario, "run": n}
    try:
        b.kill()
        killed = time.time()
        if scenario == "restart":
            b = Member(servers, run, ids[1], ARTICLES)
            at, count = b.wait_assigned(0)
            result["assigned_s"] = round(at - killed, 2)
            time.sleep(8)  # past the old session: would the survivor rebalance?
        else:
            deadline = time.monotonic() + 90
            while not any(c == partitions for _, c in a.assignments[a_before:]):
                if time.monotonic() > deadline:
                    raise TimeoutError("the survivor did not take every partition")
                time.sleep(0.02)
            at = next(t for t, c in a.assignments[a_before:] if c == partitions)
            result["assigned_s"] = round(at - killed, 2)
        result["survivor_rebalances"] = len(a.assignments) - a_before
    finally:
        a.kill()
        b.kill()
    result["load"] = os.getloadavg()[0]
    return result


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
    parser.add_argument(
        "--protocol",
        action="store_true",
        help="bare aiokafka members instead of workers: the group protocol's share alone",
    )
    parser.add_argument("--keep", type=Path, help="keep the broker and worker logs here")
    args = parser.parse_args(argv)

    os.environ["WIRESTREAM_PARTITIONS"] = str(args.partitions)
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="takeover-") as tmp:
        workdir = args.keep or Path(tmp)
        broker = local_broker("kafka", free_port(), data_dir=workdir / "kafka").start()
        try:
            servers = [f"127.0.0.1:{broker.port}"]
            settings = Settings(broker=broker.url, partitions=args.partitions)
            asyncio.run(ensure_topics(settings, pipeline_topics(settings)))
            for n in range(1, args.repeat + 1):
                for scenario in args.scenarios:
                    for mode in args.modes:
                        if args.protocol:
                            runs.append(protocol_run(servers, mode, scenario, n, args.partitions))
                            print(json.dumps(runs[-1]), flush=True)
                            continue
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
    (print_protocol_table if args.protocol else print_table)(runs)
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {platform.node()}")
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "loadavg": load}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
