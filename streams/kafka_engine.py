"""The ``kafka`` engine of the local broker: a single-node KRaft Apache Kafka.

Broker and controller run in one JVM (main class ``kafka.Kafka``) on
``127.0.0.1:PORT`` (the controller on another free port), with its log in a data
directory (default ``WIRESTREAM_DATA_DIR/kafka``), so a restart on the same directory
keeps every topic, record and committed group offset.

* The jars are Apache Kafka's from Maven Central, as listed by ``streams/kafka/pom.xml``.
  :func:`fetch_jars` copies them with Maven once per version into
  ``WIRESTREAM_KAFKA_CACHE/kafka-VERSION/libs`` (default ``~/.cache/wirestream``).
* Kafka's log directory is ``DIR/data``. On first start it is formatted
  (``kafka.tools.StorageTool format`` with a new cluster id); later starts find its
  ``meta.properties`` and reuse it.
* The broker logs to ``DIR/logs/server.log`` (log4j2, rolled at 10 MB); the JVM's own
  output goes to ``DIR/logs/stdout.log``. Generated configuration is in ``DIR/config``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import functools
import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import TextIO

from streams.broker import (
    HOST,
    BrokerError,
    LocalBroker,
    _run_sync,
    _tail,
    free_port,
)
from streams.settings import Settings, get_settings, kafka_options

KAFKA_DIR = Path(__file__).resolve().parent / "kafka"
POM = KAFKA_DIR / "pom.xml"
#: First start formats storage and starts a JVM: allow a loaded machine some time.
KAFKA_STARTUP_TIMEOUT = 90.0
#: A controlled shutdown of one node takes about 2.5 s.
KAFKA_STOP_TIMEOUT = 30.0
MIN_JAVA = 17
#: Small heap and fast-starting JIT: a development and test broker, not a production one.
JVM_OPTIONS = (
    "-Xms128m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)
#: Topic that the readiness check produces to (created with one partition if missing).
READY_TOPIC = "__wirestream_ready"

#: Broker settings besides listeners and directories. Auto-creation is off, as in
#: docker-compose.yml: Wirestream creates its topics (``wirestream topics --create``).
SERVER_PROPERTIES = {
    "process.roles": "broker,controller",
    "node.id": "1",
    "controller.listener.names": "CONTROLLER",
    "inter.broker.listener.name": "PLAINTEXT",
    "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
    "auto.create.topics.enable": "false",
    "num.partitions": "4",
    "default.replication.factor": "1",
    "min.insync.replicas": "1",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "4",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "4",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    "num.recovery.threads.per.data.dir": "1",
    "log.cleaner.backoff.ms": "1000",
}

LOG4J2 = """\
status = warn
shutdownHook = disable
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = {logs}/server.log
appender.file.filePattern = {logs}/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 10MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = warn
"""


def kafka_version(pom: Path = POM) -> str:
    """The Apache Kafka version the pom names (``<kafka.version>``)."""
    found = re.search(r"<kafka\.version>\s*([^<\s]+)\s*</kafka\.version>", pom.read_text())
    if found is None:
        raise BrokerError(f"{pom} names no <kafka.version>")
    return found.group(1)


def default_cache_dir() -> Path:
    return Path(get_settings().kafka_cache).expanduser()


@functools.lru_cache(maxsize=4)
def find_java() -> str:
    """Path of ``java`` (``$JAVA_HOME/bin/java`` first), checked to be Java 17 or newer."""
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else None
    if java is None or not os.access(java, os.X_OK):
        java = shutil.which("java")
    hint = "install Java 17 or newer (e.g. apt-get install openjdk-17-jre-headless)"
    if java is None:
        raise BrokerError(f"the kafka engine needs Java: no java on PATH; {hint}")
    try:
        out = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BrokerError(f"cannot run {java} -version ({exc}); {hint}") from exc
    found = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    major = int(found.group(1)) if found else 0
    if major == 1 and found and found.group(2):  # "1.8.0_392"
        major = int(found.group(2))
    if major < MIN_JAVA:
        raise BrokerError(f"the kafka engine needs Java {MIN_JAVA}+, {java} is {major}; {hint}")
    return java


def _pom_digest(pom: Path) -> str:
    return hashlib.sha256(pom.read_bytes()).hexdigest()[:16]


def fetch_jars(
    cache_dir: Path | None = None, *, pom: Path = POM, out: TextIO | None = sys.stderr
) -> Path:
    """The directory of Apache Kafka's jars, fetched with Maven on first use.

    ``cache_dir/kafka-VERSION/libs`` holds them with a marker naming the pom's digest,
    so an edited pom fetches again. A file lock lets concurrent processes (parallel test
    sessions) wait for one fetch.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    version = kafka_version(pom)
    home = cache_dir / f"kafka-{version}"
    libs = home / "libs"
    marker = home / "fetched"
    digest = _pom_digest(pom)

    def fetched() -> bool:
        return marker.is_file() and marker.read_text().strip() == digest

    if fetched():
        return libs
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if fetched():
            return libs
        mvn = shutil.which("mvn")
        if mvn is None:
            raise BrokerError(
                "the kafka engine fetches Apache Kafka's jars once with Maven: no mvn on PATH; "
                "install Maven (e.g. apt-get install maven)"
            )
        if out is not None:
            print(f"fetching Apache Kafka {version} jars with Maven into {libs} (once)", file=out)
        started = time.monotonic()
        with tempfile.TemporaryDirectory(dir=home, prefix="fetch-") as tmp:
            # Maven runs on a copy: the package directory may be read-only.
            shutil.copy(pom, Path(tmp) / "pom.xml")
            target = Path(tmp) / "libs"
            cmd = [
                mvn,
                "-q",
                "-B",
                "-Dstyle.color=never",
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={target}",
            ]
            try:
                result = subprocess.run(
                    cmd, cwd=tmp, capture_output=True, text=True, timeout=1800, check=False
                )
            except subprocess.TimeoutExpired as exc:
                raise BrokerError(
                    "fetching Apache Kafka's jars with Maven took over 30 min"
                ) from exc
            jars = sorted(p.name for p in target.glob("*.jar")) if target.is_dir() else []
            if result.returncode != 0 or not any(j.startswith("kafka_2.13-") for j in jars):
                lines = (result.stdout + result.stderr).strip().splitlines()[-15:]
                raise BrokerError(
                    f"Maven could not fetch Apache Kafka {version} (exit code "
                    f"{result.returncode}; is Maven Central reachable?):\n" + "\n".join(lines)
                )
            if libs.exists():
                shutil.rmtree(libs)
            target.rename(libs)
        marker.write_text(digest + "\n")
        if out is not None:
            took = time.monotonic() - started
            print(f"fetched {len(jars)} jars in {took:.0f} s", file=out)
    return libs


def new_cluster_id() -> str:
    """A cluster id as Kafka makes them: 16 random bytes, URL-safe base64, no padding."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def read_cluster_id(data_dir: Path) -> str | None:
    """The cluster id in ``data_dir/meta.properties``, or None when not formatted yet."""
    meta = data_dir / "meta.properties"
    if not meta.is_file():
        return None
    for line in meta.read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "cluster.id":
            return value.strip()
    raise BrokerError(f"{meta} has no cluster.id; move the directory away to start afresh")


def server_properties(port: int, controller_port: int, log_dir: Path) -> dict[str, str]:
    """The broker's configuration for these ports and this log directory."""
    return {
        **SERVER_PROPERTIES,
        "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
        "controller.quorum.voters": f"1@{HOST}:{controller_port}",
        "log.dirs": str(log_dir),
    }


def _write_properties(path: Path, values: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# written by wirestream (streams/kafka_engine.py) at each start"]
    lines += [f"{k}={v}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n")


async def _produce_probe(settings: Settings, timeout: float) -> None:
    """Create :data:`READY_TOPIC` if missing and produce one record to it (acks=all)."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(**kafka_options(settings), request_timeout_ms=5000)
    await admin.start()
    try:
        if READY_TOPIC not in await admin.list_topics():
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [NewTopic(READY_TOPIC, 1, 1, topic_configs={"retention.ms": "3600000"})]
                )
    finally:
        await admin.close()
    producer = AIOKafkaProducer(**kafka_options(settings), acks="all", request_timeout_ms=5000)
    # Right after a restart the partition has no leader for a moment, and aiokafka warns
    # about each retry ("NotLeaderForPartitionError"): expected here, so kept quiet.
    quiet = logging.getLogger("aiokafka.producer.sender")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    await producer.start()
    try:
        await asyncio.wait_for(producer.send_and_wait(READY_TOPIC, b"ready"), timeout)
    finally:
        await producer.stop()
        quiet.setLevel(level)


class KafkaBroker(LocalBroker):
    """The ``kafka`` engine: single-node KRaft Apache Kafka with its data in ``data_dir``."""

    engine = "kafka"
    title = "Apache Kafka broker"
    stop_timeout = KAFKA_STOP_TIMEOUT

    def __init__(
        self,
        port: int = 0,
        *,
        data_dir: str | Path | None = None,
        startup_timeout: float = KAFKA_STARTUP_TIMEOUT,
        cache_dir: str | Path | None = None,
        jvm_options: tuple[str, ...] = JVM_OPTIONS,
    ) -> None:
        data = Path(data_dir) if data_dir is not None else get_settings().data_dir / "kafka"
        self._data_dir = data.expanduser().resolve()
        super().__init__(
            port, startup_timeout=startup_timeout, log_path=self._data_dir / "logs" / "stdout.log"
        )
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.jvm_options = jvm_options
        self._java: str | None = None
        self._libs: Path | None = None
        self.controller_port = 0
        self.version = kafka_version()

    @property
    def data_dir(self) -> Path:
        return self._data_dir

    @property
    def log_dir(self) -> Path:
        """Kafka's log directory (``log.dirs``): topics, offsets, cluster metadata."""
        return self._data_dir / "data"

    @property
    def server_log(self) -> Path:
        """The broker's log4j log."""
        return self._data_dir / "logs" / "server.log"

    def describe(self) -> str:
        return f"Apache Kafka {self.version} (KRaft, one node) on {self.url}"

    def _jvm(self, main: str, *args: str) -> list[str]:
        assert self._java is not None and self._libs is not None
        log4j = self._data_dir / "config" / "log4j2.properties"
        return [
            self._java,
            *self.jvm_options,
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            str(self._libs / "*"),
            main,
            *args,
        ]

    def _check_unlocked(self) -> None:
        """Fail clearly when another broker holds the log directory's lock (``.lock``,
        locked with ``fcntl`` by the JVM), before touching any of its files."""
        lock = self.log_dir / ".lock"
        if not lock.is_file():
            return
        with open(lock, "a") as fh:
            try:
                fcntl.lockf(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                raise BrokerError(
                    f"{self._data_dir} is in use by another running Kafka broker (its log "
                    "directory is locked); stop that one or choose another --data-dir"
                ) from exc
            fcntl.lockf(fh, fcntl.LOCK_UN)

    def _prepare(self) -> None:
        self._java = find_java()
        self._libs = fetch_jars(self._cache_dir)
        self._check_unlocked()
        config = self._data_dir / "config"
        config.mkdir(parents=True, exist_ok=True)
        (self._data_dir / "logs").mkdir(parents=True, exist_ok=True)
        (config / "log4j2.properties").write_text(LOG4J2.format(logs=self._data_dir / "logs"))
        cluster_id = read_cluster_id(self.log_dir)
        if cluster_id is None:
            cluster_id = self._format()
        self.cluster_id = cluster_id

    def _format(self) -> str:
        """``kafka-storage format`` on an empty directory; returns the new cluster id."""
        cluster_id = new_cluster_id()
        props = self._data_dir / "config" / "format.properties"
        # The ports do not matter to formatting, only the roles, node id and voters.
        _write_properties(props, server_properties(9092, 9093, self.log_dir))
        cmd = self._jvm(
            "kafka.tools.StorageTool",
            "format",
            f"--cluster-id={cluster_id}",
            "--config",
            str(props),
        )
        try:
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BrokerError(f"cannot format {self._data_dir} for Kafka: {exc}") from exc
        if result.returncode != 0 or read_cluster_id(self.log_dir) != cluster_id:
            lines = (result.stdout + result.stderr).strip().splitlines()[-10:]
            raise BrokerError(
                f"formatting {self._data_dir} for Kafka failed (exit code {result.returncode}):\n"
                + "\n".join("  " + line for line in lines)
            )
        return cluster_id

    def _command(self) -> list[str]:
        self.controller_port = free_port()
        while self.controller_port == self._port:
            self.controller_port = free_port()
        props = self._data_dir / "config" / "server.properties"
        _write_properties(props, server_properties(self._port, self.controller_port, self.log_dir))
        return self._jvm("kafka.Kafka", str(props))

    def _check_ready(self) -> None:
        """Metadata answered with our cluster id: now a produce must succeed too."""
        deadline = time.monotonic() + self.startup_timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                _run_sync(functools.partial(_produce_probe, self.settings, 10.0))
                return
            except Exception as exc:  # noqa: BLE001 - not ready yet
                last = exc
                time.sleep(0.2)
        raise BrokerError(f"{self.describe()} answers metadata but not a produce ({last})")

    def tail(self, lines: int = 20) -> str:
        """The JVM's own output, the broker log's last errors, then the log's end."""
        parts = []
        own = _tail(self._log_path, lines, self._log)
        if own != "(no output)":
            parts.append(own)
        end = _tail(self.server_log, 400).splitlines()
        errors = [line for line in end if " ERROR " in line or " FATAL " in line][-5:]
        parts += errors
        parts.append(f"  -- end of {self.server_log} --")
        parts += [line for line in end[-lines:] if line not in errors]
        return "\n".join(parts)
