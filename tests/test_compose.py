"""No Docker engine runs here, so check the compose file's wiring by reading it."""

from __future__ import annotations

from typing import Any

import yaml

from agents.routing import load_routes
from streams.kafka_engine import SERVER_PROPERTIES, kafka_version
from streams.settings import Settings
from streams.topics import registry
from tests.helpers import ROOT


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


def test_kafka_is_official_image_in_kraft_single_node() -> None:
    kafka = compose()["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"  # topics come from the job


def test_kafka_is_the_version_and_configuration_the_tests_run() -> None:
    """The image is the Apache Kafka release whose jars make test-kafka runs (the pom),
    with the broker settings of the local kafka engine (streams/kafka_engine.py)."""
    kafka = compose()["services"]["kafka"]
    assert kafka["image"] == f"apache/kafka:{kafka_version()}"
    env = kafka["environment"]
    for key in (
        "process.roles",
        "controller.listener.names",
        "inter.broker.listener.name",
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "group.initial.rebalance.delay.ms",
        "auto.create.topics.enable",
    ):
        assert env["KAFKA_" + key.upper().replace(".", "_")] == SERVER_PROPERTIES[key], key
    assert env["KAFKA_NODE_ID"] == SERVER_PROPERTIES["node.id"]
    protocols = dict(p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert protocols == {"CONTROLLER": "PLAINTEXT", "PLAINTEXT": "PLAINTEXT", "HOST": "PLAINTEXT"}


def test_the_data_volume_is_the_log_directory() -> None:
    """Without KAFKA_LOG_DIRS the image logs to /tmp/kraft-combined-logs and the volume
    keeps nothing across `docker compose down` / `up`."""
    config = compose()
    kafka = config["services"]["kafka"]
    mounts = dict(v.split(":", 1) for v in kafka["volumes"])
    assert "kafka-data" in config["volumes"]
    assert kafka["environment"]["KAFKA_LOG_DIRS"] == mounts["kafka-data"]


def test_host_tools_reach_kafka_on_a_listener_advertised_as_localhost() -> None:
    """The published port is a listener that advertises an address the host resolves;
    kafka:9092 (for the services) resolves only inside compose, and is not published."""
    kafka = compose()["services"]["kafka"]
    env = kafka["environment"]
    listeners = dict(item.split("://", 1) for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert listeners == {"PLAINTEXT": "kafka:9092", "HOST": "localhost:29092"}
    assert "HOST://:29092" in env["KAFKA_LISTENERS"].split(",")
    assert kafka["ports"] == ["127.0.0.1:29092:29092"]


def test_drop_folder_is_in_the_repo_and_the_build_context_is_small() -> None:
    """Docker would create a missing ./drop owned by root; .venv and .git stay out of the
    image's build context."""
    assert (ROOT / "drop" / ".gitkeep").is_file()
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line}
    assert {".git", ".venv"} <= ignored
    copied = {
        line.split()[1]
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ") and line.split()[1] != "pyproject.toml"
    }
    assert not copied & ignored  # nothing the image needs is ignored


def test_services_point_at_kafka_and_create_topics_first() -> None:
    services = compose()["services"]
    for name in ("topics", "worker", "producer"):
        env = services[name]["environment"]
        assert env["WIRESTREAM_BROKER"] == "kafka://kafka:9092", name
        assert int(env["WIRESTREAM_PARTITIONS"]) >= 2
        # the env keys are real settings fields
        fields = set(Settings.model_fields)
        assert {k.removeprefix("WIRESTREAM_").lower() for k in env} <= fields
    assert services["topics"]["command"] == ["wirestream", "topics", "--create"]
    assert services["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    for name in ("worker", "producer"):
        cond = services[name]["depends_on"]["topics"]["condition"]
        assert cond == "service_completed_successfully"


def test_workers_are_replicated_and_producer_watches_drop_folder() -> None:
    services = compose()["services"]
    assert services["worker"]["command"] == ["wirestream", "worker"]
    assert services["worker"]["deploy"]["replicas"] >= 2
    assert services["producer"]["command"] == ["wirestream", "publish", "--watch", "/drop"]
    assert "./drop:/drop" in services["producer"]["volumes"]


def test_partitions_allow_every_replica_to_work() -> None:
    services = compose()["services"]
    partitions = int(services["worker"]["environment"]["WIRESTREAM_PARTITIONS"])
    assert partitions >= services["worker"]["deploy"]["replicas"]
    # the topic job creates every topic in the registry, including routed ones
    assert len(registry(load_routes(Settings().routes))) >= 20


def test_workers_are_static_members_with_ids_of_their_own() -> None:
    """Replicated workers share one environment: a WIRESTREAM_INSTANCE_ID there would give
    every replica the same static member id, and Apache Kafka fences all but one. Left
    unset, each replica's id is its container's host name and the web port."""
    services = compose()["services"]
    worker = services["worker"]
    assert "WIRESTREAM_INSTANCE_ID" not in worker["environment"]
    assert "hostname" not in worker  # one host name per replica container
    assert Settings.model_fields["instance_id"].default is None
    text = (ROOT / "docker-compose.yml").read_text()
    assert "WIRESTREAM_GUARANTEE: exactly_once" in text  # documented for the workers


def test_compose_partitions_are_the_default_partition_count() -> None:
    """Compose creates the topics with the partition count every other setup gets."""
    env = compose()["services"]["topics"]["environment"]
    assert int(env["WIRESTREAM_PARTITIONS"]) == Settings.model_fields["partitions"].default
