"""Local broker start-up: seconds to a broker that answers metadata and a produce, seconds
to stop, and resident memory, for each engine (and JVM option sets for Apache Kafka).

    python -m bench.broker_start --runs 3 --json bench/results/broker_start.json

Each run starts a broker on a fresh data directory ("first": for Kafka this includes
formatting the storage), stops it (SIGTERM), starts it again on the same directory
("restart") and stops it. RSS is read from /proc once the broker is ready, and again
after 1,000 records were produced and read back. The Kafka jars must be fetched already
(``make kafka-jars``): fetching is not timed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.broker import EmbeddedBroker, LocalBroker
from streams.consume import open_consumer, polls
from streams.kafka_engine import JVM_OPTIONS, KafkaBroker, fetch_jars

#: JVM option sets compared for the kafka engine (the first is the engine's default).
VARIANTS: dict[str, tuple[str, ...]] = {
    "kafka (default: C1 only, SerialGC, 512 MB)": JVM_OPTIONS,
    "kafka (full JIT, SerialGC, 512 MB)": tuple(
        o for o in JVM_OPTIONS if o != "-XX:TieredStopAtLevel=1"
    ),
    "kafka (JVM defaults: G1, default heap)": ("-XX:+ExitOnOutOfMemoryError",),
}


def rss_mb(pid: int | None) -> float:
    if pid is None:
        return 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def exercise(servers: str, records: int = 1000) -> float:
    """Create a topic, produce ``records`` and read them back; return the seconds."""
    started = time.monotonic()
    topic = f"bench.start.{time.time_ns()}"
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 4, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=servers, linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic, b"x" * 300) for _ in range(records)]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    seen = 0
    async with open_consumer(servers, [topic]) as consumer:
        async for batch in polls(consumer, poll_ms=500):
            seen += len(batch)
            if seen >= records:
                break
    return time.monotonic() - started


def one_run(make: Any) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="wirestream-start-") as tmp:
        broker: LocalBroker = make(Path(tmp))
        clock = time.monotonic()
        broker.start()
        first = time.monotonic() - clock
        ready_rss = rss_mb(broker.pid)
        asyncio.run(exercise(broker.bootstrap_servers))
        busy_rss = rss_mb(broker.pid)
        clock = time.monotonic()
        broker.stop()
        stop = time.monotonic() - clock
        clock = time.monotonic()
        broker.start()
        restart = time.monotonic() - clock
        broker.stop()
    return {
        "first_s": first,
        "restart_s": restart,
        "stop_s": stop,
        "rss_ready_mb": ready_rss,
        "rss_after_1000_mb": busy_rss,
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--runs", type=int, default=3, help="runs per engine (default 3)")
    p.add_argument("--json", type=Path, help="write the results to this file")
    p.add_argument("--kafka-only", action="store_true", help="skip the Tansu engine")
    args = p.parse_args(argv)
    fetch_jars()
    makers: dict[str, Any] = {}
    if not args.kafka_only:
        makers["tansu (memory)"] = lambda d: EmbeddedBroker(0)
    for label, options in VARIANTS.items():
        makers[label] = lambda d, o=options: KafkaBroker(0, data_dir=d / "kafka", jvm_options=o)
    results: dict[str, dict[str, float]] = {}
    header = (
        f"{'engine':44} {'first s':>8} {'restart s':>9} {'stop s':>7} {'RSS MB':>7} {'busy':>6}"
    )
    print(header)
    for label, make in makers.items():
        runs = [one_run(make) for _ in range(args.runs)]
        median = {k: round(statistics.median(r[k] for r in runs), 2) for k in runs[0]}
        results[label] = median
        print(
            f"{label:44} {median['first_s']:8.2f} {median['restart_s']:9.2f} "
            f"{median['stop_s']:7.2f} {median['rss_ready_mb']:7.0f} "
            f"{median['rss_after_1000_mb']:6.0f}",
            flush=True,
        )
    print(f"(medians of {args.runs} runs)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"runs": args.runs, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
