"""The keyed-update decisions (agents.versions): pure, no broker."""

from __future__ import annotations

import orjson

from agents.versions import (
    DROP,
    ENRICH,
    PASS,
    RETRACT,
    SUPERSEDED,
    Incoming,
    Known,
    peek,
    plan,
    retract,
    settle,
)

ENRICHED = "wirestream.enriched"
POLITICS = "wirestream.topic.politics"
ECONOMY = "wirestream.topic.economy"


def raw(**fields: object) -> bytes:
    return orjson.dumps({"headline": "h", "body": "b", **fields})


def test_peek_reads_id_version_status_and_guid() -> None:
    got = peek(raw(id="a1", guid="urn:x:1", version=3, status="canceled"))
    assert got == Incoming("a1", 3, "canceled", "urn:x:1")


def test_peek_without_version_or_with_a_bad_one_is_unversioned() -> None:
    assert peek(raw(id="a1")) == Incoming("a1", None, "usable", None)
    assert peek(raw(id="a1", version="2")) == Incoming("a1", None, "usable", None)
    assert peek(raw(id="a1", version=0)) == Incoming("a1", None, "usable", None)
    assert peek(raw(id="a1", version=True)) == Incoming("a1", None, "usable", None)
    assert peek(raw(id="a1", version=2, status="deleted")) == Incoming("a1", None, "usable", None)


def test_peek_of_garbage_is_none() -> None:
    assert peek(b"{not json") is None
    assert peek(b"[1, 2]") is None
    assert peek(raw(headline="no id")) is None
    assert peek(None) is None


def test_plan_versions_against_what_was_processed() -> None:
    known = {"a": Known(2, "usable", (ENRICHED, POLITICS))}
    batch = [
        Incoming("a", 1),  # older: dropped
        Incoming("a", 2),  # the same: dropped
        Incoming("b", 1),  # new id: enriched
        Incoming("c", None),  # unversioned: as before
        None,  # undecodable: passes to the validation
        Incoming("d", 4, "withheld"),  # a kill of an id never seen
    ]
    assert plan(batch, known) == [DROP, DROP, ENRICH, PASS, PASS, RETRACT]


def test_plan_acts_on_the_highest_version_of_a_batch_only() -> None:
    batch = [Incoming("a", 1), Incoming("a", 3), Incoming("a", 2), Incoming("a", 3)]
    # the second 3 is not higher than the first one: the first is acted on
    assert plan(batch, {}) == [SUPERSEDED, ENRICH, SUPERSEDED, SUPERSEDED]
    assert plan([Incoming("a", 2), Incoming("a", 3, "canceled")], {}) == [SUPERSEDED, RETRACT]


def test_settle_tombstones_the_topics_the_new_version_left() -> None:
    before = Known(1, "usable", (ENRICHED, POLITICS))
    gone, after = settle(before, Incoming("a", 2), [ENRICHED, ECONOMY, ECONOMY])
    assert gone == [POLITICS]
    assert after == Known(2, "usable", (ENRICHED, ECONOMY))
    assert settle(None, Incoming("a", 1), [ENRICHED]) == ([], Known(1, "usable", (ENRICHED,)))


def test_retract_tombstones_enriched_and_every_routed_topic_and_says_so() -> None:
    before = Known(2, "usable", (ENRICHED, ECONOMY))
    item = Incoming("a", 3, "canceled", "urn:x:1")
    topics, record, after = retract(before, item, ENRICHED, "2026-12-03T17:00:00.000+00:00")
    assert topics == [ENRICHED, ECONOMY]
    assert record == {
        "id": "a",
        "guid": "urn:x:1",
        "version": 3,
        "status": "canceled",
        "when": "2026-12-03T17:00:00.000+00:00",
        "topics": [ENRICHED, ECONOMY],
    }
    assert after == Known(3, "canceled", ())
    # a second kill has nothing routed left: only wirestream.enriched
    again, _, _ = retract(after, Incoming("a", 4, "withheld"), ENRICHED, "t")
    assert again == [ENRICHED]


def test_known_round_trips_through_bytes() -> None:
    known = Known(7, "usable", (ENRICHED, POLITICS))
    assert Known.decode(known.encode()) == known
    assert Known.decode(None) is None
