"""read_bytes: the one content-detecting entry point (HTTP bodies, feeds and files)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from schemas.validation import article_id, guid_id
from streams.sources.readers import READERS, FileError, detect, load_file, read_bytes

LIMIT = 1_000_000


def art(headline: str, **extra: object) -> dict[str, object]:
    return {"headline": headline, "body": f"{headline} body.", **extra}


def test_json_object_list_jsonl_and_text_are_told_apart_by_content() -> None:
    one = read_bytes(orjson.dumps(art("One")), max_bytes=LIMIT)
    assert [i.article.headline for i in one] == ["One"]
    assert one[0].path == "<body>" and one[0].key == article_id("One", "One body.").encode()
    many = read_bytes(orjson.dumps([art("A"), art("B")]), max_bytes=LIMIT)
    assert [i.article.headline for i in many] == ["A", "B"]
    lines = read_bytes(orjson.dumps(art("L1")) + b"\n" + orjson.dumps(art("L2")), max_bytes=LIMIT)
    assert [i.article.headline for i in lines] == ["L1", "L2"]
    text = read_bytes(b"Storm hits coast\nWinds reached 90 mph.\n", max_bytes=LIMIT)
    assert [(i.article.headline, i.article.body) for i in text] == [
        ("Storm hits coast", "Winds reached 90 mph.")
    ]
    pretty = read_bytes(
        b"\xef\xbb\xbf  " + orjson.dumps(art("P"), option=orjson.OPT_INDENT_2), max_bytes=LIMIT
    )
    assert [i.article.headline for i in pretty] == ["P"]


def test_detect_names_the_format() -> None:
    assert detect(b'{"headline": "h", "body": "b"}') is READERS["json"]
    assert detect(b'[{"headline": "h", "body": "b"}]') is READERS["json"]
    assert (
        detect(b'{"headline": "h", "body": "b"}\n{"headline": "i", "body": "c"}\n')
        is READERS["jsonl"]
    )
    assert detect(b"Headline\nBody.") is READERS["text"]


def test_a_forced_format_is_used_and_an_unknown_one_refused() -> None:
    # forced text: the JSON is read as a seed text whose headline is the JSON line
    [item] = read_bytes(b'{"x": 1}\nsecond line.', fmt="text", max_bytes=LIMIT)
    assert item.article.headline == '{"x": 1}'
    with pytest.raises(FileError) as info:
        read_bytes(b"Headline\nBody.", fmt="csv", max_bytes=LIMIT)
    assert info.value.code == "unsupported" and "unknown format 'csv'" in str(info.value)


@pytest.mark.parametrize(
    ("raw", "code", "reason"),
    [
        (b"", "empty", "<body>: empty file"),
        (b" \n\t", "empty", "<body>: empty file"),
        (b'{"headline": ', "invalid_json", "<body>: invalid_json: not valid JSON"),
        (
            b'[{"headline": "h", "body": "b"}, {"body": "x"}]',
            "missing_field",
            "item 2: missing_field",
        ),
        (b'{"headline": "h", "body": "b", "version": 0}', "invalid_version", "invalid_version"),
        (b"\xff\xfe", "invalid_utf8", "not valid UTF-8"),
    ],
)
def test_bad_bodies_raise_one_line_errors(raw: bytes, code: str, reason: str) -> None:
    with pytest.raises(FileError) as info:
        read_bytes(raw, max_bytes=LIMIT)
    assert info.value.code == code
    assert reason in str(info.value) and "\n" not in str(info.value)


def test_the_size_limit_and_the_name_are_applied() -> None:
    with pytest.raises(FileError, match=r"^feed:3: too_large: \d+ bytes is over the 100 byte"):
        read_bytes(orjson.dumps(art("x" * 200)), name="feed:3", max_bytes=100)


def test_guid_ids_through_read_bytes() -> None:
    body = orjson.dumps(
        [art("V1", guid="urn:x:1", version=1), art("V2", guid="urn:x:1", version=2)]
    )
    items = read_bytes(body, max_bytes=LIMIT)
    assert {i.key for i in items} == {guid_id("urn:x:1").encode()}


def test_files_detect_by_content_with_the_extension_breaking_ties(tmp_path: Path) -> None:
    # JSON Lines in a .json file is read as JSON Lines; one line in .jsonl stays JSON Lines
    (tmp_path / "lines.json").write_bytes(
        orjson.dumps(art("A")) + b"\n" + orjson.dumps(art("B")) + b"\n"
    )
    assert [a.headline for a in load_file(tmp_path / "lines.json")] == ["A", "B"]
    (tmp_path / "one.jsonl").write_bytes(orjson.dumps(art("C", version="x")) + b"\n")
    with pytest.raises(FileError, match=r"one\.jsonl: line 1: invalid_version"):
        load_file(tmp_path / "one.jsonl")
    # a .txt file is always seed text, even when it starts like JSON
    (tmp_path / "t.txt").write_text("[Update] Storm hits coast\nWinds rose.\n")
    assert [a.headline for a in load_file(tmp_path / "t.txt")] == ["[Update] Storm hits coast"]
    # --format forces a reader even for an unknown extension
    (tmp_path / "story.dat").write_text("Forced headline\nForced body.\n")
    assert [a.headline for a in load_file(tmp_path / "story.dat", fmt="text")] == [
        "Forced headline"
    ]


def test_a_url_name_is_kept_as_given_in_errors_and_items() -> None:
    name = "https://feeds.example/wire?since=1//x"
    [item] = read_bytes(orjson.dumps(art("U")), name=name, max_bytes=LIMIT)
    assert item.path == name
    with pytest.raises(FileError) as info:
        read_bytes(b'{"headline": ', name=name, max_bytes=LIMIT)
    assert str(info.value).startswith(f"{name}: invalid_json") and info.value.path == name


def test_with_version_restamps_an_rss_item_keeping_its_id() -> None:
    from streams.sources.readers import with_version

    rss = (
        b'<rss version="2.0"><channel><title>Feed</title><item><title>T</title>'
        b"<guid>urn:rss:1</guid><description>Text.</description><category>a</category>"
        b"</item></channel></rss>"
    )
    [item] = read_bytes(rss, name="feed", max_bytes=LIMIT)
    assert item.article.version is None
    again = with_version(item, 3, LIMIT)
    assert (again.article.version, again.article.id, again.path) == (3, item.article.id, "feed")
    assert list(again.article.provider_subjects) == ["a"]
    assert orjson.loads(again.value)["version"] == 3
    with pytest.raises(FileError, match="invalid_version"):
        with_version(item, 0, LIMIT)


def test_json_lines_with_long_lines_are_told_from_json() -> None:
    long = [art("Long " + str(n), body="x " * 5000) for n in range(2)]  # 10 KB lines
    body = b"\n".join(orjson.dumps(a) for a in long)
    assert detect(body) is READERS["jsonl"]
    assert [i.article.headline for i in read_bytes(body, max_bytes=LIMIT)] == ["Long 0", "Long 1"]
