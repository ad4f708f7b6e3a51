"""Hostile inputs: time and peak memory of the worker's own code path per article.

Each case is one article whose body is a pathological text (issue 24's table and more:
punctuation runs, no sentence boundaries, no spaces, thousands of names, mixed scripts,
control characters, HTML-like junk, results tables...), built at ``--chars`` characters
(100,000 by default, ``WIRESTREAM_MAX_BODY_CHARS``). Every case runs in a fresh
subprocess, which loads the pipeline, enriches one normal article (warm-up), then runs
the case through ``agents.enrich.process_batch`` (decode, NLP, routing: what a worker's
NLP process runs, with no Kafka and no guard) and reports:

- wall and CPU seconds of that one ``process_batch`` call (on a busy machine the CPU
  time is what the case would take on a core of its own);
- peak RSS above idle: the process's resident-set high-water mark (``VmHWM``, reset by
  ``/proc/self/clear_refs`` after the warm-up) minus its RSS before the case;
- what came out: entities, events, the ``limits`` the record says applied, or the
  dead-letter reason.

The goal is at most 2 s and 200 MB above idle for every case. A case that runs past
``--timeout`` seconds is killed and reported as a timeout. Usage (from the repository
root, with the project's ``.venv``)::

    python bench/adversarial.py [--json OUT] [--cases NAME,...] [--chars 100000]
    python bench/adversarial.py --list
    python bench/adversarial.py --table OUT     # the table of a saved run

The long normal-text cases (``bbc_long``) read BBC News articles from ``--data`` by
path (default ``../shared/data``); they are skipped when the file is not there.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

GOAL_SECONDS = 2.0
GOAL_MB = 200.0
DEFAULT_CHARS = 100_000
DEFAULT_TIMEOUT = 60.0
LOAD_TIMEOUT = 600.0  # seconds a case's process may take to load the pipeline
DEFAULT_DATA = ROOT.parent / "shared" / "data"
HEADLINE = "Wire test article"

# -- the catalogue ------------------------------------------------------------------------


def fill(unit: str, n: int) -> str:
    """``unit`` repeated and cut to exactly ``n`` characters."""
    return (unit * (n // max(1, len(unit)) + 1))[:n]


def joined(items: Sequence[str], sep: str, n: int) -> str:
    """Items joined by ``sep`` (cycled if they run out), cut to ``n`` characters."""
    out: list[str] = []
    size = i = 0
    while size < n:
        item = items[i % len(items)]
        out.append(item)
        size += len(item) + len(sep)
        i += 1
    return sep.join(out)[:n]


_FIRST = [
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "William",
    "Elizabeth",
    "David",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Christopher",
    "Nancy",
    "Daniel",
    "Lisa",
    "Matthew",
    "Betty",
    "Anthony",
    "Margaret",
    "Mark",
    "Sandra",
    "Donald",
    "Ashley",
    "Steven",
    "Kimberly",
    "Paul",
    "Emily",
    "Andrew",
    "Donna",
    "Joshua",
    "Michelle",
    "Kenneth",
    "Dorothy",
    "Kevin",
    "Carol",
    "Brian",
    "Amanda",
    "George",
    "Melissa",
    "Edward",
    "Deborah",
    "Ronald",
    "Stephanie",
    "Timothy",
    "Rebecca",
    "Jason",
    "Sharon",
    "Jeffrey",
    "Laura",
    "Ryan",
    "Cynthia",
    "Jacob",
    "Kathleen",
    "Gary",
    "Amy",
    "Nicholas",
    "Shirley",
    "Eric",
    "Angela",
    "Jonathan",
    "Helen",
    "Stephen",
    "Anna",
    "Larry",
    "Brenda",
    "Justin",
    "Pamela",
    "Scott",
    "Nicole",
    "Brandon",
    "Emma",
    "Benjamin",
    "Samantha",
    "Samuel",
    "Katherine",
    "Gregory",
    "Christine",
    "Frank",
    "Debra",
    "Alexander",
    "Rachel",
    "Raymond",
    "Catherine",
    "Patrick",
    "Carolyn",
    "Jack",
    "Janet",
    "Dennis",
    "Ruth",
    "Jerry",
    "Maria",
]
_LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Gomez",
    "Phillips",
    "Evans",
    "Turner",
    "Diaz",
    "Parker",
    "Cruz",
    "Edwards",
    "Collins",
    "Reyes",
    "Stewart",
    "Morris",
    "Morales",
    "Murphy",
    "Cook",
    "Rogers",
    "Gutierrez",
    "Ortiz",
    "Morgan",
    "Cooper",
    "Peterson",
    "Bailey",
    "Reed",
    "Kelly",
    "Howard",
    "Ramos",
    "Kim",
    "Cox",
    "Ward",
    "Richardson",
    "Watson",
    "Brooks",
    "Chavez",
    "Wood",
    "James",
    "Bennett",
    "Gray",
    "Mendoza",
    "Ruiz",
    "Hughes",
    "Price",
    "Alvarez",
    "Castillo",
    "Sanders",
    "Patel",
    "Myers",
    "Long",
    "Ross",
    "Foster",
]
_CITIES = [
    "Chicago",
    "Houston",
    "Pittsburgh",
    "Boston",
    "Denver",
    "Seattle",
    "Atlanta",
    "Miami",
    "Dallas",
    "Detroit",
    "Phoenix",
    "Toronto",
    "Montreal",
    "Vancouver",
    "Baltimore",
    "Cleveland",
    "Milwaukee",
    "Minnesota",
    "Oakland",
    "Tampa",
]
_PARTIES = ("Labour", "Conservative", "Liberal Democrat", "Green", "Reform", "Independent")
_TOWNS = ("Leeds", "York", "Hull", "Bradford", "Wakefield", "Harrogate", "Selby", "Ripon")
#: A normal wire paragraph (original text) for the "prose" cases.
PROSE = (
    "The finance minister said on Tuesday that the government would cut spending next "
    "year after talks with the International Monetary Fund in Washington. Opposition "
    "leaders in Lima condemned the plan, and unions called a strike for Friday. "
    "Police arrested three protesters outside parliament, officials said.\n"
)
#: One sentence with two event triggers (attack, protest), as in the issue.
EVENT_SENTENCE = "Rebels attacked the town and residents protested in the square. "


def distinct_names(count: int) -> list[str]:
    """``count`` distinct "First Last" names (first names cycle fastest)."""
    names = [f"{f} {s}" for s in _LAST for f in _FIRST]
    out = names[:count]
    k = 2
    while len(out) < count:  # more than first x last: add a middle initial
        out.extend(f"{f} {chr(63 + k)}. {s}" for s in _LAST for f in _FIRST)
        k += 1
    return out[:count]


def election_results(n: int) -> str:
    names = distinct_names(4000)
    lines = []
    for i, name in enumerate(names):
        party = _PARTIES[i % len(_PARTIES)]
        lines.append(f"{name} ({party}) {1000 + 37 * i:,} votes {i % 97 / 2:.1f}%")
    return joined(lines, "\n", n)


def casualty_list(n: int) -> str:
    names = distinct_names(4000)
    lines = [f"{name}, {18 + i % 70}, of {_TOWNS[i % len(_TOWNS)]}" for i, name in enumerate(names)]
    return "The dead were named as: " + joined(lines, "; ", n - 24)


def sports_results(n: int) -> str:
    lines = []
    for i in range(3000):
        home, away = _CITIES[i % 20], _CITIES[(i * 7 + 3) % 20]
        lines.append(f"{home} {i % 9} {away.upper()} {(i * 5) % 7}")
    return joined(lines, "\n", n)


def league_table(n: int) -> str:
    lines = []
    for i in range(3000):
        won, lost = 50 + i % 40, 40 + i % 30
        lines.append(f"{_CITIES[i % 20].upper()} {won} {lost} .{(1000 * won) // (won + lost)}")
    return joined(lines, "\n", n)


def number_table(n: int) -> str:
    rows = [
        f"{i:>6} {i * 1.5:>10.2f} {-(i % 13) / 10:>6.1f} {i * 12345:>14,} {i % 7 / 3:.3f}"
        for i in range(5000)
    ]
    return joined(rows, "\n", n)


def no_sentence_boundaries(n: int) -> str:
    words = PROSE.lower().replace(",", "").replace(".", "").split()
    return joined(words, " ", n)


def html_junk(n: int) -> str:
    unit = (
        '<div class="story"><p style="margin:0">Markets <b>rallied</b> &amp; '
        '<a href="https://example.com/a?b=1&c=2">shares</a> rose</p></div><br/><!-- x -->'
    )
    return fill(unit, n)


def long_url(n: int) -> str:
    return "https://example.com/" + fill("path/to/a-very-long_resource?id=123&q=abc%20def&", n - 20)


def mixed_scripts(n: int) -> str:
    words = [
        "Москва",
        "Αθήνα",
        "القاهرة",
        "東京",
        "서울",
        "Paris",
        "ירושלים",
        "दिल्ली",
        "Bangkokกรุงเทพ",
        "Zürich",
    ]
    return joined(words, " ", n)


def cjk(n: int) -> str:
    return fill(
        "北京时间周二上午国务院总理在人民大会堂会见了来访的外国代表团双方就经贸合作交换意见。", n
    )


def rtl(n: int) -> str:
    return fill("قال وزير الخارجية يوم الثلاثاء إن المحادثات ستستمر في القاهرة. ", n)


def control_chars(n: int) -> str:
    """Controls that pass validation (C0 ones other than tab, LF and CR are refused)."""
    return fill("Minister\tsaid\r\x85talks\u2028will\u2029go\x9bon\x80in\x85Lima\r\n", n)


def brackets_nested(n: int) -> str:
    half = n // 2
    return "(" * half + ")" * (n - half)


def brackets_mixed(n: int) -> str:
    return fill("([{<", n)


def normal_long(n: int) -> str:
    """Seed articles (original text, committed) concatenated: long but normal wire copy."""
    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "seeds").glob("*.txt"))]
    return joined(texts, "\n", n)


def bbc_long(n: int, data: Path) -> str:
    """BBC News dev articles concatenated (read by path; never stored)."""
    path = data / "bbc" / "bbc.dev.jsonl"
    parts: list[str] = []
    size = 0
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            record = json.loads(line)
            parts.append(f"{record['headline']}\n{record['body']}")
            size += len(parts[-1]) + 1
            if size >= n:
                break
    return "\n".join(parts)[:n]


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    build: Callable[[int], str]
    language: str | None = "en"


def _cases(data: Path) -> list[Case]:
    names9000 = distinct_names(9000)
    return [
        # issue 24's table
        Case("x_newlines", '"x\\n" x 50,000', lambda n: fill("x\n", n)),
        Case("emoji", "one emoji x 100,000", lambda n: fill("\U0001f600", n)),
        Case("punct_run", '"!?.,;:" x 16,666', lambda n: fill("!?.,;:", n)),
        Case("open_paren", '"(" x 100,000, no language', lambda n: fill("(", n), None),
        Case("john_smith_comma", '"John Smith, " repeated', lambda n: fill("John Smith, ", n)),
        Case("washington", '"Washington" x 9,000', lambda n: joined(["Washington"], " ", n)),
        Case(
            "distinct_names", "9,000 distinct names, commas", lambda n: joined(names9000, ", ", n)
        ),
        Case("event_sentence", "two event triggers x 1,500+", lambda n: fill(EVENT_SENTENCE, n)),
        Case("equals", '"=" run, no language', lambda n: fill("=", n), None),
        Case(
            "john_smith_and",
            '"John Smith and " repeated, no language',
            lambda n: fill("John Smith and ", n),
            None,
        ),
        # runs of one character or token
        Case("dots", '"." run', lambda n: fill(".", n)),
        Case("hyphens", '"-" run', lambda n: fill("-", n)),
        Case("quotes", "'\"' run", lambda n: fill('"', n)),
        Case("apostrophes", '"\'" run', lambda n: fill("'", n)),
        Case("slashes", '"/" run, no language', lambda n: fill("/", n), None),
        Case("digits", '"1234567890" run (one token)', lambda n: fill("1234567890", n)),
        Case("no_spaces", "letters, no spaces (one token)", lambda n: fill("abcdefghij", n)),
        Case("long_words", "1,000-letter words", lambda n: joined(["w" * 1000], " ", n)),
        Case("hyphen_chain", '"a-" chain', lambda n: fill("a-", n)),
        Case("abbreviations", '"U.S. " repeated', lambda n: fill("U.S. ", n)),
        Case("the_repeated", '"the " repeated', lambda n: fill("the ", n)),
        Case("spaces", "a space run between two words", lambda n: "a" + " " * (n - 2) + "b"),
        Case(
            "blank_lines", "a newline run between two words", lambda n: "a" + "\n" * (n - 2) + "b"
        ),
        Case("tabs_words", '"word\\t" repeated', lambda n: fill("word\t", n)),
        # structure
        Case("no_boundaries", "prose without punctuation or line breaks", no_sentence_boundaries),
        Case("one_long_line", "prose, no line breaks", lambda n: fill(PROSE.strip() + " ", n)),
        Case("prose_repeated", "one normal paragraph repeated", lambda n: fill(PROSE, n)),
        Case(
            "capitalised", "Title Case words", lambda n: fill("The Quick Brown Fox Jumps Over ", n)
        ),
        Case("all_caps", "ALL CAPITALS words", lambda n: fill("BREAKING NEWS FROM LONDON ", n)),
        # many entities
        Case("election_results", "election results list", election_results),
        Case("casualty_list", "casualty list", casualty_list),
        Case("sports_results", '"Chicago 4 HOUSTON 3" lines', sports_results),
        Case("league_table", '"CHICAGO 72 64 .529" lines', league_table),
        Case("names_and", "distinct names joined by and", lambda n: joined(names9000, " and ", n)),
        Case("names_lines", "one distinct name per line", lambda n: joined(names9000, "\n", n)),
        Case(
            "orgs_repeated",
            '"the United Nations and NATO" repeated',
            lambda n: fill("the United Nations and NATO said ", n),
        ),
        Case(
            "event_triggers",
            "event trigger words only",
            lambda n: fill("attack protest strike election earthquake flood killed signed ", n),
        ),
        # numbers and junk
        Case("number_table", "numeric table", number_table),
        Case("currency", '"$1,234.56 " repeated', lambda n: fill("$1,234.56 ", n)),
        Case("html_junk", "HTML-like markup", html_junk),
        Case("long_url", "one long URL", long_url),
        Case("emails", "email addresses", lambda n: fill("john.smith@example.com ", n)),
        Case("hashtags", "#hashtags and @handles", lambda n: fill("#breaking @newsdesk ", n)),
        Case("base64", "base64 blob", lambda n: fill("QmFzZTY0IGJsb2IgZGF0YQ+/", n)),
        # scripts and invisible characters
        Case("mixed_scripts", "Cyrillic, Greek, Arabic, CJK, Hebrew... words", mixed_scripts),
        Case("cjk", "Chinese text, no spaces", cjk),
        Case("rtl", "Arabic text", rtl),
        Case("zero_width", "words split by zero-width spaces", lambda n: fill("word\u200b", n)),
        Case("zero_width_run", "zero-width space run", lambda n: fill("\u200b", n)),
        Case("combining", "combining accents stacked", lambda n: fill("e\u0301\u0308\u0323", n)),
        Case("control_chars", "tab, CR, NEL, C1 controls, U+2028", control_chars),
        Case("brackets_nested", '"(" x n/2 then ")" x n/2', brackets_nested),
        Case("brackets_mixed", '"([{<" repeated', brackets_mixed),
        # long normal text (references)
        Case("seeds_long", "the seed articles concatenated", normal_long),
        Case("bbc_long", "BBC News dev articles concatenated", lambda n: bbc_long(n, data)),
    ]


# -- one case, in a fresh process ---------------------------------------------------------


def _status_kb(field: str) -> int:
    """A ``/proc/self/status`` field in kB (``VmRSS``, ``VmHWM``)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _reset_peak() -> bool:
    """Reset ``VmHWM`` to the current RSS (Linux 4.0+); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def run_child(case: Case, chars: int) -> dict[str, Any]:
    """Load the pipeline, warm up, then time one ``process_batch`` on the case."""
    os.environ.setdefault("WIRESTREAM_NLP_THREADS", "1")
    import orjson

    from agents.deadletter import Received
    from agents.enrich import get_nlp, get_routes, process_batch
    from streams.topics import DEADLETTER, ENRICHED

    get_nlp()
    get_routes()
    body = case.build(chars)
    article: dict[str, Any] = {"id": f"adv-{case.name}", "headline": HEADLINE, "body": body}
    if case.language is not None:
        article["language"] = case.language
    warm = {"id": "warm", "headline": HEADLINE, "body": PROSE * 3, "language": "en"}

    def message(value: dict[str, Any], offset: int) -> Received:
        return Received(b"k", orjson.dumps(value), "wirestream.articles", 0, offset, time.time())

    process_batch([message(warm, 0)])
    print("ready", flush=True)  # the parent's --timeout counts from here
    idle_kb = _status_kb("VmRSS")
    exact = _reset_peak()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    out = process_batch([message(article, 1)])
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    peak_kb = _status_kb("VmHWM") if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result: dict[str, Any] = {
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "idle_mb": round(idle_kb / 1024, 1),
        "peak_above_idle_mb": round(max(0, peak_kb - idle_kb) / 1024, 1),
        "peak_exact": exact,
        "body_chars": len(body),
        "language": case.language,
    }
    for topic, _, value in out:
        record = orjson.loads(value or b"null")
        if topic == DEADLETTER:
            result["deadletter"] = record["reason"]["code"]
        elif topic == ENRICHED:
            result.update(
                entities=len(record["entities"]),
                mentions=sum(e["count"] for e in record["entities"]),
                events=len(record["events"]),
                topics=[t["slug"] for t in record["topics"]],
                truncated=record["truncated"],
                limits=record.get("limits", []),
                detected=record["language"],
            )
    return result


# -- the runner ---------------------------------------------------------------------------


def run_case(name: str, chars: int, timeout: float, data: Path) -> dict[str, Any]:
    """One case in a fresh subprocess, killed ``timeout`` seconds after it has loaded the
    pipeline and warmed up (loading gets ``LOAD_TIMEOUT`` seconds of its own: on a busy
    machine it alone can take a minute)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", name]
    command += ["--chars", str(chars), "--data", str(data)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert child.stdout is not None
    ready: list[str] = []
    reader = threading.Thread(target=lambda: ready.append(child.stdout.readline()))  # type: ignore[union-attr]
    reader.start()
    reader.join(LOAD_TIMEOUT)
    started = time.perf_counter()
    try:
        out, err = child.communicate(timeout=timeout if ready else 0.1)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        return {
            "case": name,
            "status": "timeout",
            "elapsed_s": round(time.perf_counter() - started),
        }
    lines = out.strip().splitlines()
    if child.returncode != 0 or not lines:
        tail = err.strip().splitlines()[-1:] or ["no output"]
        return {"case": name, "status": "error", "error": tail[0][:200]}
    return {"case": name, "status": "ok", **json.loads(lines[-1])}


def passed(result: dict[str, Any]) -> bool:
    return (
        result["status"] == "ok"
        and "deadletter" not in result
        and result["wall_s"] <= GOAL_SECONDS
        and result["peak_above_idle_mb"] <= GOAL_MB
    )


def table_row(case: Case, r: dict[str, Any]) -> str:
    """One markdown row of the results table."""
    if r["status"] != "ok":
        detail = r.get("error", f"killed after {r.get('elapsed_s')} s")
        return f"| `{case.name}` | {case.what} | {r['status']} | | | | | {detail} | FAIL |"
    if "deadletter" in r:
        out = f"dead letter: {r['deadletter']}"
    else:
        limits = ", ".join(r["limits"]) or "-"
        out = f"{r['entities']} ent, {r['events']} ev; limits: {limits}"
    mark = "pass" if passed(r) else "FAIL"
    lang = r["language"] or f"(none: {r.get('detected', '?')})"
    return (
        f"| `{case.name}` | {case.what} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | "
        f"{r['peak_above_idle_mb']:.0f} | "
        f"{lang} | {r['body_chars']:,} | {out} | {mark} |"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--cases", help="comma-separated case names (default: all)")
    parser.add_argument("--chars", type=int, default=DEFAULT_CHARS, help="body characters")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per case")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="evaluation data dir")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--table", type=Path, help="print the table of a saved --json file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    catalogue = {c.name: c for c in _cases(args.data)}
    if args.child:
        print(json.dumps(run_child(catalogue[args.child], args.chars)))
        return 0
    if args.table:
        saved = json.loads(args.table.read_text(encoding="utf-8"))
        print("| case | body | wall s | CPU s | MB above idle | language | chars | result | goal |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in saved["cases"]:
            print(table_row(catalogue[r["case"]], r))
        print(f"{saved['passed']} of {len(saved['cases'])} cases within the goal")
        return 0
    if args.list:
        for case in catalogue.values():
            print(f"{case.name:20} {case.language or '-':4} {case.what}")
        return 0
    names = args.cases.split(",") if args.cases else list(catalogue)
    unknown = [n for n in names if n not in catalogue]
    if unknown:
        parser.error(f"unknown cases: {', '.join(unknown)} (see --list)")
    if "bbc_long" in names and not (args.data / "bbc" / "bbc.dev.jsonl").is_file():
        print(f"skipping bbc_long: no {args.data}/bbc/bbc.dev.jsonl", file=sys.stderr)
        names.remove("bbc_long")
    load_before = os.getloadavg()
    print(
        f"{len(names)} cases at {args.chars:,} characters; goal <= {GOAL_SECONDS:g} s and "
        f"<= {GOAL_MB:g} MB above idle; load average {load_before[0]:.2f}"
    )
    print("| case | body | wall s | CPU s | MB above idle | language | chars | result | goal |")
    print("|---|---|---|---|---|---|---|---|---|")
    results = []
    for name in names:
        r = run_case(name, args.chars, args.timeout, args.data)
        results.append(r)
        print(table_row(catalogue[name], r), flush=True)
    ok = sum(passed(r) for r in results)
    print(f"{ok} of {len(results)} cases within the goal")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "load_average_before": [round(x, 2) for x in load_before],
                "load_average_after": [round(x, 2) for x in os.getloadavg()],
            },
            "chars": args.chars,
            "timeout_s": args.timeout,
            "goal": {"wall_s": GOAL_SECONDS, "peak_above_idle_mb": GOAL_MB},
            "passed": ok,
            "cases": [
                {**r, "what": catalogue[r["case"]].what, "passed": passed(r)} for r in results
            ],
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0 if ok == len(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
