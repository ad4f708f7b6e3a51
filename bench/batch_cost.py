"""The cost of one NLP batch of articles just under the slow-lane threshold (issue 24):
16 name lists of about 2,000 estimated tokens each (``WIRESTREAM_NLP_SLOW_TOKENS``),
through ``agents.enrich.process_batch`` in one call (``--mode one``: how batches were
run before ``WIRESTREAM_NLP_BATCH_TOKENS``) or cut into calls of at most 4,000 estimated
tokens (``--mode groups``: what the worker does now). Prints wall and CPU seconds and
the peak RSS above the idle process (``VmHWM`` after ``clear_refs``), and writes JSON.

    python bench/batch_cost.py [--mode one|groups|both] [--json OUT]

Each mode runs in a fresh subprocess.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ARTICLES = 16
THRESHOLD = 2_000
CALL_TOKENS = 4_000


def child(mode: str) -> dict[str, Any]:
    os.environ.setdefault("WIRESTREAM_NLP_THREADS", "1")
    import orjson

    from agents.deadletter import Received
    from agents.enrich import get_nlp, get_routes, process_batch
    from agents.lanes import cost_groups, estimated_tokens, is_slow
    from bench.adversarial import PROSE, _reset_peak, _status_kb, distinct_names, joined

    get_nlp()
    get_routes()
    names = distinct_names(9000)

    def message(body: str, i: int) -> Received:
        value = {"id": f"m{i}", "headline": "Results", "body": body, "language": "en"}
        return Received(f"k{i}".encode(), orjson.dumps(value), "wirestream.articles", 0, i, 0.0)

    chars = 20_000
    while is_slow(message(joined(names, ", ", chars), 0).value, THRESHOLD):
        chars -= 200
    batch = [message(joined(names[i * 300 :] + names, ", ", chars), i) for i in range(ARTICLES)]
    process_batch([message(PROSE * 3, 99)])
    idle = _status_kb("VmRSS")
    _reset_peak()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    tokens = [estimated_tokens(m.value, 0) for m in batch]
    groups = cost_groups(tokens, CALL_TOKENS if mode == "groups" else 0)
    for group in groups:
        process_batch(batch[group.start : group.stop])
    return {
        "mode": mode,
        "articles": ARTICLES,
        "chars_each": chars,
        "estimated_tokens_each": max(tokens),
        "calls": len(groups),
        "wall_s": round(time.perf_counter() - wall0, 2),
        "cpu_s": round(time.process_time() - cpu0, 2),
        "idle_mb": round(idle / 1024),
        "peak_above_idle_mb": round((_status_kb("VmHWM") - idle) / 1024, 1),
        "load_average": Path("/proc/loadavg").read_text().split()[:3],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["one", "groups", "both"], default="both")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    results = []
    for mode in ["one", "groups"] if args.mode == "both" else [args.mode]:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
        done = subprocess.run(
            [sys.executable, __file__, "--child", mode],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            check=True,
        )
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print("| mode | calls | chars each | wall s | CPU s | MB above idle | load average |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['mode']} | {r['calls']} | {r['chars_each']:,} | {r['wall_s']} | {r['cpu_s']}"
            f" | {r['peak_above_idle_mb']} | {' '.join(r['load_average'])} |"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
