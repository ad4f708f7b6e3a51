"""The wheel is self-contained (``make wheel-test``; issue 17 item 5).

Builds the sdist and the wheel with ``python -m build`` (on a copy of the sources),
checks that the wheel holds the trained models and every data file, installs it into a
fresh venv in a temp directory (``pip install dist/wirestream-*.whl``; dependencies from
the pip cache or index, as for ``make install``) and runs ``wirestream run --once
seeds/`` there, outside the checkout, on the embedded broker on a free port. Passes when
the command exits 0, says that every seed was routed, and the installed ``nlp`` package
is the venv's, not the checkout's.

    .venv/bin/python tests/wheel/check_wheel.py [--keep]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: Files the wheel must carry (beside the Python modules), as paths inside it.
REQUIRED = [
    "nlp/models/ner-conll/meta.json",
    "nlp/models/ner-conll/config.cfg",
    "nlp/models/ner-conll/tokenizer",
    "nlp/models/ner-conll/ner/model",
    "nlp/models/ner-conll/ner/moves",
    "nlp/models/ner-conll/ner/cfg",
    "nlp/models/ner-conll/vocab/strings.json",
    "nlp/models/ner-conll/vocab/vectors",
    "nlp/models/ner-conll/vocab/vectors.cfg",
    "nlp/models/ner-conll/vocab/key2row",
    "nlp/models/ner-conll/vocab/lookups.bin",
    "nlp/models/topics/meta.json",
    "nlp/models/topics/weights.npz",
    "nlp/models/events/meta.json",
    "nlp/models/events/weights.npz",
    "nlp/models/sentiment/meta.json",
    "nlp/models/sentiment/weights.npz",
    "nlp/models/sentiment/recurrent.json",
    "nlp/models/sentiment/recurrent.npz",
    "nlp/data/aliases.toml",
    "nlp/data/languages.toml",
    "nlp/data/limits.toml",
    "nlp/data/taxonomy.toml",
    "nlp/data/topics.toml",
    "agents/data/routes.toml",
    "schemas/article.v1.json",
    "schemas/enriched-article.v1.json",
    "schemas/enriched-article.v2.json",
    "schemas/deadletter.v1.json",
    "streams/kafka/pom.xml",
    "schemas/article.v2.json",
    "schemas/enriched-article.v3.json",
]


def say(text: str) -> None:
    print(f"wheel-test: {text}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: What the build reads, copied out of the checkout so that building writes nothing in it.
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "streams", "agents", "nlp", "schemas")


def build(src: Path, out: Path) -> Path:
    """``python -m build`` (sdist, then the wheel from it) on a copy of the sources in
    ``src``, into ``out``; the wheel."""
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(ROOT / name, src / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(src)], check=True)
    [wheel] = sorted(out.glob("wirestream-*.whl"))
    return wheel


def check_contents(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        raise SystemExit(f"wheel-test: {wheel.name} lacks {missing}")
    models = sorted(n for n in names if n.startswith("nlp/models/"))
    say(f"{wheel.name}: {len(names)} files, {len(models)} under nlp/models, all data files")
    for tree in ("tests/", "bench/", "training/"):
        if any(n.startswith(tree) for n in names):
            raise SystemExit(f"wheel-test: {wheel.name} holds {tree} (not runtime code)")


def install(wheel: Path, venv: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, str(wheel)], check=True)
    return python


def clean_env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WIRESTREAM_", "PYTHON"))}
    env.update(
        WIRESTREAM_BROKER=f"kafka://127.0.0.1:{free_port()}",
        WIRESTREAM_DATA_DIR=str(work / "data"),
        WIRESTREAM_APP_ID="wirestream-wheel-test",
        # This checks packaging, not speed: on a loaded machine the default 10 s per batch
        # dead-letters seeds (enrichment_timeout) that a quiet one enriches in time.
        WIRESTREAM_NLP_DEADLINE="120",
    )
    return env


def run_seeds(python: Path, work: Path, env: dict[str, str]) -> None:
    where = subprocess.run(
        [str(python), "-c", "import nlp, agents, streams; print(nlp.__file__)"],
        cwd=work,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not where.startswith(str(python.parents[1])):
        raise SystemExit(f"wheel-test: nlp imported from {where}, not from the venv")
    say(f"nlp imported from {where}")
    seeds = work / "seeds"
    shutil.copytree(ROOT / "seeds", seeds)
    # distinct article ids: the wire seeds hold two versions of one story and a kill
    from streams.sources import find_files, load_items

    expected = len({i.article.id for path in find_files([seeds]) for i in load_items(path)})
    wirestream = python.parent / "wirestream"
    result = subprocess.run(
        [str(wirestream), "run", "--once", "--timeout", "300", "seeds/"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    print(result.stdout[-4000:], result.stderr[-2000:], sep="\n")
    routed = re.search(r"all (\d+) articles routed", result.stdout)
    if result.returncode != 0 or routed is None or int(routed.group(1)) != expected:
        log = work / "data" / "worker.log"
        if log.exists():
            print(log.read_text(encoding="utf-8", errors="replace")[-4000:])
        raise SystemExit(
            f"wheel-test: run --once exited {result.returncode}, "
            f"routed {routed.group(1) if routed else 'no'} of {expected} seeds"
        )
    say(f"run --once from {work}: exit 0, all {expected} seeds routed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the temp directory")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wirestream-wheel-test-"))
    try:
        wheel = build(work / "src", work / "dist")
        check_contents(wheel)
        python = install(wheel, work / "venv")
        (work / "run").mkdir()
        run_seeds(python, work / "run", clean_env(work / "run"))
    finally:
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
