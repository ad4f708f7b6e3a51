"""``wirestream``: broker | worker | publish | subscribe | topics | run."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from aiokafka import AIOKafkaConsumer

from streams import codecs
from streams.settings import Settings, get_settings, kafka_options

ROUTED_PREFIXES = ("wirestream.topic.", "wirestream.lang.")
#: Local broker engines (streams/broker.py); not imported from there to keep startup light.
ENGINES = ("tansu", "kafka")


def _apply_overrides(args: argparse.Namespace) -> None:
    """Flags win over the environment: write them to WIRESTREAM_* before settings load."""
    for flag, env in (("routes", "ROUTES"), ("web_port", "WEB_PORT"), ("broker", "BROKER")):
        value = getattr(args, flag, None)
        if value is not None:
            os.environ[f"WIRESTREAM_{env}"] = str(value)
    get_settings.cache_clear()


# -- broker -------------------------------------------------------------------------------


def cmd_broker(args: argparse.Namespace) -> int:
    from streams.broker import serve

    settings = get_settings()
    return serve(
        args.port if args.port is not None else settings.broker_port,
        engine=args.engine or settings.broker_engine,
        data_dir=args.data_dir,
    )


# -- worker -------------------------------------------------------------------------------


def cmd_worker(args: argparse.Namespace) -> int:
    from streams.broker import broker_kind
    from streams.topics import ensure_topics

    settings = get_settings()
    asyncio.run(ensure_topics(settings))
    kind = asyncio.run(broker_kind(settings))
    import agents.enrich  # noqa: F401  (registers enrich_articles)
    from streams.app import app, configure_for_broker
    from streams.worker import Worker

    print(f"wirestream worker: {configure_for_broker(app, settings, kind)}", file=sys.stderr)

    worker = Worker(
        app, loglevel=settings.log_level, quiet=True, shutdown_timeout=settings.shutdown_timeout
    )
    worker.execute_from_commandline()
    return 0


# -- publish ------------------------------------------------------------------------------


def cmd_publish(args: argparse.Namespace) -> int:
    from streams.producer import publish, watch

    settings = get_settings()
    if args.watch:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(watch(Path(args.watch), settings))
        return 0
    if not args.paths:
        print("wirestream publish: give at least one PATH or --watch DIR", file=sys.stderr)
        return 2
    report = asyncio.run(publish([Path(p) for p in args.paths], settings, progress=not args.quiet))
    print(
        f"published {report.published} articles to wirestream.articles; "
        f"{len(report.failed_files)} file(s) failed",
        file=sys.stderr,
    )
    return 0 if report.ok else 1


# -- subscribe ----------------------------------------------------------------------------


def describe(topic: str, record: Any) -> str:
    """One readable line for an output record."""
    if not isinstance(record, dict):
        return f"[{topic}] {record!r}"[:300]
    if "reason" in record and "origin" in record:
        reason, origin = record["reason"], record["origin"]
        return (
            f"[{topic}] {reason.get('code')}: {reason.get('message')} "
            f"(from {origin.get('topic')}/{origin.get('partition')}@{origin.get('offset')})"
        )
    people = ", ".join(f"{e['canonical']} ({e['label']})" for e in record.get("entities", [])[:4])
    sentiment = record.get("sentiment", {})
    tags = ", ".join(record.get("tags", [])[:4]) or "-"
    return (
        f"[{topic}] {record.get('headline', '')[:80]} | {people or '-'} | "
        f"{sentiment.get('label', '?')} {sentiment.get('compound', 0):+.2f} | tags: {tags}"
    )


def _consumer(settings: Settings, topics: Sequence[str], from_beginning: bool) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics,
        **kafka_options(settings),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
        metadata_max_age_ms=5000,
    )


async def subscribe(
    settings: Settings,
    topics: Sequence[str],
    *,
    from_beginning: bool,
    limit: int | None,
    as_json: bool,
    timeout: float | None,
    out: TextIO,
) -> int:
    """Print records from ``topics`` until ``limit`` records or ``timeout`` idle seconds."""
    consumer = _consumer(settings, topics, from_beginning)
    await consumer.start()
    seen = 0
    last = time.monotonic()
    try:
        while limit is None or seen < limit:
            batch = await consumer.getmany(timeout_ms=500)
            if not batch:
                if timeout is not None and time.monotonic() - last > timeout:
                    break
                continue
            last = time.monotonic()
            for tp, messages in sorted(
                batch.items(), key=lambda kv: (kv[0].topic, kv[0].partition)
            ):
                for m in messages:
                    try:
                        record = codecs.loads(m.value or b"null")
                    except ValueError:
                        record = {"undecodable": len(m.value or b"")}
                    if as_json:
                        line = codecs.dumps(
                            {
                                "topic": tp.topic,
                                "partition": tp.partition,
                                "offset": m.offset,
                                "key": (m.key or b"").decode("utf-8", "replace"),
                                "value": record,
                            }
                        ).decode()
                    else:
                        line = describe(tp.topic, record)
                    print(line, file=out, flush=True)
                    seen += 1
                    if limit is not None and seen >= limit:
                        break
                if limit is not None and seen >= limit:
                    break
    finally:
        await consumer.stop()
    return seen


def cmd_subscribe(args: argparse.Namespace) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            subscribe(
                get_settings(),
                args.topics,
                from_beginning=args.from_beginning,
                limit=args.limit,
                as_json=args.json,
                timeout=args.timeout,
                out=sys.stdout,
            )
        )
    return 0


# -- reroute ------------------------------------------------------------------------------


def cmd_reroute(args: argparse.Namespace) -> int:
    from agents.route import reroute
    from agents.routing import load_routes
    from streams.topics import ensure_topics, registry

    settings = get_settings()
    routes = load_routes(settings.routes)
    asyncio.run(ensure_topics(settings, [t.name for t in registry(routes)]))
    sent = asyncio.run(reroute(settings, routes))
    for topic, count in sorted(sent.items()):
        print(f"{count:8d}  {topic}")
    print(f"re-routed {sum(sent.values())} record(s) from wirestream.enriched")
    return 0


# -- topics -------------------------------------------------------------------------------


def cmd_topics(args: argparse.Namespace) -> int:
    from agents.routing import load_routes
    from streams.topics import ensure_topics, registry

    settings = get_settings()
    info = registry(load_routes(settings.routes))
    if args.create:
        created = asyncio.run(ensure_topics(settings, [t.name for t in info]))
        print(f"created {len(created)} topic(s) with {settings.partitions} partitions")
    width = max(len(t.name) for t in info)
    print(f"{'TOPIC'.ljust(width)}  FED BY")
    for t in info:
        print(f"{t.name.ljust(width)}  {t.fed_by}")
    print(f"\nroutes file: {settings.routes}")
    return 0


# -- run ----------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(run(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        return 130


async def run(args: argparse.Namespace) -> int:
    """Broker (if local and not running) + worker + publish seeds + show routed articles."""
    from streams.broker import LocalBroker, broker_reachable, local_broker
    from streams.producer import publish
    from streams.topics import all_topics, ensure_topics

    # SIGTERM (a service manager, `timeout`) stops like Ctrl-C: the worker and the
    # embedded broker are stopped in the `finally` below, never left behind.
    main = asyncio.current_task()
    if main is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)
    started = time.monotonic()
    since_ms = int(time.time() * 1000) - 1000

    def say(text: str) -> None:
        print(f"{time.monotonic() - started:6.1f}s  {text}", flush=True)

    settings = get_settings()
    broker: LocalBroker | None = None
    worker: subprocess.Popen[bytes] | None = None
    log_path = Path(settings.data_dir) / "worker.log"
    try:
        if not broker_reachable(settings.bootstrap_servers):
            if not settings.is_local_broker:
                say(f"broker {settings.broker} is not reachable")
                return 1
            port = int(settings.bootstrap_servers[0].rsplit(":", 1)[1])
            broker = local_broker(args.engine or settings.broker_engine, port)
            broker.start()
            kept = f", data in {broker.data_dir}" if broker.data_dir is not None else ""
            say(broker.describe() + kept)
        else:
            say(f"using broker {settings.broker}")
        created = await ensure_topics(settings)
        say(f"{len(all_topics(settings))} topics ready ({len(created)} created)")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", "worker"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=os.environ.copy(),
            )
        say(f"worker started (pid {worker.pid}, log {log_path})")
        outputs = [t for t in all_topics(settings) if t.startswith(ROUTED_PREFIXES)]
        consumer = _consumer(settings, outputs, from_beginning=True)
        await consumer.start()
        try:
            report = await publish([Path(p) for p in args.paths], settings, progress=False)
            say(f"published {report.published} articles from {', '.join(args.paths)}")
            ids = set(report.ids)
            waiting = set(ids)
            deadline = time.monotonic() + args.timeout
            while waiting or not args.once:
                if worker.poll() is not None:
                    say(f"worker exited with {worker.returncode}; see {log_path}")
                    return 1
                if args.once and time.monotonic() > deadline:
                    say(f"timed out: {len(waiting)} article(s) not routed: {sorted(waiting)}")
                    return 1
                batch = await consumer.getmany(timeout_ms=500)
                for tp, messages in sorted(batch.items(), key=lambda kv: kv[0].topic):
                    for m in messages:
                        key = (m.key or b"").decode("utf-8", "replace")
                        if key not in ids and m.timestamp < since_ms:
                            continue  # an older record already on the broker
                        say(describe(tp.topic, codecs.loads(m.value or b"null")))
                        if key in waiting:
                            waiting.discard(key)
                            if not waiting:
                                say(f"all {len(ids)} articles routed")
                                if not args.once:
                                    say("watching for more (wirestream publish FILE); Ctrl-C stops")
            return 0 if report.ok else 1
        finally:
            await consumer.stop()
    finally:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        if broker is not None:
            broker.stop()


# -- entry point --------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wirestream", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser(
        "broker", help="run a local broker: Tansu (embedded, in memory) or Apache Kafka (on disk)"
    )
    b.add_argument("--port", type=int, default=None, help="port (default WIRESTREAM_BROKER_PORT)")
    b.add_argument(
        "--engine",
        choices=ENGINES,
        default=None,
        help="tansu or kafka (default WIRESTREAM_BROKER_ENGINE, tansu)",
    )
    b.add_argument(
        "--data-dir",
        default=None,
        help="kafka engine: where its data lives (default WIRESTREAM_DATA_DIR/kafka)",
    )
    b.set_defaults(func=cmd_broker)

    w = sub.add_parser("worker", help="run a Faust worker (enrich_articles: enrich and route)")
    w.add_argument("--routes", help="routes file (default WIRESTREAM_ROUTES)")
    w.add_argument("--web-port", type=int, help="web server port (default WIRESTREAM_WEB_PORT)")
    w.set_defaults(func=cmd_worker)

    pub = sub.add_parser("publish", help="publish .txt/.json/.jsonl files or directories")
    pub.add_argument("paths", nargs="*", help="files or directories")
    pub.add_argument("--watch", metavar="DIR", help="keep publishing files dropped into DIR")
    pub.add_argument("--quiet", action="store_true", help="no progress bar")
    pub.set_defaults(func=cmd_publish)

    s = sub.add_parser("subscribe", help="print records from output topics")
    s.add_argument("topics", nargs="+")
    s.add_argument("--from-beginning", action="store_true")
    s.add_argument("--limit", type=int, default=None, help="stop after N records")
    s.add_argument("--json", action="store_true", help="JSON lines instead of readable lines")
    s.add_argument("--timeout", type=float, default=None, help="stop after S idle seconds")
    s.set_defaults(func=cmd_subscribe)

    rr = sub.add_parser(
        "reroute", help="send what wirestream.enriched holds to the topics the routes now name"
    )
    rr.add_argument("--routes", help="routes file (default WIRESTREAM_ROUTES)")
    rr.set_defaults(func=cmd_reroute)

    t = sub.add_parser("topics", help="list output topics and the routes that feed them")
    t.add_argument("--routes", help="routes file (default WIRESTREAM_ROUTES)")
    t.add_argument("--create", action="store_true", help="create missing topics on the broker")
    t.set_defaults(func=cmd_topics)

    r = sub.add_parser("run", help="broker + worker + publish seeds/ + show routed articles")
    r.add_argument("paths", nargs="*", default=["seeds"], help="what to publish (default seeds/)")
    r.add_argument("--once", action="store_true", help="exit when every article is routed")
    r.add_argument("--timeout", type=float, default=120.0, help="with --once: give up after S s")
    r.add_argument("--routes", help="routes file (default WIRESTREAM_ROUTES)")
    r.add_argument(
        "--engine",
        choices=ENGINES,
        default=None,
        help="engine of the broker it starts when none runs (default WIRESTREAM_BROKER_ENGINE)",
    )
    r.set_defaults(func=cmd_run)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    _apply_overrides(args)
    if args.command == "worker":
        # Faust reads sys.argv; give it only the program name.
        sys.argv = [sys.argv[0]]
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
