"""File readers, the publisher and the drop folder, against the real embedded broker."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from schemas.records import Article
from schemas.validation import article_id, parse_article
from streams.broker import BrokerError, EmbeddedBroker, free_port
from streams.settings import Settings
from streams.sources import (
    FAILED_DIR,
    PUBLISHED_DIR,
    FileError,
    PublishReport,
    WatchError,
    find_files,
    load_file,
    publish,
    watch,
)
from streams.sources.dropfolder import _Changed, _read_settled, _signature
from streams.topics import ARTICLES, ensure_topics
from tests.helpers import ROOT, Record, cli, read_topics, worker_env

SEED_TXT = """Turkey, Russia to continue talks for truce in Libya
Foreign ministers meet face-to-face for first time since outbreak

Turkey will continue talks with Russia, the minister said on Monday.

Both sides agreed to keep working together.
"""


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def jsonl(*objects: object) -> str:
    return "".join(json.dumps(o) + "\n" for o in objects)


def art(headline: str, body: object = "Body text.", **extra: object) -> dict[str, object]:
    return {"headline": headline, "body": body, **extra}


# -- readers ----------------------------------------------------------------------------
def test_txt_with_standfirst(tmp_path: Path) -> None:
    [a] = load_file(write(tmp_path / "seed.txt", SEED_TXT))
    assert a.headline == "Turkey, Russia to continue talks for truce in Libya"
    assert a.standfirst == "Foreign ministers meet face-to-face for first time since outbreak"
    assert a.body == (
        "Turkey will continue talks with Russia, the minister said on Monday.\n"
        "Both sides agreed to keep working together."
    )
    assert a.id == article_id(a.headline, a.body)


@pytest.mark.parametrize(
    "text",
    [
        "Headline\nFirst paragraph ends with a full stop.\nSecond paragraph.\n",
        "Headline\n\u201cWe will fight,\u201d he said \u201cto the end\u201d\nMore.\n",
        "Headline\nOnly one more line\n",  # fewer than 3 non-empty lines
    ],
)
def test_txt_without_standfirst(tmp_path: Path, text: str) -> None:
    [a] = load_file(write(tmp_path / "a.txt", text))
    lines = [line for line in text.splitlines() if line]
    assert a.headline == "Headline"
    assert a.standfirst == ""
    assert a.body == "\n".join(lines[1:])


def test_json_object_list_and_jsonl(tmp_path: Path) -> None:
    [one] = load_file(write(tmp_path / "one.json", json.dumps(art("Solo", id="wire-1"))))
    assert (one.id, one.headline) == ("wire-1", "Solo")
    many = load_file(write(tmp_path / "many.json", json.dumps([art("A"), art("B", id=7)])))
    assert [a.headline for a in many] == ["A", "B"] and many[1].id == "7"
    text = "\n" + jsonl(art("L1")) + "\n\n" + jsonl(art("L2"))
    lines = load_file(write(tmp_path / "x.jsonl", text))
    assert [a.headline for a in lines] == ["L1", "L2"]
    nd = load_file(write(tmp_path / "x.NDJSON", jsonl(art("N1", language="EN"))))
    assert nd[0].language == "en"


def test_stable_and_explicit_ids(tmp_path: Path) -> None:
    [a] = load_file(write(tmp_path / "a.txt", "Storm hits coast\nWinds reached 90 mph.\n"))
    spaced = art("  STORM   hits\tcoast ", "winds  reached 90 MPH.")
    [b] = load_file(write(tmp_path / "b.json", json.dumps(spaced)))
    assert a.id == b.id == article_id("Storm hits coast", "Winds reached 90 mph.")
    [c] = load_file(write(tmp_path / "c.json", json.dumps(art("Storm hits coast", id="my-id"))))
    assert c.id == "my-id"


def test_directory_recursion_is_sorted_and_skips_hidden(tmp_path: Path) -> None:
    write(tmp_path / "b.json", json.dumps(art("B")))
    write(tmp_path / "a.txt", "A\nbody.\n")
    write(tmp_path / "sub" / "deeper" / "c.jsonl", jsonl(art("C")))
    write(tmp_path / "sub" / "0.ndjson", jsonl(art("0")))
    write(tmp_path / "notes.md", "# not an article")
    write(tmp_path / ".hidden.json", json.dumps(art("H")))
    write(tmp_path / ".published" / "old.json", json.dumps(art("Old")))
    notes: list[str] = []
    files = find_files([tmp_path], notes)
    assert [p.relative_to(tmp_path).as_posix() for p in files] == [
        "a.txt",
        "b.json",
        "sub/0.ndjson",
        "sub/deeper/c.jsonl",
    ]
    assert len(notes) == 1 and "notes.md" in notes[0]
    assert find_files([tmp_path, tmp_path / "a.txt"]) == files  # no duplicates


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        (
            "bad.jsonl",
            jsonl(art("ok")) + '{"headline": "broken",\n' + jsonl(art("also ok")),
            r"bad\.jsonl: line 2: invalid_json: ",
        ),
        ("type.json", json.dumps(art("x", body=5)), r"type\.json: wrong_type: field 'body'"),
        ("list.json", json.dumps([art("x"), {"headline": "y"}]), r"item 2: missing_field"),
        ("scalar.json", "42", r"scalar\.json: not_an_object"),
        ("utf8.txt", b"Headline\n\xff\xfe body\n", r"utf8\.txt: not valid UTF-8 \(line 2"),
        ("utf8.jsonl", b'{"headline": "a", "body": "\xc3"}\n', r"not valid UTF-8 \(line 1"),
        ("empty.txt", "", r"empty\.txt: empty file"),
        ("blank.jsonl", "\n  \n", r"blank\.jsonl: empty file"),
        ("nohead.json", json.dumps(art("  ")), r"empty_field"),
        ("ctl.txt", "Head\x01line\nbody\n", r"control_characters"),
        ("notes.csv", "a,b\n", r"unsupported file type '\.csv'"),
        ("deep.json", "[" * 3000 + "]" * 3000, r"deep\.json: invalid_json"),
        ("binary.jsonl", bytes(range(256)) * 4, r"binary\.jsonl: not valid UTF-8"),
    ],
)
def test_bad_files_raise_file_error(
    tmp_path: Path, name: str, content: str | bytes, expected: str
) -> None:
    path = write(tmp_path / name, content)
    with pytest.raises(FileError, match=expected) as caught:
        load_file(path)
    assert caught.value.path == str(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_missing_file_and_too_large(tmp_path: Path) -> None:
    with pytest.raises(FileError, match="cannot read"):
        load_file(tmp_path / "nope.json")
    small = Settings(max_article_bytes=300)
    path = write(tmp_path / "big.jsonl", jsonl(art("small")) + jsonl(art("big", "x" * 400)))
    with pytest.raises(FileError, match=r"big\.jsonl: line 2: too_large: .* 300 byte limit"):
        load_file(path, small)
    assert len(load_file(path)) == 2  # fine under the default limit


def test_repo_seeds_all_load() -> None:
    from tests.helpers import SEEDS

    notes: list[str] = []
    files = find_files([SEEDS], notes)
    assert files
    for path in files:
        assert load_file(path)


# -- publishing (real broker) -----------------------------------------------------------
@pytest.fixture(scope="module")
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(port=0) as embedded:
        yield embedded


@pytest.fixture(scope="module")
def settings(broker: EmbeddedBroker) -> Settings:
    settings = Settings(broker=broker.url, partitions=3)
    asyncio.run(ensure_topics(settings, [ARTICLES]))
    return settings


def read_marked(
    settings: Settings, marker: str, expect: set[str], idle: float = 1.0
) -> list[Record]:
    """Records of ``ARTICLES`` whose headline carries ``marker``: wait for ``expect``, then
    keep reading ``idle`` more seconds so that any extra record would show up too."""
    found_at: list[float] = []

    def mine(records: list[Record]) -> list[Record]:
        return [r for r in records if r.value and marker in r.value.get("headline", "")]

    def until(records: list[Record]) -> bool:
        if not found_at and expect <= {r.key for r in mine(records)}:
            found_at.append(time.monotonic())
        return bool(found_at) and time.monotonic() - found_at[0] > idle

    records = asyncio.run(
        read_topics(settings.bootstrap_servers, [ARTICLES], until=until, timeout=20)
    )
    return mine(records)


@pytest.mark.integration
def test_publish_directory_with_one_bad_file(tmp_path: Path, settings: Settings) -> None:
    m = uuid.uuid4().hex[:8]
    write(tmp_path / "a.txt", f"{m} Talks resume in Geneva\nDelegates met on Monday.\n")
    write(tmp_path / "b.json", json.dumps([art(f"{m} B1"), art(f"{m} B2", id="b2-explicit")]))
    write(tmp_path / "sub" / "c.jsonl", jsonl(art(f"{m} C1"), art(f"{m} C2"), art(f"{m} C3")))
    bad = write(
        tmp_path / "sub" / "bad.jsonl",
        jsonl(art(f"{m} X1")) + "{not json}\n" + jsonl(art(f"{m} X3")),
    )
    write(tmp_path / "README.md", "ignored")
    out = io.StringIO()
    report = asyncio.run(publish([tmp_path], settings, out=out, timeout=10))

    assert report.published == 6 and len(report.ids) == 6 and not report.ok
    assert [e.path for e in report.failed_files] == [str(bad)]
    assert f"error: {bad}: line 2: invalid_json" in out.getvalue()
    assert "README.md" in report.notes[0]

    expected = {
        a.id: a for f in ("a.txt", "b.json", "sub/c.jsonl") for a in load_file(tmp_path / f)
    }
    assert set(report.ids) == set(expected) and "b2-explicit" in expected
    records = read_marked(settings, m, set(expected))
    assert sorted(r.key or "" for r in records) == sorted(expected)  # nothing from bad.jsonl
    for r in records:
        assert r.raw is not None
        decoded = parse_article(r.raw, max_bytes=settings.max_article_bytes)
        assert decoded == expected[decoded.id] and r.key == decoded.id


@pytest.mark.integration
def test_publish_many_small_articles_in_bulk(tmp_path: Path, settings: Settings) -> None:
    m = uuid.uuid4().hex[:8]
    n = 5000
    write(tmp_path / "many.jsonl", jsonl(*(art(f"{m} story {i}", f"Body {i}.") for i in range(n))))
    report = asyncio.run(publish([tmp_path], settings, progress=False, out=None, timeout=10))
    assert report.ok and report.published == n and len(set(report.ids)) == n
    # Loose bound: the aim is >= 5,000/s; CI machines vary, one-at-a-time sending is ~10x slower.
    assert n / report.seconds > 1500, report.summary()
    records = read_marked(settings, m, set(report.ids), idle=0.3)
    assert len(records) == n


@pytest.mark.integration
def test_publish_nothing_to_send_does_not_need_a_broker(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.json", "[")
    unreachable = Settings(broker=f"kafka://127.0.0.1:{free_port()}")
    report = asyncio.run(publish([bad], unreachable, out=None, timeout=1))
    assert report.published == 0 and report.errors[0].startswith(f"{bad}: invalid_json")


@pytest.mark.integration
def test_publish_reports_an_unreachable_broker(tmp_path: Path) -> None:
    good = write(tmp_path / "a.json", json.dumps(art("A")))
    port = free_port()
    unreachable = Settings(broker=f"kafka://127.0.0.1:{port}")
    started = time.monotonic()
    message = rf"broker kafka://127\.0\.0\.1:{port} not reachable after 1 s"
    with pytest.raises(BrokerError, match=message):
        asyncio.run(publish([good], unreachable, out=None, timeout=1))
    assert time.monotonic() - started < 5


# -- drop folder ------------------------------------------------------------------------
@pytest.mark.integration
def test_watch_publishes_and_moves_files(tmp_path: Path, settings: Settings) -> None:
    m = uuid.uuid4().hex[:8]
    drop = tmp_path / "drop"
    early = write(drop / "early.txt", f"{m} Already there\nBefore the watcher started.\n")
    good_article = art(f"{m} Dropped later", "Arrived while watching.")
    bad_text = jsonl(art(f"{m} fine")) + '{"headline": 1, "body": "x"}\n'
    out = io.StringIO()

    async def scenario() -> tuple[PublishReport, list[Article]]:
        stop = asyncio.Event()
        fast = settings.model_copy(update={"watch_settle": 0.3})
        task = asyncio.create_task(watch(drop, fast, interval=0.1, stop=stop, out=out))
        await asyncio.sleep(0.3)
        write(drop / "sub" / "good.json", json.dumps(good_article))
        write(drop / "bad.jsonl", bad_text)
        write(drop / "ignored.csv", "a,b")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            done = [
                drop / PUBLISHED_DIR / "early.txt",
                drop / PUBLISHED_DIR / "sub" / "good.json",
                drop / FAILED_DIR / "bad.jsonl.error.txt",
            ]
            if all(p.exists() for p in done):
                break
            await asyncio.sleep(0.05)
        stop.set()
        report = await asyncio.wait_for(task, 10)
        return report, load_file(drop / PUBLISHED_DIR / "sub" / "good.json")

    report, [good] = asyncio.run(scenario())
    assert not early.exists() and not (drop / "sub" / "good.json").exists()
    assert not (drop / "bad.jsonl").exists()
    assert (drop / FAILED_DIR / "bad.jsonl").read_text() == bad_text
    error = (drop / FAILED_DIR / "bad.jsonl.error.txt").read_text()
    assert "bad.jsonl: line 2: wrong_type: field 'headline'" in error
    assert (drop / "ignored.csv").exists() and "ignored.csv" in out.getvalue()

    [early_article] = load_file(drop / PUBLISHED_DIR / "early.txt")
    expected = {early_article.id, good.id}
    assert set(report.ids) == expected
    records = read_marked(settings, m, expected, idle=0.5)
    assert {r.key for r in records} == expected  # the bad file's good line was not sent


# -- a drop folder that only reads regular files inside it ----------------------------------
def watching(
    drop: Path,
    settings: Settings,
    done: Callable[[str], bool],
    *,
    settle: float = 0.2,
    during: Callable[[], Awaitable[None]] | None = None,
    timeout: float = 20,
) -> tuple[PublishReport, str]:
    """Run the watcher on ``drop`` (``during`` runs beside it) until ``done(output)``,
    then stop it; returns its report and output."""
    out = io.StringIO()
    fast = settings.model_copy(update={"watch_settle": settle})

    async def scenario() -> PublishReport:
        stop = asyncio.Event()
        task = asyncio.create_task(watch(drop, fast, interval=0.05, stop=stop, out=out))
        if during is not None:
            await during()
        deadline = time.monotonic() + timeout
        while not done(out.getvalue()) and time.monotonic() < deadline and not task.done():
            await asyncio.sleep(0.05)
        assert done(out.getvalue()), out.getvalue()
        await asyncio.sleep(0.3)  # one more scan or two: anything extra would show
        stop.set()
        return await asyncio.wait_for(task, 10)

    report = asyncio.run(scenario())
    return report, out.getvalue()


@pytest.mark.integration
def test_watch_moves_symlinks_to_failed_without_reading_them(
    tmp_path: Path, settings: Settings
) -> None:
    m = uuid.uuid4().hex[:8]
    outside = tmp_path / "outside"
    secret = write(outside / "secret.txt", f"{m} root:x:0:0:root\nSecret body.\n")
    write(outside / "dir" / "inner.txt", f"{m} inner\nBody.\n")
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "passwd.txt").symlink_to(secret)
    (drop / "linked").symlink_to(outside / "dir", target_is_directory=True)
    (drop / "dangling.json").symlink_to(outside / "missing.json")
    control = write(drop / "control.txt", f"{m} control\nPublished normally.\n")
    [control_article] = load_file(control)
    failed = drop / FAILED_DIR
    report, out = watching(
        drop, settings, lambda _: (drop / PUBLISHED_DIR / "control.txt").exists()
    )
    for name, target in [
        ("passwd.txt", secret),
        ("linked", outside / "dir"),
        ("dangling.json", outside / "missing.json"),
    ]:
        moved = failed / name
        assert moved.is_symlink() and os.readlink(moved) == str(target)  # the link itself
        error = (failed / f"{name}.error.txt").read_text(encoding="utf-8")
        assert error == (
            f"{drop / name}: symlink: a symbolic link; the drop folder publishes regular "
            "files only and did not read it\n"
        )
        assert not (drop / name).is_symlink()
    assert secret.read_text().startswith(f"{m} root:x") and (outside / "dir" / "inner.txt").exists()
    assert report.ids == [control_article.id] and report.published == 1
    assert sorted(e.code for e in report.failed_files) == ["symlink"] * 3
    assert "root:x" not in out
    records = read_marked(settings, m, {control_article.id})
    assert [r.key for r in records] == [control_article.id]  # nothing of the secret


@pytest.mark.integration
def test_watch_skips_a_fifo_without_blocking_and_publishes_later_files(
    tmp_path: Path, settings: Settings
) -> None:
    m = uuid.uuid4().hex[:8]
    drop = tmp_path / "drop"
    drop.mkdir()
    os.mkfifo(drop / "fifo.txt")
    later = drop / "later.json"

    async def drop_later() -> None:
        await asyncio.sleep(0.5)
        write(later, json.dumps(art(f"{m} after the FIFO")))

    report, out = watching(
        drop, settings, lambda _: (drop / PUBLISHED_DIR / "later.json").exists(), during=drop_later
    )
    [article] = load_file(drop / PUBLISHED_DIR / "later.json")
    assert report.ids == [article.id] and report.ok
    assert stat.S_ISFIFO((drop / "fifo.txt").lstat().st_mode)  # left alone
    note = f"skipped {drop / 'fifo.txt'}: a FIFO (named pipe), not a regular file"
    assert report.notes == [note] and out.count(note) == 1
    assert [r.key for r in read_marked(settings, m, {article.id})] == [article.id]


def test_publish_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.txt")
    started = time.monotonic()
    with pytest.raises(FileError, match=r"fifo\.txt: a FIFO \(named pipe\), not a regular file"):
        load_file(tmp_path / "fifo.txt")
    assert time.monotonic() - started < 1


@pytest.mark.integration
def test_watch_publishes_a_file_written_in_two_halves_whole(
    tmp_path: Path, settings: Settings
) -> None:
    """The probe: a .jsonl written in two halves 3 s apart, with the default settle time."""
    m = uuid.uuid4().hex[:8]
    drop = tmp_path / "drop"
    drop.mkdir()
    lines = [json.dumps(art(f"{m} half {i}")) + "\n" for i in range(6)]
    assert Settings().watch_settle == 5.0

    async def write_halves() -> None:
        with open(drop / "halves.jsonl", "w", encoding="utf-8") as fh:
            fh.writelines(lines[:3])
            fh.flush()
            await asyncio.sleep(3)
            fh.writelines(lines[3:])

    published = drop / PUBLISHED_DIR / "halves.jsonl"
    report, _ = watching(
        drop,
        settings,
        lambda _: published.exists(),
        settle=Settings().watch_settle,
        during=write_halves,
    )
    expected = [a.id for a in load_file(published)]
    assert len(expected) == 6 and report.ids == expected and report.published == 6
    records = read_marked(settings, m, set(expected))
    assert sorted(r.key or "" for r in records) == sorted(expected)


@pytest.mark.integration
def test_watch_renamed_dot_files_and_files_written_again(
    tmp_path: Path, settings: Settings
) -> None:
    m = uuid.uuid4().hex[:8]
    drop = tmp_path / "drop"
    drop.mkdir()
    first = f"{m} First version\nThe whole first story.\n"
    second = f"{m} Second version\nA new story under the same name.\n"
    published = drop / PUBLISHED_DIR

    async def writer() -> None:
        # Maildir style: a dot-file is never read; the rename makes it visible, complete
        write(drop / ".story.txt.part", first)
        await asyncio.sleep(0.5)
        os.rename(drop / ".story.txt.part", drop / "story.txt")
        while not (published / "story.txt").exists():
            await asyncio.sleep(0.05)
        write(drop / "story.txt", second)  # the same name again: a new file

    report, out = watching(
        drop, settings, lambda _: (published / "story.1.txt").exists(), settle=0, during=writer
    )
    assert (published / "story.txt").read_text() == first
    assert (published / "story.1.txt").read_text() == second
    ids = [load_file(published / "story.txt")[0].id, load_file(published / "story.1.txt")[0].id]
    assert report.ids == ids and len(set(ids)) == 2
    records = read_marked(settings, m, set(ids))
    assert sorted(r.value["headline"] for r in records) == [
        f"{m} First version",
        f"{m} Second version",
    ]
    assert ".story.txt.part" not in out


@pytest.mark.integration
def test_watch_handles_file_names_that_are_not_utf8(tmp_path: Path, settings: Settings) -> None:
    m = uuid.uuid4().hex[:8]
    drop = tmp_path / "drop"
    bad_name = os.fsdecode(b"caf\xe9 \x01bad.txt")
    good_name = os.fsdecode(b"\xff good.json")
    write(drop / bad_name, b"Headline\n\xff not UTF-8\n")
    write(drop / good_name, json.dumps(art(f"{m} non-UTF-8 name")))
    error_file = drop / FAILED_DIR / (bad_name + ".error.txt")
    report, out = watching(
        drop,
        settings,
        lambda _: error_file.exists() and (drop / PUBLISHED_DIR / good_name).exists(),
    )
    shown_bad = repr(os.fsencode(drop / bad_name))
    text = error_file.read_bytes().decode("utf-8")  # strictly UTF-8
    assert text == f"{shown_bad}: not valid UTF-8 (line 2, byte 9)\n"
    assert (drop / FAILED_DIR / bad_name).read_bytes() == b"Headline\n\xff not UTF-8\n"
    assert f"error: {shown_bad}: not valid UTF-8" in out
    assert all(line.isprintable() for line in out.splitlines())  # the \x01 is escaped
    [article] = load_file(drop / PUBLISHED_DIR / good_name)
    assert report.ids == [article.id]
    assert [r.key for r in read_marked(settings, m, {article.id})] == [article.id]


@pytest.mark.parametrize("folder", [PUBLISHED_DIR, FAILED_DIR])
def test_watch_refuses_a_planted_symlink_for_its_folders(tmp_path: Path, folder: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / folder).symlink_to(outside, target_is_directory=True)
    write(drop / "a.json", json.dumps(art("A")))
    unreachable = Settings(broker=f"kafka://127.0.0.1:{free_port()}")
    with pytest.raises(WatchError) as caught:
        asyncio.run(watch(drop, unreachable, out=None, timeout=1))
    assert str(caught.value) == (
        f"{drop / folder} is not a real directory (a symbolic link or a file): the watcher "
        "will not follow it; remove it and start again"
    )
    assert list(outside.iterdir()) == [] and (drop / "a.json").exists()


@pytest.mark.integration
def test_watch_writes_nothing_through_links_planted_in_its_folders(
    tmp_path: Path, settings: Settings
) -> None:
    m = uuid.uuid4().hex[:8]
    outside = tmp_path / "outside"
    outside.mkdir()
    drop = tmp_path / "drop"
    failed = drop / FAILED_DIR
    failed.mkdir(parents=True)
    # a dangling link where the error file of bad.json would go
    (failed / "bad.json.error.txt").symlink_to(outside / "planted.txt")
    write(drop / "bad.json", "[")
    good = drop / "good.json"

    async def swap_published() -> None:
        while not (failed / "bad.1.json.error.txt").exists():
            await asyncio.sleep(0.05)
        # while running: .published replaced by a link to a folder outside
        (drop / PUBLISHED_DIR).rmdir()
        (drop / PUBLISHED_DIR).symlink_to(outside, target_is_directory=True)
        write(good, json.dumps(art(f"{m} good")))

    report, out = watching(
        drop, settings, lambda out: "could not move" in out, during=swap_published
    )
    assert list(outside.iterdir()) == []  # nothing written through either link
    assert (failed / "bad.1.json").read_text() == "["
    assert (failed / "bad.1.json.error.txt").read_text().startswith(f"{drop / 'bad.json'}: ")
    assert (failed / "bad.json.error.txt").is_symlink()
    assert good.exists()  # published, but left in place: its move was refused ...
    refused = f"{drop / PUBLISHED_DIR} (or a folder in it) is not a real directory"
    assert f"error: could not move {good}: {refused}" in out
    [article] = load_file(good)
    assert report.ids == [article.id]  # ... and not published again on the next scans
    assert [r.key for r in read_marked(settings, m, {article.id})] == [article.id]


def test_a_file_that_changes_while_or_after_it_settled_is_not_read(tmp_path: Path) -> None:
    path = write(tmp_path / "a.jsonl", jsonl(art("one")))
    root = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        settled = _signature(os.lstat(path))
        assert _read_settled(root, ("a.jsonl",), settled) == path.read_bytes()
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(jsonl(art("two")))
        with pytest.raises(_Changed, match="changed since it settled"):
            _read_settled(root, ("a.jsonl",), settled)
        path.unlink()
        path.symlink_to(tmp_path / "elsewhere.jsonl")
        with pytest.raises(_Changed, match="now a symbolic link"):
            _read_settled(root, ("a.jsonl",), settled)
    finally:
        os.close(root)


@pytest.mark.integration
def test_watch_cli_stops_promptly_on_sigint_and_sigterm(tmp_path: Path, settings: Settings) -> None:
    env = worker_env(settings.broker, tmp_path / "data", WIRESTREAM_WATCH_SETTLE="0.2")
    for sig in (signal.SIGINT, signal.SIGTERM):
        drop = tmp_path / f"drop-{sig.name}"
        drop.mkdir()
        os.mkfifo(drop / "fifo.txt")  # a FIFO in the folder must not hang anything
        write(drop / "a.json", json.dumps(art(f"stop test {sig.name}")))
        proc = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "publish", "--watch", str(drop)],
            cwd=ROOT,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while not (drop / PUBLISHED_DIR / "a.json").exists():
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
            sent = time.monotonic()
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=10)
            took = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, err
        assert took < 3, took
        assert "Traceback" not in err
        assert err.splitlines()[-1].startswith("stopped: published 1 article from 1 files")


def test_watch_cli_refuses_a_planted_folder_link_with_one_line(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / PUBLISHED_DIR).symlink_to(tmp_path, target_is_directory=True)
    env = worker_env(f"kafka://127.0.0.1:{free_port()}", tmp_path / "data")
    result = cli(env, "publish", "--watch", str(drop), timeout=60)
    assert result.returncode == 1
    assert result.stderr == (
        f"wirestream publish: {drop / PUBLISHED_DIR} is not a real directory (a symbolic "
        "link or a file): the watcher will not follow it; remove it and start again\n"
    )
