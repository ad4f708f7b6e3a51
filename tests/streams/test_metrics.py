"""streams.metrics: outcomes read from a batch's outputs, and readiness reasons."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from streams import codecs, metrics
from streams.topics import DEADLETTER, ENRICHED


@dataclass
class Msg:
    timestamp: float | None


def sample(name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return 0.0


def test_batch_sent_counts_outcomes_codes_topics_and_latency() -> None:
    before = {o: sample("wirestream_articles_total", outcome=o) for o in metrics.OUTCOMES}
    routed = sample("wirestream_routed_total", topic="wirestream.topic.sport")
    e2e = sample("wirestream_end_to_end_seconds_count")
    slow = sample("wirestream_end_to_end_seconds_bucket", le="5.0")
    dead = codecs.dumps({"reason": {"code": "ops_test_code", "message": "x"}})
    outputs = [
        (ENRICHED, b"a", b"{}"),
        ("wirestream.topic.sport", b"a", b"{}"),
        (ENRICHED, b"b", b"{}"),
        (DEADLETTER, b"c", dead),
        (ENRICHED, b"d", None),  # a tombstone (a withdrawn story): not an enriched record
        ("wirestream.topic.sport", b"d", None),
    ]
    # 4 inputs: 2 enriched, 1 dead-lettered, 1 that produced only tombstones (dropped)
    batch = [Msg(100.0), Msg(100.0), Msg(None), Msg(90.0)]
    metrics.batch_sent(batch, outputs, now=101.0)
    after = {o: sample("wirestream_articles_total", outcome=o) for o in metrics.OUTCOMES}
    assert {o: after[o] - before[o] for o in metrics.OUTCOMES} == {
        "enriched": 2,
        "deadlettered": 1,
        "dropped": 1,
    }
    assert sample("wirestream_deadletter_total", code="ops_test_code") == 1
    assert sample("wirestream_routed_total", topic="wirestream.topic.sport") == routed + 1
    assert sample("wirestream_end_to_end_seconds_count") == e2e + 3  # one had no timestamp
    assert sample("wirestream_end_to_end_seconds_bucket", le="5.0") == slow + 2  # 1 s, 1 s


def test_a_dead_letter_that_cannot_be_read_counts_as_unknown() -> None:
    assert metrics.dead_letter_code(b"not json") == "unknown"
    assert metrics.dead_letter_code(b'{"reason": {"code": "too_large"}}') == "too_large"


def test_readiness_names_each_missing_condition() -> None:
    saved = (metrics.state.nlp_ready, metrics.state.assigned)
    try:
        metrics.state.nlp_ready, metrics.state.assigned = False, lambda: 0
        assert metrics.readiness() == [
            "the NLP is not loaded yet",
            "the worker holds no partition of its input",
        ]
        metrics.nlp_loaded()
        assert metrics.readiness() == ["the worker holds no partition of its input"]
        metrics.state.assigned = lambda: 3
        assert metrics.readiness() == []
    finally:
        metrics.state.nlp_ready, metrics.state.assigned = saved
