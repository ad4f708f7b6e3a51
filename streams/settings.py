"""The one settings class. Every value can be set with an environment variable
prefixed ``WIRESTREAM_`` (for example ``WIRESTREAM_BROKER``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DATA = Path(__file__).resolve().parent.parent / "agents" / "data"


class Settings(BaseSettings):
    """Runtime configuration, read once from the environment (prefix ``WIRESTREAM_``)."""

    model_config = SettingsConfigDict(env_prefix="WIRESTREAM_", frozen=True, extra="ignore")

    broker: str = Field(
        "kafka://127.0.0.1:9092",
        description="Kafka bootstrap servers as kafka://host:port[;host:port...].",
    )
    app_id: str = Field("wirestream", description="Faust app id, also the consumer group id.")
    web_host: str = Field("127.0.0.1", description="Bind address of the worker's web server.")
    web_port: int = Field(6066, description="Port of the worker's web server.")
    routes: Path = Field(
        PACKAGE_DATA / "routes.toml", description="Path of the routes file (TOML)."
    )
    partitions: int = Field(4, ge=1, description="Partition count for topics we create.")
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
    fetch_max_wait: float = Field(
        0.05, gt=0, description="Longest a worker's fetch waits for new data (s); bounds latency."
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
    max_article_bytes: int = Field(1_000_000, ge=1, description="Largest raw article accepted.")
    max_body_chars: int = Field(100_000, ge=1, description="Body characters given to the NLP.")
    session_timeout: float = Field(
        5.0, gt=0, description="Consumer group session timeout (s); a join waits half of it."
    )
    shutdown_timeout: float = Field(
        8.0, gt=0, description="Seconds a stopping worker may take before it exits anyway."
    )
    broker_port: int = Field(9092, description="Port of the embedded broker (`wirestream broker`).")
    security_protocol: str = Field(
        "PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."
    )
    sasl_mechanism: str = Field("PLAIN", description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.")
    sasl_username: str = Field("", description="SASL user name.")
    sasl_password: SecretStr = Field(SecretStr(""), description="SASL password (never logged).")
    ssl_cafile: Path | None = Field(None, description="CA bundle for TLS.")
    log_level: str = Field("info", description="Worker log level.")

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
    """Connection options for aiokafka clients (bootstrap servers, TLS, SASL)."""
    options: dict[str, object] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.security_protocol,
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
