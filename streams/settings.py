"""The one settings class. Every value can be set with an environment variable
prefixed ``WIRESTREAM_`` (for example ``WIRESTREAM_BROKER``).

Values are checked when the settings are read: a bad one raises pydantic's
``ValidationError``, which :func:`explain_error` turns into one line naming the variable
(``WIRESTREAM_PARTITIONS must be an integer, got 'abc'``).

An enumeration is a ``Literal`` type with a case-insensitive validator, as for
``log_level``: ``Annotated[Literal["a", "b"], LOWER]`` (or ``UPPER``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

from pydantic import BeforeValidator, Field, FilePath, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DATA = Path(__file__).resolve().parent.parent / "agents" / "data"
ENV_PREFIX = "WIRESTREAM_"


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


#: Case-insensitive enumerations: ``Annotated[Literal[...], UPPER]`` accepts ``ssl`` for ``SSL``.
UPPER = BeforeValidator(_upper)
LOWER = BeforeValidator(_lower)

SecurityProtocol = Annotated[Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"], UPPER]
SaslMechanism = Annotated[Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"], UPPER]
LogLevel = Annotated[Literal["critical", "error", "warning", "info", "debug"], LOWER]
Port = Annotated[int, Field(ge=1, le=65535)]
Guarantee = Annotated[Literal["at_least_once", "exactly_once"], LOWER]


class Settings(BaseSettings):
    """Runtime configuration, read once from the environment (prefix ``WIRESTREAM_``)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    broker: str = Field(
        "kafka://127.0.0.1:9092",
        description="Kafka bootstrap servers as kafka://host:port[;host:port...].",
    )
    app_id: str = Field("wirestream", description="Faust app id, also the consumer group id.")
    web_host: str = Field("127.0.0.1", description="Bind address of the worker's web server.")
    web_port: Port = Field(
        6066,
        description="Port of the worker's web server (a free one is used when 6066 is taken).",
    )
    routes: FilePath = Field(
        PACKAGE_DATA / "routes.toml", description="Path of the routes file (TOML)."
    )
    partitions: int = Field(
        12,
        ge=1,
        description=(
            "Partition count for topics we create: up to this many workers share the input"
            " (adding partitions later moves article ids to other partitions)."
        ),
    )
    replication: int = Field(1, ge=1, description="Replication factor for topics we create.")
    data_dir: Path = Field(Path(".wirestream"), description="Faust data directory.")
    batch_size: int = Field(16, ge=1, description="Articles per NLP batch.")
    batch_wait: float = Field(
        0.02,
        gt=0,
        description=(
            "Seconds to wait to fill a batch when it is not full. Articles that arrive while"
            " a batch is in the NLP join the next one anyway, so this only adds latency."
        ),
    )
    fetch_max_wait: float | None = Field(
        None,
        gt=0,
        description=(
            "Longest a worker's fetch waits for new data (s). Default: 0.05 on the embedded"
            " Tansu broker, which holds a fetch that long even when data arrives; Faust's"
            " 1.5 on Apache Kafka, which answers as soon as data arrives."
        ),
    )
    nlp_processes: int = Field(
        1,
        ge=0,
        description=(
            "Processes running the NLP per worker (1: one child process, so Kafka I/O never"
            " waits on the NLP; 0: a thread in the worker process)."
        ),
    )
    nlp_threads: int = Field(
        1,
        ge=1,
        description=(
            "BLAS threads per NLP process. More were measured as fast on the wall clock"
            " but a third more CPU, taken from the other workers."
        ),
    )
    nlp_deadline: float = Field(
        10.0,
        gt=0,
        description=(
            "Seconds an NLP process may take on one batch (or one article retried alone)"
            " before it is killed and replaced; an article that overruns it alone is"
            " dead-lettered (enrichment_timeout). Not enforced with nlp_processes=0."
        ),
    )
    nlp_memory_mb: int = Field(
        150,
        ge=0,
        description=(
            "Megabytes an NLP process may grow above its idle size (address space and"
            " resident memory) before the batch fails; an article that overruns it alone is"
            " dead-lettered (enrichment_memory). 0: no limit. Not enforced with"
            " nlp_processes=0."
        ),
    )
    nlp_slow_tokens: int = Field(
        2_000,
        ge=0,
        description=(
            "An article estimated at more tokens than this (counted on the raw message)"
            " runs in an NLP process of its own beside the batches (the slow lane,"
            " agents/lanes.py), so that it cannot hold up normal articles. 0: no slow lane."
            " Not used with nlp_processes=0."
        ),
    )
    nlp_batch_tokens: int = Field(
        4_000,
        ge=0,
        description=(
            "Estimated tokens per NLP call: a batch is cut into calls of at most this many"
            " (an article over it alone), so that a call costs no more than one article at"
            " the 4,000-token cap. 0: one call per batch. Not used with nlp_processes=0."
        ),
    )
    max_article_bytes: int = Field(1_000_000, ge=1, description="Largest raw article accepted.")
    max_output_bytes: int = Field(
        900_000,
        ge=10_000,
        description=(
            "Largest output record (key + value) the worker sends; larger enriched records"
            " are shrunk, then dead-lettered (output_too_large). Keep it below the broker's"
            " message.max.bytes (Apache Kafka's default is 1,048,588)."
        ),
    )
    watch_settle: float = Field(
        5.0,
        ge=0,
        description=(
            "Seconds a file in a drop folder (`publish --watch`) must keep its size and mtime"
            " before it is read. 0: publish on sight (every writer renames finished files in)."
        ),
    )
    max_body_chars: int = Field(100_000, ge=1, description="Body characters given to the NLP.")
    session_timeout: float | None = Field(
        None,
        gt=0,
        description=(
            "Consumer group session timeout (s). Default: 5 on the embedded Tansu broker (a"
            " join waits half of it), 6 on Apache Kafka (its least by default)."
        ),
    )
    instance_id: str | None = Field(
        None,
        description=(
            "Static group membership of this worker on Apache Kafka (group.instance.id,"
            " unique per worker): a worker restarted with the same id gets its partitions"
            " back at once, with no rebalance of the group; a worker that stops for good"
            " keeps them until the session timeout. Default: HOSTNAME-WEBPORT. 'off':"
            " dynamic membership. Not used on the embedded Tansu broker."
        ),
    )
    guarantee: Guarantee = Field(
        "at_least_once",
        description=(
            "Processing guarantee of the worker: at_least_once (a killed worker's last"
            " batch may be sent again) or exactly_once (each batch's outputs and its input"
            " offsets commit in one Kafka transaction; Apache Kafka only, refused on Tansu)."
            " See docs/exactly-once.md."
        ),
    )
    transactional_id: str = Field(
        "",
        description=(
            "With exactly_once: the worker's Kafka transactional id, stable across its"
            " restarts and different for every worker of the group (a restarted worker"
            " fences its predecessor). Default: APP_ID-eos-HOSTNAME."
        ),
    )
    shutdown_timeout: float = Field(
        8.0, gt=0, description="Seconds a stopping worker may take before it exits anyway."
    )
    extra_sinks: str = Field(
        "",
        description=(
            "Outputs the worker sends to besides Kafka, after Kafka: comma-separated"
            " `module:factory` names, each factory called with the settings and returning a"
            " streams.sinks.Sink (docs/architecture.md)."
        ),
    )
    allow_unpinned_patches: bool = Field(
        False,
        description=(
            "Start the worker on a faust-streaming or aiokafka version other than the pinned"
            " ones its patches were written for (streams/patches.py; docs/patches.md)."
        ),
    )
    broker_port: Port = Field(
        9092, description="Port of the embedded broker (`wirestream broker`)."
    )
    broker_engine: Annotated[Literal["tansu", "kafka"], LOWER] = Field(
        "tansu",
        description=(
            "Engine of the local broker that `wirestream broker` and `wirestream run` start:"
            " tansu (embedded, in memory) or kafka (Apache Kafka, data in DATA_DIR/kafka)."
        ),
    )
    kafka_cache: Path = Field(
        Path("~/.cache/wirestream"),
        description="Where the kafka engine keeps Apache Kafka's jars (kafka-VERSION/libs).",
    )
    security_protocol: SecurityProtocol = Field(
        "PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."
    )
    sasl_mechanism: SaslMechanism = Field(
        "PLAIN", description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512."
    )
    sasl_username: str = Field("", description="SASL user name.")
    sasl_password: SecretStr = Field(SecretStr(""), description="SASL password (never logged).")
    ssl_cafile: FilePath | None = Field(None, description="CA bundle for TLS.")
    log_level: LogLevel = Field("info", description="Worker log level.")
    ingest_token: SecretStr = Field(
        SecretStr(""),
        description=(
            "Bearer token `wirestream serve` requires on every request (none: no auth, and"
            " serve binds loopback addresses only)."
        ),
    )
    ingest_max_bytes: int = Field(
        16_000_000, ge=1, description="Largest request body POST /v1/articles accepts."
    )
    serve_queue: int = Field(
        1000, ge=1, description="Events buffered per SSE client of `wirestream serve`."
    )
    serve_slow_seconds: float = Field(
        30.0,
        gt=0,
        description="An SSE client whose buffer stays full this long is dropped.",
    )
    feed_max_bytes: int = Field(
        20_000_000,
        ge=1,
        description=(
            "Largest feed document `wirestream feed` reads (after gzip is undone); a larger"
            " one is a poll error for that feed."
        ),
    )
    feed_timeout: float = Field(
        20.0, gt=0, description="Seconds one feed request may take (connect and read)."
    )
    versions: bool = Field(
        False,
        description=(
            "Keep the versions table (agents/enrich.py): stale versions dropped, tombstones"
            " and retractions for kills. Off by default: with it, a worker that takes over"
            " partitions in a rebalance stopped consuming in the two-worker soak (under"
            " investigation, docs/versions.md)."
        ),
    )

    @field_validator("broker")
    @classmethod
    def _check_broker(cls, value: str) -> str:
        servers = [part.strip() for part in value.replace(",", ";").split(";") if part.strip()]
        if not servers:
            raise ValueError("must name at least one server (kafka://host:port)")
        for part in servers:
            url = urlparse(part if "://" in part else "kafka://" + part)
            try:
                port = url.port
            except ValueError:
                port = -1
            if not url.hostname or port == -1 or port == 0:
                raise ValueError("must be kafka://host:port[;host:port...]")
        return value

    @property
    def bootstrap_servers(self) -> list[str]:
        """``host:port`` strings for aiokafka, from the Faust-style broker URL."""
        servers = []
        for part in self.broker.replace(",", ";").split(";"):
            part = part.strip()
            if not part:
                continue
            if "://" not in part:
                part = "kafka://" + part
            url = urlparse(part)
            servers.append(f"{url.hostname}:{url.port or 9092}")
        return servers

    @property
    def is_local_broker(self) -> bool:
        """True when every bootstrap server is on this machine (embedded broker allowed)."""
        local = {"127.0.0.1", "localhost", "::1"}
        return all(s.rsplit(":", 1)[0] in local for s in self.bootstrap_servers)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()


def kafka_options(settings: Settings) -> dict[str, object]:
    """Connection options for aiokafka clients (bootstrap servers, TLS, SASL). The client
    id starts with ``wirestream``, so the client never makes the broker auto-create a
    topic (:func:`streams.patches.forbid_topic_auto_creation`)."""
    from streams.patches import CLIENT_ID_PREFIX, forbid_topic_auto_creation

    forbid_topic_auto_creation()
    options: dict[str, object] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.security_protocol,
        "client_id": CLIENT_ID_PREFIX,
    }
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        from aiokafka.helpers import create_ssl_context

        cafile = str(settings.ssl_cafile) if settings.ssl_cafile else None
        options["ssl_context"] = create_ssl_context(cafile=cafile)
    if settings.security_protocol.startswith("SASL"):
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = settings.sasl_password.get_secret_value()
    return options


#: What pydantic's error types mean, said the way a user fixes them.
_MEANINGS = {
    "int_parsing": "must be an integer",
    "int_type": "must be an integer",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "bool_parsing": "must be true or false",
    "path_not_file": "must name an existing file",
    "path_not_directory": "must name an existing directory",
    "path_not_exists": "must name an existing path",
}


def _meaning(error: Mapping[str, Any]) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in _MEANINGS:
        return _MEANINGS[kind]
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}".replace("'", "")
    bounds = {
        "greater_than_equal": "at least {ge}",
        "greater_than": "greater than {gt}",
        "less_than_equal": "at most {le}",
        "less_than": "less than {lt}",
    }
    if kind in bounds:
        return "must be " + bounds[kind].format(**ctx)
    message = str(error["msg"]).removeprefix("Value error, ")
    return message[:1].lower() + message[1:]


def explain_error(exc: ValidationError, flags: Mapping[str, str] | None = None) -> str:
    """One line for a settings ``ValidationError``, naming each bad value as the user set
    it: the flag (``flags`` maps a field to the flag that set it) or ``WIRESTREAM_X``."""
    flags = flags or {}
    parts = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "?"
        env = ENV_PREFIX + field.upper()
        name = flags.get(field, env)
        given = os.environ.get(env, error.get("input"))
        parts.append(f"{name} {_meaning(error)}, got {given!r}")
    return "; ".join(parts)
