"""The keyed-update decisions (agents.versions): pure, no broker."""

from __future__ import annotations

import orjson

from agents.deadletter import Received
from agents.versions import (
    DROP,
    ENRICH,
    PASS,
    RETRACT,
    SUPERSEDED,
    Incoming,
    Known,
    finish,
    ids,
    peek,
    plan,
    prepare,
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


def received(value: bytes, offset: int) -> Received:
    return Received(b"k", value, "wirestream.articles", 0, offset, None)


def test_prepare_sends_only_unversioned_and_newer_usable_versions_to_the_nlp() -> None:
    batch = [
        received(raw(id="a", version=1), 0),  # not newer than 2: dropped
        received(raw(id="b", version=1), 1),  # superseded by b/2 below
        received(raw(id="b", version=2), 2),  # enriched
        received(raw(id="c"), 3),  # unversioned: as before
        received(raw(id="d", version=5, status="withheld", guid="g-d"), 4),  # retracted
        received(b"{garbage", 5),  # to the validation (dead letter)
    ]
    prepared = prepare(batch, {"a": Known(2, "usable", (ENRICHED,))})
    assert [m.offset for m in prepared.to_enrich] == [2, 3, 5]
    assert prepared.enrich == {"b": Incoming("b", 2)}
    assert prepared.retract == [Incoming("d", 5, "withheld", "g-d")]
    assert prepared.dropped == 2
    assert ids(batch) == ["a", "b", "b", "d"]


def test_finish_adds_tombstones_retractions_and_what_to_remember() -> None:
    batch = [
        received(raw(id="a", version=2), 0),
        received(raw(id="b", version=1), 1),
        received(raw(id="k", version=4, status="canceled", guid="g-k"), 2),
    ]
    known = {
        "a": Known(1, "usable", (ENRICHED, POLITICS)),
        "k": Known(3, "usable", (ENRICHED, ECONOMY)),
    }
    prepared = prepare(batch, known)
    nlp_out = [
        (ENRICHED, b"a", b"{a2}"),
        (ECONOMY, b"a", b"{a2}"),
        ("wirestream.deadletter", b"b", b"{dead}"),  # b/1 was refused by the validation
    ]
    out, updates, dropped = finish(
        prepared, nlp_out, known, enriched=ENRICHED, deadletter="wirestream.deadletter",
        retractions="wirestream.retractions", when="T",
    )  # fmt: skip
    record = {"id": "k", "guid": "g-k", "version": 4, "status": "canceled", "when": "T"}
    assert out == [
        *nlp_out,
        (POLITICS, b"a", None),
        (ENRICHED, b"k", None),
        (ECONOMY, b"k", None),
        (
            "wirestream.retractions",
            b"k",
            orjson.dumps({**record, "topics": [ENRICHED, ECONOMY]}),
        ),
    ]
    assert updates == {
        "a": Known(2, "usable", (ENRICHED, ECONOMY)),
        "k": Known(4, "canceled", ()),
    }  # b was dead-lettered: nothing remembered
    assert dropped == 0


def test_finish_drops_a_version_overtaken_while_it_was_enriched() -> None:
    prepared = prepare([received(raw(id="a", version=2), 0)], {})
    nlp_out = [(ENRICHED, b"a", b"{a2}"), (POLITICS, b"a", b"{a2}")]
    # meanwhile the slow lane processed version 3
    now = {"a": Known(3, "usable", (ENRICHED,))}
    out, updates, dropped = finish(
        prepared, nlp_out, now, enriched=ENRICHED, deadletter="wirestream.deadletter",
        retractions="wirestream.retractions", when="T",
    )  # fmt: skip
    assert (out, updates, dropped) == ([], {}, 1)
