"""The ``wirestream`` command line: one subcommand per job, errors as one line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import difflib
import errno
import logging
import os
import select
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from aiokafka.errors import KafkaError
from pydantic import ValidationError

from streams import codecs
from streams.settings import ENV_PREFIX, Settings, explain_error, get_settings, kafka_options

if TYPE_CHECKING:
    from agents.routing import Routes
    from streams.consume import Isolation

ROUTED_PREFIXES = ("wirestream.topic.", "wirestream.lang.")
#: Local broker engines (streams/broker.py); not imported from there to keep startup light.
ENGINES = ("tansu", "kafka")

DESCRIPTION = """\
wirestream: a news pipeline on Kafka. Publish articles, enrich them (entities, sentiment,
events, IPTC topics) and route them to topics; read the routed topics.

Every setting is also an environment variable WIRESTREAM_<NAME> (see docs/settings.md).
Exit status: 0 done, 1 bad input (a setting, a file, a routes file, a topic, a port),
2 wrong usage, 3 broker unreachable or failing, 130 interrupted (Ctrl-C) before the
job was done. Services (broker, worker, publish --watch, run without --once) exit 0
when stopped with Ctrl-C or SIGTERM after a clean stop. --debug shows tracebacks.
"""

EXIT_OK = 0
EXIT_INPUT = 1
EXIT_USAGE = 2
EXIT_BROKER = 3
EXIT_INTERRUPTED = 130

#: Flags that set a setting: flag dest -> (settings field, the flag as typed).
FLAG_SETTINGS = {
    "broker": ("broker", "--broker"),
    "routes": ("routes", "--routes"),
    "web_port": ("web_port", "--web-port"),
    "instance": ("instance_id", "--instance"),
}


class CliError(Exception):
    """An error the user can fix: one line, and the exit status."""

    def __init__(self, message: str, status: int = EXIT_INPUT) -> None:
        super().__init__(message)
        self.status = status


class Interrupted(Exception):
    """A service was stopped by a signal: ``status`` says how the command ends."""

    def __init__(self, status: int) -> None:
        super().__init__("interrupted")
        self.status = status


def _apply_overrides(args: argparse.Namespace) -> dict[str, str]:
    """Flags win over the environment: write them to WIRESTREAM_* before settings load.
    Returns settings field -> flag for the flags given (to name them in errors)."""
    given: dict[str, str] = {}
    for dest, (field, flag) in FLAG_SETTINGS.items():
        value = getattr(args, dest, None)
        if value is not None:
            os.environ[f"{ENV_PREFIX}{field.upper()}"] = str(value)
            given[field] = flag
    get_settings.cache_clear()
    return given


def unreachable(settings: Settings) -> str:
    return (
        f"cannot reach a Kafka broker at {settings.broker}; start one (wirestream broker) "
        "or point --broker / WIRESTREAM_BROKER at yours"
    )


def require_broker(settings: Settings, timeout: float = 3.0) -> None:
    """Stop with status 3 unless a bootstrap server accepts a TCP connection."""
    from streams.broker import broker_reachable

    if not broker_reachable(settings, timeout=timeout):
        raise CliError(unreachable(settings), EXIT_BROKER)


def _routes_or_exit(command: str, settings: Settings) -> Routes:
    """The routes file, or exit 1 with one line naming the file, the route and the reason."""
    from agents.routing import RoutesError, load_routes

    try:
        return load_routes(settings.routes, app_id=settings.app_id)
    except RoutesError as exc:
        raise CliError(f"bad routes file: {' '.join(str(exc).split())}") from None


# -- broker -------------------------------------------------------------------------------


def cmd_broker(args: argparse.Namespace) -> int:
    from streams.broker import port_in_use, serve

    settings = get_settings()
    port = args.port if args.port is not None else settings.broker_port
    if port and port_in_use(port):
        flag = "--port" if args.port is not None else "WIRESTREAM_BROKER_PORT"
        raise CliError(
            f"port 127.0.0.1:{port} is already in use (a broker already running?); "
            f"choose another with --port or WIRESTREAM_BROKER_PORT (given by {flag})"
        )
    return serve(port, engine=args.engine or settings.broker_engine, data_dir=args.data_dir)


# -- worker -------------------------------------------------------------------------------


def choose_web_port(settings: Settings, out: TextIO | None = None) -> Settings:
    """The settings with a web port that is free: an explicit port (--web-port or
    WIRESTREAM_WEB_PORT) that is taken is an error; the default one, when taken, is
    replaced by a free port, said on ``out``."""
    from streams.broker import free_port, port_in_use

    port, host = settings.web_port, settings.web_host
    if not port_in_use(port, host):
        return settings
    if "web_port" in settings.model_fields_set:
        raise CliError(
            f"web port {host}:{port} is already in use (another worker on this host?); "
            "choose another with --web-port or WIRESTREAM_WEB_PORT"
        )
    chosen = free_port(host)
    print(
        f"web port {port} is in use (another worker on this host?); using {chosen} "
        "(set --web-port or WIRESTREAM_WEB_PORT to choose)",
        file=out or sys.stderr,
        flush=True,
    )
    os.environ[f"{ENV_PREFIX}WEB_PORT"] = str(chosen)
    get_settings.cache_clear()
    return get_settings()


def cmd_worker(args: argparse.Namespace) -> int:
    from streams.broker import broker_kind
    from streams.patches import PatchError, apply_patches
    from streams.topics import all_topics, ensure_topics

    try:  # once, before anything else: a library at another version stops it here
        apply_patches(get_settings())
    except PatchError as exc:
        raise CliError(str(exc)) from None
    settings = choose_web_port(get_settings())
    routes = _routes_or_exit("worker", settings)  # before it touches the broker
    require_broker(settings)
    asyncio.run(ensure_topics(settings, all_topics(routes, settings.app_id)))
    kind = asyncio.run(broker_kind(settings))
    if settings.guarantee == "exactly_once":
        from streams.transactions import TANSU_REFUSAL, fence_predecessor

        if kind == "tansu":
            raise CliError(TANSU_REFUSAL)
        asyncio.run(fence_predecessor(settings))
    from streams.sinks import SinkError

    try:
        import agents.enrich  # noqa: F401  (registers enrich_articles)
    except SinkError as exc:
        raise CliError(str(exc)) from None
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
    from streams.sources import WatchError, publish, watch

    settings = get_settings()
    if args.watch and args.format is not None:
        raise CliError("--format applies to PATHs, not to --watch", EXIT_USAGE)
    if args.watch:
        try:  # SIGINT / SIGTERM stop the watcher after the file in hand
            report = asyncio.run(watch(Path(args.watch), settings, signals=True))
        except WatchError as exc:
            raise CliError(str(exc)) from None
        except KeyboardInterrupt:  # a second Ctrl-C
            return EXIT_INTERRUPTED
        print(f"stopped: {report.summary()}", file=sys.stderr)
        return 0
    if not args.paths:
        raise CliError("give at least one PATH or --watch DIR", EXIT_USAGE)
    if args.format is not None:
        from streams.sources import READERS

        if args.format not in READERS:
            raise CliError(f"unknown format {args.format!r} (use {', '.join(READERS)})", EXIT_USAGE)
    report = asyncio.run(
        publish([Path(p) for p in args.paths], settings, progress=not args.quiet, fmt=args.format)
    )
    skipped = f"; {len(report.skipped)} non-text item(s) skipped" if report.skipped else ""
    print(
        f"published {report.published} articles to wirestream.articles; "
        f"{len(report.failed_files)} file(s) failed{skipped}",
        file=sys.stderr,
    )
    return 0 if report.ok else 1


# -- feed ---------------------------------------------------------------------------------


def cmd_feed(args: argparse.Namespace) -> int:
    from streams.sources import feeds

    settings = get_settings()
    for url in args.urls:
        try:
            feeds.check_url(url)
        except feeds.FeedUrlError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
    if args.every <= 0:
        raise CliError(f"--every must be above 0 seconds, got {args.every:g}", EXIT_USAGE)

    async def main() -> list[feeds.PollResult]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await feeds.run(args.urls, settings, every=args.every, once=args.once, stop=stop)

    try:
        results = asyncio.run(main())
    except feeds.StateError as exc:
        raise CliError(str(exc)) from None
    return 1 if args.once and any(r.errors for r in results) else 0


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


def withdrawal(topic: str, key: bytes | None, as_json: bool) -> str:
    """The line for a tombstone (key = article id, value null): the story was withdrawn
    from ``topic`` (a kill, or routes that no longer name it)."""
    ident = (key or b"").decode("utf-8", "replace")
    if as_json:
        return codecs.dumps({"id": ident, "withdrawn": True}).decode()
    return f"[{topic}] withdrawn: {ident}"


def _retraction(value: bytes) -> str:
    """A retraction record (docs/versions.md) as a few words."""
    try:
        record = codecs.loads(value)
        return f"{record['status']} (version {record['version']}): {len(record['topics'])} topics"
    except (ValueError, KeyError, TypeError):
        return "withdrawn"


def output_closed(out: TextIO) -> bool:
    """True when ``out`` is a pipe whose reader has gone (``| head -1`` has exited)."""
    try:
        poller = select.poll()
        poller.register(out.fileno(), 0)
        return any(ev & (select.POLLERR | select.POLLHUP) for _, ev in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


async def check_topics(settings: Settings, topics: Sequence[str]) -> None:
    """Stop with one line when a topic does not exist, naming the close ones. Asks for the
    list of every topic, so nothing is created by asking."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**kafka_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
    finally:
        await admin.close()
    for topic in topics:
        if topic not in existing:
            raise CliError(
                f"no topic {topic!r} on {settings.broker}; {_close_names(topic, existing)} "
                "(wirestream topics lists the pipeline's topics)"
            )


def _close_names(name: str, names: set[str]) -> str:
    """ "did you mean X?" with the closest names (difflib), or a note that none is close."""
    scored = sorted(
        ((difflib.SequenceMatcher(None, name, other).ratio(), other) for other in names),
        reverse=True,
    )
    best = scored[0][0] if scored else 0.0
    close = [other for ratio, other in scored[:3] if ratio >= max(0.6, best - 0.05)]
    return f"did you mean {' or '.join(close)}?" if close else "no topic has a close name"


def _reader(
    settings: Settings,
    topics: Sequence[str],
    from_beginning: bool,
    isolation_level: Isolation = "read_committed",
) -> Any:
    """A started consumer (no group) of ``topics`` for ``subscribe`` and ``run``. It reads
    records of a transaction only once it commits, none of an aborted one (what an
    exactly_once worker killed mid-batch had sent); the same as read_uncommitted for
    records written without a transaction."""
    from streams.consume import open_consumer

    return open_consumer(
        settings,
        topics,
        start="beginning" if from_beginning else "end",
        isolation_level=isolation_level,
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
    isolation_level: Isolation = "read_committed",
    where: Any = None,
) -> int:
    """Print records from ``topics`` until ``limit`` records or ``timeout`` idle seconds
    (by default only records of committed transactions: see :func:`_reader`). With
    ``where`` (a route condition, :func:`filter_condition`), only records it holds for are
    printed and counted."""
    from streams.consume import polls

    await check_topics(settings, topics)
    seen = 0
    if limit is not None and limit <= 0:
        return seen
    async with _reader(settings, topics, from_beginning, isolation_level) as consumer:
        async for records in polls(consumer, poll_ms=500, idle=timeout):
            if not records and output_closed(out):
                raise BrokenPipeError(errno.EPIPE, "output closed")
            for m in records:
                if m.value is None:  # a tombstone: the story was withdrawn (docs/versions.md)
                    print(withdrawal(m.topic, m.key, as_json), file=out, flush=True)
                    seen += 1
                    if limit is not None and seen >= limit:
                        return seen
                    continue
                try:
                    record = codecs.loads(m.value or b"null")
                except ValueError:
                    record = {"undecodable": len(m.value or b"")}
                if where is not None and not (isinstance(record, dict) and where.holds(record)):
                    continue
                if as_json:
                    line = codecs.dumps(
                        {
                            "topic": m.topic,
                            "partition": m.partition,
                            "offset": m.offset,
                            "key": (m.key or b"").decode("utf-8", "replace"),
                            "value": record,
                        }
                    ).decode()
                else:
                    line = describe(m.topic, record)
                print(line, file=out, flush=True)
                seen += 1
                if limit is not None and seen >= limit:
                    return seen
    return seen


def filter_condition(lines: Sequence[str] | None) -> Any:
    """``--when`` lines (TOML, as under a route's ``when``: ``countries = ["TR"]``,
    ``near = {lat = 41, lon = 29, km = 50}``) as one route condition, or None."""
    if not lines:
        return None
    import tomllib

    from agents.routing import RoutesError, parse_condition

    try:
        raw = tomllib.loads("\n".join(lines))
    except tomllib.TOMLDecodeError as exc:
        raise CliError(f"--when: not TOML like a route's when (key = value): {exc}") from None
    try:
        return parse_condition(raw, "--when")
    except RoutesError as exc:
        raise CliError(" ".join(str(exc).split())) from None


def cmd_subscribe(args: argparse.Namespace) -> int:
    settings = get_settings()
    where = filter_condition(args.when)
    require_broker(settings)
    asyncio.run(
        subscribe(
            settings,
            args.topics,
            from_beginning=args.from_beginning,
            limit=args.limit,
            as_json=args.json,
            timeout=args.timeout,
            out=sys.stdout,
            where=where,
        )
    )
    return 0


# -- reroute ------------------------------------------------------------------------------


def cmd_reroute(args: argparse.Namespace) -> int:
    from agents.reroute import reroute
    from streams.topics import ensure_topics, registry

    settings = get_settings()
    routes = _routes_or_exit("reroute", settings)
    require_broker(settings)
    asyncio.run(ensure_topics(settings, [t.name for t in registry(routes)]))
    report = asyncio.run(reroute(settings, routes))
    for topic in sorted({*report.sent, *report.tombstones}):
        print(f"{report.sent[topic]:8d} sent  {report.tombstones[topic]:8d} tombstones  {topic}")
    print(
        f"re-routed wirestream.enriched ({report.read} record(s) read): "
        f"{sum(report.sent.values())} sent to topics the routes add, "
        f"{sum(report.tombstones.values())} tombstone(s) to topics they drop, "
        f"{report.unchanged} unchanged, {report.deadlettered} dead-lettered"
    )
    return 0


# -- topics -------------------------------------------------------------------------------


def cmd_topics(args: argparse.Namespace) -> int:
    from streams.topics import ensure_topics, registry

    settings = get_settings()
    info = registry(_routes_or_exit("topics", settings))
    if args.create:
        require_broker(settings)
        created = asyncio.run(ensure_topics(settings, [t.name for t in info]))
        print(f"created {len(created)} topic(s) with {settings.partitions} partitions")
    width = max(len(t.name) for t in info)
    print(f"{'TOPIC'.ljust(width)}  FED BY")
    for t in info:
        print(f"{t.name.ljust(width)}  {t.fed_by}")
    print(f"\nroutes file: {settings.routes}")
    if args.conditions:
        from agents.routing import condition_values

        print("\nCONDITION        VALUES (when.<condition> in a route)")
        for key, values in condition_values():
            print(f"{key.ljust(15)}  {values}")
    return 0


# -- run ----------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    """A stop by Ctrl-C or SIGTERM ends ``run`` with 0 once the worker and the broker are
    stopped (130 with ``--once`` before every article was routed)."""
    _routes_or_exit("run", get_settings())
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        raise CliError(f"no such file or directory: {', '.join(missing)}")
    restore = take_terminal()
    try:
        return asyncio.run(run(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("stopped (worker and embedded broker stopped cleanly)", flush=True)
        raise Interrupted(EXIT_INTERRUPTED if args.once else EXIT_OK) from None
    finally:
        restore()


def _set_foreground(fd: int, pgrp: int) -> None:
    """Make ``pgrp`` the terminal's foreground group (SIGTTOU ignored: we may be behind)."""
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(fd, pgrp)
    finally:
        signal.signal(signal.SIGTTOU, previous)


def take_terminal(fd: int = 0) -> Callable[[], None]:
    """When ``fd`` is the terminal and we are in its foreground group, move this process
    (and the worker it starts, which inherits the group) into its own process group and
    make that the foreground one, so the terminal's Ctrl-C reaches only us and not a
    parent such as ``make`` (which would report "Interrupt" and exit 130 although
    everything stopped cleanly). Returns the function that gives the terminal back."""
    try:
        if not os.isatty(fd) or os.tcgetpgrp(fd) != os.getpgrp():
            return lambda: None  # no terminal, or started in the background: leave it
        previous = os.getpgrp()
        os.setpgid(0, 0)
    except OSError:
        return lambda: None  # a session leader, or no job control: keep today's behaviour
    try:
        _set_foreground(fd, os.getpgrp())
    except OSError:
        os.setpgid(0, previous)  # back where we were rather than behind the terminal
        return lambda: None

    def restore() -> None:
        with contextlib.suppress(OSError):  # the previous group is gone (make exited)
            _set_foreground(fd, previous)

    return restore


async def group_members(settings: Settings, leaving: str = "") -> int:
    """How many members the consumer group ``app_id`` lists (0 when it has none), not
    counting the member id ``leaving``."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**kafka_options(settings))
    await admin.start()
    try:
        responses = await admin.describe_consumer_groups([settings.app_id])
    finally:
        await admin.close()
    members = [m[0] for response in responses for group in response.groups for m in group[5]]
    return len([m for m in members if m != leaving])


async def live_members(settings: Settings) -> int:
    """How many live workers the group ``app_id`` has. The embedded broker keeps listing
    the last member of a group after it stopped; a join attempt with another assignment
    protocol (refused while a worker is live: InconsistentGroupProtocol) makes it drop
    such a member, so the group is described again after one."""
    if not await group_members(settings):
        return 0
    from aiokafka import AIOKafkaConsumer

    from streams.topics import ARTICLES

    probe = AIOKafkaConsumer(
        ARTICLES,
        group_id=settings.app_id,
        enable_auto_commit=False,
        session_timeout_ms=int((settings.session_timeout or 6.0) * 1000),
        heartbeat_interval_ms=1000,
        **kafka_options(settings),
    )
    joined = ""
    quiet = logging.getLogger("aiokafka.consumer.group_coordinator")  # the refusal is expected
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        await asyncio.wait_for(probe.start(), timeout=20)
        joined = str(probe._coordinator.member_id)  # noqa: SLF001 - the probe's own id
    except (KafkaError, TimeoutError):
        pass  # refused (a live worker or a stale member), or no answer: describe again
    finally:
        await probe.stop()
        quiet.setLevel(level)
    return await group_members(settings, leaving=joined)


async def run(args: argparse.Namespace) -> int:
    """Broker (if local and not running) + worker + publish seeds + show routed articles."""
    from streams.broker import BrokerError, LocalBroker, broker_reachable, local_broker
    from streams.consume import polls
    from streams.sources import publish
    from streams.topics import RETRACTIONS, all_topics, ensure_topics

    # SIGTERM (a service manager, `timeout`) stops like Ctrl-C: the worker and the
    # embedded broker are stopped in the `finally` below, never left behind.
    # Ctrl-C (SIGINT) likewise. The stop is also remembered: a cancellation can be swallowed
    # inside the consumer's fetch, and the worker, which got the terminal's Ctrl-C too, may
    # exit first; the loop below then ends as a stop, not as a failed worker.
    main = asyncio.current_task()
    stopping = asyncio.Event()

    def stop() -> None:
        stopping.set()
        if main is not None:
            main.cancel()

    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop)
    started = time.monotonic()

    def say(text: str) -> None:
        print(f"{time.monotonic() - started:6.1f}s  {text}", flush=True)

    from agents.routing import load_routes

    settings = get_settings()
    routes = load_routes(settings.routes)  # a bad routes file stops it before anything starts
    topics = all_topics(routes, settings.app_id)
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
            try:
                broker.start()
            except BrokerError as exc:
                raise CliError(f"{exc}; set --broker or WIRESTREAM_BROKER") from None
            kept = f", data in {broker.data_dir}" if broker.data_dir is not None else ""
            say(broker.describe() + kept)
        else:
            say(f"using broker {settings.broker}")
            try:
                members = await (live_members if args.once else group_members)(settings)
            except KafkaError:
                members = 0  # a broker that does not describe groups: nothing to note
            if members and args.once:
                # Its records for these articles would count as this run's: refuse.
                raise CliError(
                    f"another worker ({members} live member(s) of consumer group "
                    f"{settings.app_id!r}) already consumes {settings.broker}; stop it, or "
                    "point --broker at a broker of its own, then run --once again"
                )
            if members:
                say(
                    f"note: consumer group {settings.app_id!r} already lists {members} "
                    "member(s): another worker may enrich these articles too (the embedded "
                    "broker also lists workers that have stopped)"
                )
        created = await ensure_topics(settings, topics)
        say(f"{len(topics)} topics ready ({len(created)} created)")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", "worker"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=os.environ.copy(),
            )
        say(f"worker started (pid {worker.pid}, log {log_path})")
        # Routed topics, and the retractions: a killed story is done when it is withdrawn.
        outputs = [t for t in topics if t.startswith(ROUTED_PREFIXES) or t == RETRACTIONS]
        async with _reader(settings, outputs, from_beginning=True) as consumer:
            # Only records written after this publish, for the ids it published, count:
            # records of earlier runs (same ids, seeds have fixed ids) are not this run's.
            since_ms = int(time.time() * 1000)
            report = await publish([Path(p) for p in args.paths], settings, progress=False)
            say(f"published {report.published} articles from {', '.join(args.paths)}")
            ids = set(report.ids)
            waiting = set(ids)
            deadline = time.monotonic() + args.timeout
            polling = polls(consumer, poll_ms=500)
            while waiting or not args.once:
                if stopping.is_set():
                    raise asyncio.CancelledError  # a stop whose cancellation was swallowed
                if worker.poll() is not None:
                    say(f"worker exited with {worker.returncode}; see {log_path}")
                    return 1
                if args.once and time.monotonic() > deadline:
                    say(f"timed out: {len(waiting)} article(s) not routed: {sorted(waiting)}")
                    return 1
                for m in await anext(polling):
                    key = (m.key or b"").decode("utf-8", "replace")
                    if m.timestamp < since_ms:
                        continue  # an older record already there
                    if m.value is None:  # a tombstone: withdrawn from that topic
                        say(withdrawal(m.topic, m.key, False))
                        continue
                    if m.topic == RETRACTIONS:
                        say(f"[{m.topic}] {key} {_retraction(m.value)}")
                    else:
                        say(describe(m.topic, codecs.loads(m.value or b"null")))
                    if key in waiting:
                        waiting.discard(key)
                        if not waiting:
                            say(f"all {len(ids)} articles routed")
                            if not args.once:
                                say("watching for more (wirestream publish FILE); Ctrl-C stops")
            return 0 if report.ok else 1
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


# -- serve ------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    """HTTP ingest and live streams (streams/serve.py); the routes file names the
    readable topics, and stream filters are parsed as route conditions."""
    from agents.routing import RoutesError, condition_from_query
    from streams.serve import ServeError, check_bind, serve
    from streams.topics import registry

    settings = get_settings()
    try:
        check_bind(args.host, settings)
    except ServeError as exc:
        raise CliError(str(exc)) from None
    routes = _routes_or_exit("serve", settings)
    require_broker(settings)
    topics = {t.name: t.fed_by for t in registry(routes)}

    def parse_filter(query: Any) -> Any:
        try:
            return condition_from_query(query).holds
        except RoutesError as exc:
            raise ValueError(_one_line(str(exc))) from None

    try:
        asyncio.run(serve(settings, args.host, args.port, topics, parse_filter))
    except ServeError as exc:
        raise CliError(str(exc)) from None
    return 0


# -- entry point --------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="wirestream",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = p.add_subparsers(
        dest="command", required=True, metavar="COMMAND", title="commands (COMMAND --help for more)"
    )

    # Options every subcommand takes; SUPPRESS keeps `wirestream --debug CMD` working.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the traceback of an error (also WIRESTREAM_LOG_LEVEL=debug)",
    )
    kafka = argparse.ArgumentParser(add_help=False, parents=[common])
    kafka.add_argument(
        "--broker",
        metavar="URL",
        help="Kafka bootstrap servers, kafka://host:port[;host:port] (default WIRESTREAM_BROKER)",
    )

    b = sub.add_parser(
        "broker",
        parents=[common],
        help="run a local broker: Tansu (embedded, in memory) or Apache Kafka (on disk)",
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

    w = sub.add_parser(
        "worker", parents=[kafka], help="run a worker: enrich articles and route them to topics"
    )
    w.add_argument("--routes", help="routes file (default WIRESTREAM_ROUTES)")
    w.add_argument(
        "--web-port",
        type=int,
        help="web server port (default WIRESTREAM_WEB_PORT; a free port when 6066 is taken)",
    )
    w.add_argument(
        "--instance",
        help="static group member id on Apache Kafka (default WIRESTREAM_INSTANCE_ID, "
        "else HOSTNAME-WEBPORT; 'off': dynamic membership)",
    )
    w.set_defaults(func=cmd_worker)

    pub = sub.add_parser(
        "publish",
        parents=[kafka],
        help="publish files (seed text, JSON, ninjs, NewsML-G2, RSS, Atom), directories or "
        "a drop folder",
    )
    pub.add_argument("paths", nargs="*", help="files or directories")
    pub.add_argument("--watch", metavar="DIR", help="keep publishing files dropped into DIR")
    pub.add_argument("--quiet", action="store_true", help="no progress bar")
    pub.add_argument(
        "--format",
        metavar="NAME",
        help="read every file as NAME (text, json, jsonl, ninjs, newsml, rss, atom) "
        "instead of detecting it by content",
    )
    pub.set_defaults(func=cmd_publish)

    s = sub.add_parser("subscribe", parents=[kafka], help="print records from topics")
    s.add_argument("topics", nargs="+", metavar="TOPIC", help="topics to read (they must exist)")
    s.add_argument(
        "--from-beginning",
        action="store_true",
        help="start at each topic's first record (default: only records arriving from now)",
    )
    s.add_argument("--limit", type=int, default=None, help="stop after N records")
    s.add_argument("--json", action="store_true", help="JSON lines instead of readable lines")
    s.add_argument("--timeout", type=float, default=None, help="stop after S idle seconds")
    s.add_argument(
        "--when",
        action="append",
        metavar="CONDITION",
        help="only records a route condition holds for, as TOML (repeatable, all must hold): "
        "'countries = [\"TR\"]', 'near = {lat = 41, lon = 29, km = 50}', 'tags = [\"attack\"]'",
    )
    s.set_defaults(func=cmd_subscribe)

    rr = sub.add_parser(
        "reroute",
        parents=[kafka],
        help="send what wirestream.enriched holds to the topics the routes now name",
    )
    rr.add_argument("--routes", help="routes file (default WIRESTREAM_ROUTES)")
    rr.set_defaults(func=cmd_reroute)

    t = sub.add_parser(
        "topics", parents=[kafka], help="list output topics and the routes that feed them"
    )
    t.add_argument("--routes", help="routes file (default WIRESTREAM_ROUTES)")
    t.add_argument("--create", action="store_true", help="create missing topics on the broker")
    t.add_argument(
        "--conditions", action="store_true", help="also list the values route conditions take"
    )
    t.set_defaults(func=cmd_topics)

    r = sub.add_parser(
        "run",
        parents=[kafka],
        help="broker (if needed) + worker + publish seeds/ + show routed articles",
    )
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

    sv = sub.add_parser(
        "serve",
        parents=[kafka],
        help="HTTP server: POST /v1/articles, GET /v1/topics, GET /v1/stream/TOPIC (SSE)",
    )
    sv.add_argument(
        "--host",
        default="127.0.0.1",
        help="bind address (default 127.0.0.1; any other needs WIRESTREAM_INGEST_TOKEN)",
    )
    sv.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    sv.add_argument("--routes", help="routes file (default WIRESTREAM_ROUTES)")
    sv.set_defaults(func=cmd_serve)

    fd = sub.add_parser(
        "feed",
        parents=[kafka],
        help="poll RSS, Atom, ninjs or NewsML-G2 feeds over HTTP(S) for new items",
    )
    fd.add_argument("urls", nargs="+", metavar="URL", help="http or https feed URLs")
    fd.add_argument(
        "--every", type=float, default=300.0, help="seconds between polls (default 300)"
    )
    fd.add_argument("--once", action="store_true", help="poll each feed once and exit")
    fd.set_defaults(func=cmd_feed)
    return p


def _one_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""


def explain(exc: BaseException, flags: dict[str, str] | None = None) -> tuple[str | None, int]:
    """The one line to print for an error (None: print nothing) and the exit status."""
    from agents.routing import RoutesError
    from streams.broker import BrokerError

    broker = os.environ.get(f"{ENV_PREFIX}BROKER") or Settings.model_fields["broker"].default
    if isinstance(exc, Interrupted):
        return None, exc.status
    if isinstance(exc, CliError):
        return _one_line(str(exc)), exc.status
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", EXIT_INTERRUPTED
    if isinstance(exc, BrokenPipeError):
        return None, EXIT_OK  # the reader (`| head`) has what it wanted
    if isinstance(exc, ValidationError):
        return explain_error(exc, flags), EXIT_INPUT
    if isinstance(exc, RoutesError):
        return f"bad routes file: {_one_line(str(exc))}", EXIT_INPUT
    if isinstance(exc, BrokerError):
        return f"{_one_line(str(exc))}; check --broker or WIRESTREAM_BROKER", EXIT_BROKER
    if isinstance(exc, KafkaError):
        return (
            f"the Kafka broker at {broker} failed: {type(exc).__name__}: "
            f"{_one_line(str(exc))}; check --broker or WIRESTREAM_BROKER",
            EXIT_BROKER,
        )
    if isinstance(exc, ConnectionError):
        return (
            f"lost the connection to the broker at {broker} ({exc}); "
            "check --broker or WIRESTREAM_BROKER",
            EXIT_BROKER,
        )
    if isinstance(exc, OSError):
        if exc.errno == errno.EADDRINUSE:
            return f"address already in use: {_one_line(str(exc))}", EXIT_INPUT
        if exc.filename is not None:
            return f"{exc.strerror or exc}: {exc.filename}", EXIT_INPUT
    return (
        f"unexpected error: {type(exc).__name__}: {_one_line(str(exc))} "
        "(run with --debug for the traceback)",
        EXIT_INPUT,
    )


def warn_unknown_settings(out: TextIO = sys.stderr) -> None:
    """One line per WIRESTREAM_* variable that is no setting (a typo is otherwise silent)."""
    known = [ENV_PREFIX + name.upper() for name in Settings.model_fields]
    for name in sorted(os.environ):
        if name.startswith(ENV_PREFIX) and name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            print(f"wirestream: warning: {name} is not a setting{hint}", file=out)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; every error a user can cause ends as one line and a status."""
    args = parser().parse_args(argv)
    debug = bool(getattr(args, "debug", False)) or (
        os.environ.get(f"{ENV_PREFIX}LOG_LEVEL", "").strip().lower() == "debug"
    )
    flags: dict[str, str] = {}
    try:
        flags = _apply_overrides(args)
        warn_unknown_settings()
        get_settings()  # a bad setting stops the command before it touches the broker
        if args.command == "worker":
            # Faust reads sys.argv; give it only the program name.
            sys.argv = [sys.argv[0]]
        return int(args.func(args))
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - every error becomes one line
        message, status = explain(exc, flags)
        if isinstance(exc, BrokenPipeError):
            # Nothing more can be written there; stop Python's own flush from complaining.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        if debug and not isinstance(exc, Interrupted | BrokenPipeError):
            traceback.print_exc()
        if message:
            print(f"wirestream {args.command}: {message}", file=sys.stderr, flush=True)
        return status


if __name__ == "__main__":
    sys.exit(main())
