from __future__ import annotations

import base64

import jsonschema

from agents.deadletter import MAX_PAYLOAD_COPY, dead_letter_record
from schemas.records import json_schema


def record(payload: bytes | None, key: bytes | None = b"k1") -> dict:
    return dead_letter_record(
        code="invalid_json",
        message="not valid JSON",
        topic="t",
        partition=2,
        offset=17,
        timestamp=1.5,
        key=key,
        payload=payload,
    )


def test_text_payload_is_kept_as_text() -> None:
    r = record(b'{"headline": ')
    jsonschema.validate(r, json_schema("deadletter.v1"))
    assert r["reason"] == {"code": "invalid_json", "message": "not valid JSON"}
    assert r["origin"] == {
        "topic": "t",
        "partition": 2,
        "offset": 17,
        "timestamp": 1.5,
        "key": "k1",
    }
    assert (r["payload"], r["payload_encoding"], r["payload_size"]) == (
        '{"headline": ',
        "utf-8",
        13,
    )


def test_binary_payload_and_key_are_base64() -> None:
    r = record(b"\xff\x00\x81", key=b"\xfe")
    assert r["payload_encoding"] == "base64"
    assert base64.b64decode(r["payload"]) == b"\xff\x00\x81"
    assert r["origin"]["key"] == "base64:" + base64.b64encode(b"\xfe").decode()


def test_oversize_payload_is_truncated_with_its_size() -> None:
    big = b"a" * (MAX_PAYLOAD_COPY + 10)
    r = record(big)
    assert r["payload_truncated"] is True
    assert r["payload_size"] == len(big)
    assert len(r["payload"]) == MAX_PAYLOAD_COPY


def test_missing_value_is_null() -> None:
    r = record(None, key=None)
    assert r["payload"] is None and r["payload_size"] == 0 and r["origin"]["key"] is None
