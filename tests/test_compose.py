"""No Docker engine runs here, so check the compose file's wiring by reading it."""

from __future__ import annotations

from typing import Any

import yaml

from agents.routing import load_routes
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
