"""streams.serve's pure parts: SSE ids and events, the ingest body parser, the bind
check; agents.routing.condition_from_query (stream filters)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from agents.routing import RoutesError, condition_from_query
from streams.serve import (
    ServeError,
    check_bind,
    decode_positions,
    encode_positions,
    event,
    read_articles,
)
from streams.settings import Settings
from streams.sources.readers import FileError, Loaded

ROOT = Path(__file__).resolve().parents[2]


def test_positions_round_trip_and_bad_ids_are_refused() -> None:
    positions = {2: 0, 0: 12, 1: 7}
    assert encode_positions(positions) == "0:12,1:7,2:0"
    assert decode_positions("0:12,1:7,2:0") == positions
    for bad in ("", "0:", "a:1", "0-1", "0:1,,1:2", "0:-1"):
        with pytest.raises(ValueError, match="bad Last-Event-ID"):
            decode_positions(bad)


def test_events_records_tombstones_and_multiline_values() -> None:
    assert event({0: 3, 1: 1}, b"k", b'{"id":"k"}') == b'id: 0:3,1:1\ndata: {"id":"k"}\n\n'
    assert event({0: 4}, b"k", None) == (
        b'id: 0:4\nevent: withdrawn\ndata: {"id":"k","withdrawn":true}\n\n'
    )
    # SSE data is one line: pretty JSON is re-encoded, non-JSON becomes its size
    assert event({0: 1}, b"k", b'{\n "a": 1\n}') == b'id: 0:1\ndata: {"a":1}\n\n'
    assert event({0: 1}, b"k", b"x\ny") == b'id: 0:1\ndata: {"undecodable":3}\n\n'


def test_read_articles_one_list_and_reasons_per_item() -> None:
    (one,) = read_articles(b'{"headline": "A", "body": "B"}', max_bytes=1000)
    assert isinstance(one, Loaded) and one.article.headline == "A"
    items = read_articles(
        orjson.dumps([{"headline": "A", "body": "B"}, {"body": "B"}, 3]), max_bytes=1000
    )
    assert isinstance(items[0], Loaded)
    assert [(e.code, e.reason.split(":")[0]) for e in items[1:] if isinstance(e, FileError)] == [
        ("missing_field", "item 2"),
        ("not_an_object", "item 3"),
    ]
    (bad,) = read_articles(b"[1,", max_bytes=1000)
    assert isinstance(bad, FileError) and bad.code == "invalid_json"
    (big,) = read_articles(orjson.dumps({"headline": "A", "body": "B" * 2000}), max_bytes=1000)
    assert isinstance(big, FileError) and big.code == "too_large"
    (empty,) = read_articles(b"[]", max_bytes=1000)
    assert isinstance(empty, FileError) and empty.code == "empty"


def test_read_articles_takes_the_wire_formats_by_content() -> None:
    """ninjs, NewsML-G2, RSS and Atom bodies go through the readers' content detection;
    a kill keeps the story's guid-derived id; unsafe XML is one error, nothing read."""
    seeds = ROOT / "seeds" / "wire"
    (v1,) = read_articles(
        (seeds / "101_ninjs_harbour-terminal.v1.json").read_bytes(), max_bytes=10**6
    )
    (v2,) = read_articles(
        (seeds / "102_ninjs_harbour-terminal.v2.json").read_bytes(), max_bytes=10**6
    )
    assert isinstance(v1, Loaded) and isinstance(v2, Loaded)
    assert v1.article.id == v2.article.id and (v1.article.version, v2.article.version) == (1, 2)
    (kill,) = read_articles(
        (seeds / "105_newsml_mayor-inquiry.kill.xml").read_bytes(), max_bytes=10**6
    )
    assert isinstance(kill, Loaded) and kill.article.status == "canceled"
    rss = read_articles((seeds / "106_rss_valmont-gazette.rss").read_bytes(), max_bytes=10**6)
    atom = read_articles(
        (seeds / "107_atom_northern-science-desk.atom").read_bytes(), max_bytes=10**6
    )
    assert [type(i) for i in rss + atom] == [Loaded] * 4
    laughs = b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><rss><channel/></rss>'
    (unsafe,) = read_articles(laughs, max_bytes=10**6)
    assert isinstance(unsafe, FileError) and unsafe.code == "unsafe_xml"


def test_only_loopback_binds_without_a_token() -> None:
    open_settings = Settings()
    for host in ("127.0.0.1", "::1", "localhost"):
        check_bind(host, open_settings)
    with pytest.raises(ServeError, match="refusing to listen on 0.0.0.0 without a token"):
        check_bind("0.0.0.0", open_settings)  # noqa: S104
    check_bind("0.0.0.0", Settings(ingest_token="t"))  # type: ignore[arg-type]  # noqa: S104


def test_filters_parse_like_route_conditions() -> None:
    condition = condition_from_query(
        {"entity_names": ["Lisbon,ECB"], "topics": ["economy"], "sentiment_above": ["0.2"]}
    )
    assert condition.entity_names == frozenset({"lisbon", "ecb"})
    assert condition.topics == frozenset({"economy"})
    assert condition.sentiment_above == 0.2
    record = {
        "entities": [{"canonical": "Lisbon", "text": "Lisbon", "label": "GPE"}],
        "topics": [{"slug": "economy"}],
        "sentiment": {"compound": 0.5},
    }
    assert condition.holds(record)
    assert not condition.holds({**record, "sentiment": {"compound": 0.1}})
    with pytest.raises(RoutesError, match="unknown IPTC topic"):
        condition_from_query({"topics": ["economyy"]})
    with pytest.raises(RoutesError, match="must be a number"):
        condition_from_query({"sentiment_below": ["low"]})
    with pytest.raises(RoutesError, match="route-only"):
        condition_from_query({"unmatched": ["true"]})
