"""Wire-format readers (ninjs 1.x/2.x/3.x, NewsML-G2, RSS 2.0, Atom 1.0) on documents in
the shapes of the IPTC's published examples (tests/streams/wire_samples/README.md) and on
hand-made edge cases, through the one entry point ``read_bytes``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from schemas.validation import guid_id
from streams.sources.readers import (
    READERS,
    FileError,
    Loaded,
    detect,
    load_items,
    read_bytes,
    skipped_of,
)
from streams.sources.wire.text import html_text

SAMPLES = Path(__file__).parent / "wire_samples"
LIMIT = 1_000_000


def read(raw: bytes, fmt: str | None = None) -> list[Loaded]:
    return read_bytes(raw, name="doc", fmt=fmt, max_bytes=LIMIT)


def sample(name: str) -> list[Loaded]:
    return read((SAMPLES / name).read_bytes())


def fields(item: Loaded) -> dict[str, Any]:
    data = dict(item.article.to_representation())
    data.pop("__faust", None)
    data["provider_subjects"] = list(data["provider_subjects"])
    return data


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("ninjs-1.6-complex.json", "ninjs"),
        ("ninjs-2.0-html.json", "ninjs"),
        ("ninjs-3.0-text.json", "ninjs"),
        ("ninjs-3.3-photo.json", "ninjs"),
        ("newsml-item-nitf.xml", "newsml"),
        ("newsml-message.xml", "newsml"),
        ("rss.xml", "rss"),
        ("atom.xml", "atom"),
    ],
)
def test_each_sample_is_detected_by_content(name: str, fmt: str) -> None:
    assert detect((SAMPLES / name).read_bytes()) is READERS[fmt]


def test_ninjs_1x_with_a_picture_association() -> None:
    [item] = sample("ninjs-1.6-complex.json")
    uri = "http://ninjs.example.com/newsitems/20261203harbour1"
    assert fields(item) == {
        "id": guid_id(uri),
        "headline": "Harbour authority approves new container terminal",
        "standfirst": "The terminal will double the port's capacity by 2029",
        "body": "PORT ELLERY (TNA) -- The harbour authority approved a new container terminal"
        " on Thursday.\nConstruction is due to begin in the spring.",
        "source": "The News Agency",
        "url": "",
        "published_at": "2026-12-03T09:30:00Z",
        "language": "en",
        "byline": "Dana Whitfield",
        "guid": uri,
        "version": 1,
        "version_created": "2026-12-03T09:40:00Z",
        "status": "usable",
        "provider_subjects": ["medtop:04000000", "medtop:20000565"],
    }
    assert item.key == guid_id(uri).encode()


def test_ninjs_2x_html_body_loses_tags_scripts_and_styles() -> None:
    [item] = sample("ninjs-2.0-html.json")
    a = item.article
    assert a.body == (
        "Rail workers in Norland will strike for 48 hours from Monday, their union said.\n"
        "The dispute is over pay & rosters \u2013 talks broke down on Tuesday."
    )
    assert (a.headline, a.standfirst, a.byline, a.source) == (
        "Norland rail workers to strike for 48 hours",
        "Union says talks on pay have failed",
        "By Sam Okafor, TNA",
        "TNA",
    )
    assert (a.version, a.language, a.published_at, a.version_created) == (
        2,
        "en",
        "2026-12-02T18:00:00+01:00",
        "2026-12-03T08:05:00+01:00",
    )
    # a literal subject is a name, not a code: only the Media Topic URI becomes a code
    assert list(a.provider_subjects) == ["medtop:09000000"]


def test_ninjs_3x_camel_case_prefers_the_plain_body() -> None:
    [item] = sample("ninjs-3.0-text.json")
    a = item.article
    assert a.body == (
        "La bibliothèque municipale de Valmont a rouvert ses portes mardi.\n"
        "Les travaux ont coûté 4 millions d'euros."
    )
    assert (a.version, a.status, a.language, a.source, a.byline) == (
        3,
        "usable",
        "fr",
        "Example Wire",
        "Claire Marchand",
    )
    assert a.published_at == "2026-12-03T07:15:00Z"  # firstCreated, not versionCreated
    assert list(a.provider_subjects) == ["medtop:01000000"]


def test_a_ninjs_picture_is_skipped_with_a_count_not_refused() -> None:
    items = sample("ninjs-3.3-photo.json")
    assert list(items) == []
    assert skipped_of(items) == ["picture http://ninjs.example.com/newsitems/20261203ph7: not text"]


def test_newsml_news_item_with_nitf() -> None:
    [item] = sample("newsml-item-nitf.xml")
    guid = "urn:newsml:acmewire.example:20261203:CENTRAL-BANK"
    assert fields(item) == {
        "id": guid_id(guid),
        "headline": 'Central bank holds rates, signals "patience"',
        "standfirst": "Policy makers left the main rate at 3.25%",
        "body": "(New York, NY - December 3) The central bank left its main interest rate"
        " unchanged on Wednesday & said it would be patient.\nMarkets had expected the decision.",
        "source": "Acme Wire Ltd",
        "url": "",
        "published_at": "2026-12-03T13:12:21-05:00",
        "language": "en",
        "byline": "By Mira Jameson, Staff Reporter",
        "guid": guid,
        "version": 4,
        "version_created": "2026-12-03T16:25:32-05:00",
        "status": "usable",
        "provider_subjects": ["medtop:04000000", "medtop:20000350"],
    }


def test_newsml_message_with_a_package_a_picture_xhtml_and_inline_data() -> None:
    items = sample("newsml-message.xml")
    flood, brief = (i.article for i in items)
    assert flood.guid == "urn:newsml:acmewire.example:20261203:FLOOD"
    assert flood.body == (
        "River Alder bursts its banks\n"
        "The River Alder burst its banks in three towns overnight.\n"
        "Emergency services evacuated about 800 homes\nand opened two shelters."
    )  # XHTML: head, title, style and script gone; <br/> ends a line
    assert "alert" not in flood.body and "margin" not in flood.body
    assert (flood.standfirst, flood.byline, flood.source, flood.version) == (
        "Hundreds of homes evacuated overnight",
        "Priya Natarajan",
        "Acme Wire",
        2,
    )
    assert list(flood.provider_subjects) == ["medtop:03000000", "medtop:20000148"]
    assert brief.body == (
        "All schools in Aldbury will stay closed on Thursday.\n"
        "The council will decide on Friday's opening in the evening."
    )
    assert (brief.language, brief.published_at) == ("en", "2026-12-03T10:30:00Z")
    assert skipped_of(items) == [
        "packageItem urn:newsml:acmewire.example:20261203:PKG-17: not a news item",
        "picture urn:newsml:acmewire.example:20261203:FLOOD-PIC: not text",
    ]


def test_rss_items_with_content_encoded_a_title_less_item_and_a_podcast() -> None:
    items = sample("rss.xml")
    lanes, market = (i.article for i in items)
    assert (lanes.headline, lanes.url, lanes.guid, lanes.byline, lanes.source) == (
        "Valmont council approves new cycle lanes",
        "https://gazette.example/2026/12/03/cycle-lanes",
        "https://gazette.example/2026/12/03/cycle-lanes",
        "Ines Ferreira",
        "Valmont Gazette",
    )
    assert lanes.body == (
        "Valmont's council approved 12 km of protected cycle lanes on Wednesday.\n"
        "Work starts in March & ends in 2028."
    )
    assert lanes.standfirst == "Councillors voted 21 to 9 for 12 km of lanes."
    assert (lanes.published_at, lanes.language, lanes.version) == (
        "2026-12-03T09:30:00+01:00",
        "en",
        None,  # RSS has no versions: the feed poller counts them
    )
    assert list(lanes.provider_subjects) == ["transport"]  # "Town Hall" is not a code
    # RSS allows an item without a title: the first sentence stands in
    assert market.headline == "The Valmont market hall will close for repairs in January."
    assert market.id == guid_id("gazette-2026-1203-market")
    assert market.published_at == "2026-12-03T08:00:00+00:00"
    assert skipped_of(items) == ["audio gazette-podcast-49: not text"]


def test_atom_entries_xhtml_html_summary_and_a_video() -> None:
    items = sample("atom.xml")
    moon, glacier = (i.article for i in items)
    assert (moon.headline, moon.standfirst, moon.url, moon.byline) == (
        "Telescope finds icy moon around distant planet",
        "Astronomers report the first icy moon seen outside the solar system",
        "https://science.example/2026/icy-moon",
        "Tomas Lind",
    )
    assert moon.body == (
        "Astronomers said on Thursday they had found an icy moon.\n"
        "The moon orbits a planet 600 light years away."
    )
    assert (moon.published_at, moon.version_created, moon.language, moon.source) == (
        "2026-12-03T09:00:00Z",
        "2026-12-03T11:30:00Z",
        "en",
        "Northern Science Desk",
    )
    assert moon.id == guid_id("urn:uuid:5b1f0a44-entry-4c1e-9a0b-000000000101")
    assert list(moon.provider_subjects) == ["medtop:13000000"]
    # summary only: it is the body; the feed's author stands in for the entry's
    assert (glacier.body, glacier.standfirst, glacier.byline) == (
        "A three-year survey of 40 glaciers began on Wednesday.",
        "",
        "Science Desk",
    )
    assert skipped_of(items) == ["video tag:science.example,2026:video-7: not text"]


# -- edge cases ---------------------------------------------------------------------------
NEWS_ITEM = """<newsItem xmlns="http://iptc.org/std/nar/2006-10-01/" guid="{guid}" version="{v}">
<itemMeta><itemClass qcode="ninat:text"/><versionCreated>2026-12-03T10:00:00Z</versionCreated>
<pubStatus qcode="stat:{status}"/></itemMeta>
<contentMeta>{headline}</contentMeta>
<contentSet>{content}</contentSet></newsItem>"""


def news_item(
    *,
    guid: str = "urn:x:1",
    v: int = 1,
    status: str = "usable",
    headline: str = "<headline>Ferry service resumes</headline>",
    content: str = '<inlineData contenttype="text/plain">Ferries run again.</inlineData>',
) -> bytes:
    return NEWS_ITEM.format(
        guid=guid, v=v, status=status, headline=headline, content=content
    ).encode()


def test_missing_headline_is_refused_for_newsml_and_ninjs_naming_the_item() -> None:
    with pytest.raises(FileError) as info:
        read(news_item(headline=""))
    assert info.value.code == "missing_field"
    assert str(info.value) == "doc: missing_field: required field 'headline' is missing"
    two = orjson.dumps(
        [
            {"uri": "urn:a", "type": "text", "headlines": [{"value": "A"}], "body_text": "x."},
            {"uri": "urn:b", "type": "text", "body_text": "Body without a headline."},
        ]
    )
    with pytest.raises(FileError, match=r"^doc: item 2 \(urn:b\): missing_field: .*'headline'"):
        read(two)


def test_nitf_headline_stands_in_for_a_missing_content_meta_headline() -> None:
    nitf = (
        '<inlineXML contenttype="application/nitf+xml"><nitf><body><body.head><hedline>'
        "<hl1>Bridge reopens after repairs</hl1></hedline></body.head><body.content>"
        "<p>The bridge reopened.</p></body.content></body></nitf></inlineXML>"
    )
    [item] = read(news_item(headline="", content=nitf))
    assert (item.article.headline, item.article.body) == (
        "Bridge reopens after repairs",
        "The bridge reopened.",
    )


def test_body_only_in_html_entities_decoded_script_and_style_gone() -> None:
    doc = {
        "uri": "urn:html-only",
        "headline": "Museum opens",
        "body_html": "<div><p>The museum&#39;s doors opened at 9&nbsp;am.</p>"
        "<style>.x{}</style><ul><li>Free entry</li><li>Caf&eacute; open</li></ul>"
        "<script>var s = '<p>not text</p>';</script></div>",
    }
    [item] = read(orjson.dumps(doc))
    assert item.article.body == (
        "The museum's doors opened at 9 am.\nFree entry\nCaf\u00e9 open"  # nbsp: a space
    )
    assert html_text("<p>a <b>b</b>\n c</p><p></p><p>d</p>") == "a b c\nd"


def test_nested_ninjs_packages_give_their_text_items() -> None:
    package = {
        "uri": "urn:pkg:outer",
        "type": "composite",
        "headlines": [{"value": "Election night"}],
        "associations": {
            "lead": {
                "uri": "urn:pkg:inner",
                "type": "composite",
                "associations": [
                    {
                        "name": "story",
                        "uri": "urn:story:1",
                        "type": "text",
                        "headlines": [{"value": "Turnout hits record"}],
                        "bodies": [{"contentType": "text/plain", "value": "Turnout was 81%."}],
                        "version": "2",
                    },
                    {"name": "pic", "uri": "urn:pic:1", "type": "picture"},
                ],
            },
            "video": {"uri": "urn:vid:1", "type": "video"},
        },
    }
    items = read(orjson.dumps(package))
    assert [(i.article.guid, i.article.headline, i.article.version) for i in items] == [
        ("urn:story:1", "Turnout hits record", 2)
    ]
    assert skipped_of(items) == ["picture urn:pic:1: not text", "video urn:vid:1: not text"]
    empty = {"uri": "urn:pkg:2", "type": "composite", "associations": {"p": {"type": "picture"}}}
    items = read(orjson.dumps(empty))
    assert list(items) == []
    assert skipped_of(items) == ["picture (no uri): not text", "composite urn:pkg:2: no text"]


def test_non_text_newsml_items_and_a_lone_package_are_skipped() -> None:
    for item_class in ("picture", "video", "audio", "graphic"):
        doc = news_item().replace(b"ninat:text", f"ninat:{item_class}".encode())
        items = read(doc)
        assert list(items) == [] and skipped_of(items) == [f"{item_class} urn:x:1: not text"]
    package = (
        b'<packageItem xmlns="http://iptc.org/std/nar/2006-10-01/" guid="urn:p:1">'
        b'<groupSet root="G1"><group id="G1"><itemRef residref="urn:x:1"/></group></groupSet>'
        b"</packageItem>"
    )
    items = read(package)
    assert list(items) == [] and skipped_of(items) == ["packageItem urn:p:1: not a news item"]


def test_a_kill_without_text_is_read_with_its_status() -> None:
    [kill] = read(news_item(v=3, status="canceled", headline="", content=""))
    assert (kill.article.status, kill.article.version, kill.article.headline) == (
        "canceled",
        3,
        "[canceled]",
    )
    assert kill.key == guid_id("urn:x:1").encode()
    [held] = read(orjson.dumps({"uri": "urn:y", "version": "2", "pubStatus": "withheld"}))
    assert (held.article.status, held.article.version) == ("withheld", 2)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (
            news_item().replace(b' xmlns="http://iptc.org/std/nar/2006-10-01/"', b""),
            "wrong_namespace: <newsItem> is in the namespace '(none)', not NewsML-G2's",
        ),
        (
            news_item().replace(b"2006-10-01", b"2008-01-01"),
            "wrong_namespace: <newsItem> is in the namespace 'http://iptc.org/std/nar/2008-01-01/'",
        ),
        (
            (SAMPLES / "atom.xml").read_bytes().replace(b"http://www.w3.org/2005/Atom", b"urn:x"),
            "wrong_namespace: <feed> is in the namespace 'urn:x', not Atom's",
        ),
        (
            b'<rss xmlns="urn:x" version="2.0"><channel/></rss>',
            "wrong_namespace: <rss> is in the namespace 'urn:x'; RSS 2.0 has none",
        ),
    ],
)
def test_a_wrong_namespace_is_refused(raw: bytes, reason: str) -> None:
    with pytest.raises(FileError) as info:
        read(raw)
    assert info.value.code == "wrong_namespace"
    assert str(info.value).startswith(f"doc: {reason}")


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE newsItem [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<newsItem xmlns="http://iptc.org/std/nar/2006-10-01/" guid="urn:lol"><contentMeta>
<headline>&lol9;</headline></contentMeta></newsItem>"""


def test_billion_laughs_is_refused_without_expanding() -> None:
    started = time.monotonic()
    with pytest.raises(FileError) as info:
        read(BILLION_LAUGHS)
    assert time.monotonic() - started < 1.0
    assert info.value.code == "unsafe_xml"
    assert str(info.value) == (
        "doc: unsafe_xml: refused: the XML declares the entity 'lol' (entity expansion and"
        " external resources are not allowed)"
    )
    # detected as NewsML-G2 by its DOCTYPE, forced formats refuse it the same way
    for fmt in ("newsml", "rss", "atom"):
        with pytest.raises(FileError, match="unsafe_xml"):
            read(BILLION_LAUGHS, fmt=fmt)


class _Hits(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.hits.append(self.path)
        body = b'<!ENTITY leak "LEAKED-BY-DTD">'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def dtd_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hits)
    _Hits.hits = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_external_entities_are_refused_without_resolving_anything(
    tmp_path: Path, dtd_server: str
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-MARKER-7")
    rss = (
        '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "{url}">]><rss version="2.0">'
        "<channel><title>t</title><item><title>&x;</title><description>d</description>"
        "</item></channel></rss>"
    )
    for url in (secret.as_uri(), f"{dtd_server}/entity"):
        with pytest.raises(FileError) as info:
            read(rss.format(url=url).encode())
        assert info.value.code == "unsafe_xml"
        assert "declares the external entity 'x'" in str(info.value)
        assert "SECRET-MARKER-7" not in str(info.value)
    # a parameter entity and an external DTD: nothing is fetched either
    param = (
        f'<!DOCTYPE rss [<!ENTITY % p SYSTEM "{dtd_server}/p.dtd"> %p;]>'
        '<rss version="2.0"><channel><item><title>T</title></item></channel></rss>'
    )
    with pytest.raises(FileError, match="unsafe_xml"):
        read(param.encode())
    external_dtd = (
        f'<!DOCTYPE rss SYSTEM "{dtd_server}/evil.dtd">'
        '<rss version="2.0"><channel><item><title>Plain title</title></item></channel></rss>'
    )
    [item] = read(external_dtd.encode())
    assert item.article.headline == "Plain title"
    assert _Hits.hits == []


def test_malformed_xml_and_unknown_xml_are_one_line_errors() -> None:
    with pytest.raises(FileError) as info:
        read(b'<rss version="2.0"><channel><item></channel></rss>')
    assert info.value.code == "invalid_xml"
    assert str(info.value).startswith("doc: invalid_xml: not well-formed XML: mismatched tag")
    with pytest.raises(FileError) as info:
        read(b"<html><body><p>hello</p></body></html>")
    assert info.value.code == "unsupported"
    assert "\n" not in str(info.value)


def test_wire_files_are_read_from_disk_by_content(tmp_path: Path) -> None:
    # ninjs in a .json file, RSS in a .xml file, Atom forced on an unknown extension
    (tmp_path / "story.json").write_bytes((SAMPLES / "ninjs-3.0-text.json").read_bytes())
    (tmp_path / "feed.xml").write_bytes((SAMPLES / "rss.xml").read_bytes())
    (tmp_path / "feed.dat").write_bytes((SAMPLES / "atom.xml").read_bytes())
    assert [i.article.version for i in load_items(tmp_path / "story.json")] == [3]
    assert len(load_items(tmp_path / "feed.xml")) == 2
    assert len(load_items(tmp_path / "feed.dat", fmt="atom")) == 2
    with pytest.raises(FileError, match="not an RSS 2.0 document"):
        load_items(tmp_path / "feed.dat", fmt="rss")


# -- publishing the wire seeds (real broker) ----------------------------------------------
@pytest.mark.integration
def test_publish_cli_reads_the_wire_seeds_and_counts_what_it_skips(tmp_path: Path) -> None:
    """``wirestream publish seeds/wire`` (content detection) and ``--format``: every
    version and the kill are published under their story's id; the picture is skipped
    and counted, not an error."""
    from streams.broker import EmbeddedBroker
    from streams.settings import Settings
    from streams.topics import ARTICLES
    from tests.helpers import SEEDS, cli, read, worker_env

    with EmbeddedBroker(port=0) as broker:
        env = worker_env(broker.url, tmp_path / "data")
        done = cli(env, "publish", str(SEEDS / "wire"), "--quiet")
        assert done.returncode == 0, done.stderr
        assert "published 9 articles to wirestream.articles; 0 file(s) failed;" in done.stderr
        assert "1 non-text item(s) skipped" in done.stderr
        assert (
            f"skipped: {SEEDS / 'wire' / '104_newsml_mayor-inquiry.xml'}: picture"
            " urn:wirestream:seed:2026:mayor-inquiry-photo: not text"
        ) in done.stderr
        records = read(
            Settings(broker=broker.url).bootstrap_servers,
            [ARTICLES],
            until=lambda rs: len(rs) >= 9,
            timeout=30,
        )
        story = guid_id("urn:wirestream:seed:2026:harbour-terminal")
        kill = guid_id("urn:wirestream:seed:2026:mayor-inquiry")
        by_key: dict[str, list[tuple[Any, Any]]] = {}
        for r in records:
            by_key.setdefault(r.key, []).append((r.value["version"], r.value["status"]))
        assert len(records) == 9 and len(by_key) == 7
        assert by_key[story] == [(1, "usable"), (2, "usable")]
        assert by_key[kill] == [(1, "usable"), (2, "canceled")]
        # --format forces one reader: the RSS file read as Atom is refused, nothing sent
        forced = cli(
            env, "publish", str(SEEDS / "wire" / "106_rss_valmont-gazette.rss"), "--format", "atom"
        )
        assert forced.returncode == 1
        assert "unsupported: <rss> is not an Atom feed or entry" in forced.stderr
        unknown = cli(env, "publish", str(SEEDS / "wire"), "--format", "csv")
        assert unknown.returncode == 2
        assert (
            unknown.stderr.strip()
            .splitlines()[-1]
            .endswith("unknown format 'csv' (use text, json, jsonl, ninjs, newsml, rss, atom)")
        )


def test_hostile_nesting_depth_is_read_without_exhausting_the_stack() -> None:
    depth = 100_000
    xhtml = (
        '<inlineXML contenttype="application/xhtml+xml"><html xmlns="http://www.w3.org/1999/xhtml">'
        "<body>" + "<div>" * depth + "Deep text." + "</div>" * depth + "</body></html></inlineXML>"
    )
    [item] = read(news_item(content=xhtml))
    assert item.article.body == "Deep text."
    html = "<div>" * depth + "Deep <b>html</b>." + "</div>" * depth
    [item] = read(orjson.dumps({"uri": "urn:deep", "headline": "Deep", "body_html": html}))
    assert item.article.body == "Deep html."
