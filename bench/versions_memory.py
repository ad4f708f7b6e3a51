"""Memory of the worker's versions table (agents.versions): resident bytes per remembered
story, with the value encoding the table uses and with ``orjson.dumps`` values.

    python -m bench.versions_memory --entries 100000 --json bench/results/versions_memory.json

Each variant fills a dict (what Faust's memory store is) with ``--entries`` keys of 16
hex digits and ``Known`` values routed to two topics, in a fresh process, and reads
VmRSS from /proc before and after.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

VARIANTS = ("table encoding (json)", "orjson.dumps values")
TOPICS = ("wirestream.enriched", "wirestream.topic.economy")


def _rss_kb() -> int:
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0])


def fill(variant: str, entries: int) -> dict[str, Any]:
    """Fill one table in this process; resident KB before and after."""
    import orjson

    from agents.versions import Known

    before = _rss_kb()
    table: dict[bytes, bytes] = {}
    for n in range(entries):
        key = hashlib.sha256(f"guid-{n}".encode()).hexdigest()[:16].encode()
        known = Known(n % 5 + 1, "usable", TOPICS)
        if variant == VARIANTS[0]:
            table[key] = known.encode()
        else:
            table[key] = orjson.dumps([known.version, known.status, list(known.topics)])
    after = _rss_kb()
    return {"variant": variant, "entries": entries, "rss_kb": after - before}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(fill(args.one, args.entries)))
        return 0
    rows = []
    for variant in VARIANTS:
        done = subprocess.run(
            [sys.executable, "-m", "bench.versions_memory", "--entries", str(args.entries),
             "--one", variant],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        row = json.loads(done.stdout)
        row["bytes_per_entry"] = round(row["rss_kb"] * 1024 / args.entries)
        rows.append(row)
    print(f"{'variant':<24} {'entries':>9} {'RSS MB':>8} {'B/entry':>8}")
    for row in rows:
        mb = row["rss_kb"] / 1024
        print(f"{row['variant']:<24} {row['entries']:>9,} {mb:>8.1f} {row['bytes_per_entry']:>8}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
