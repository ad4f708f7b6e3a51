"""Convert CoNLL-2003, train the wirestream NER and install it in ``nlp/models/ner-conll``.

    python -m training.ner.train --data ../shared/data

Steps: ``training.ner.convert`` (DocBins under ``.cache/ner``, git-ignored), ``spacy
train training/ner/config.cfg`` (one thread, fixed seed; the dev split only picks the
best checkpoint), then the best checkpoint is copied to ``nlp/models/ner-conll`` with its
name and version in meta.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from training.ner import convert

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
MODEL_DIR = ROOT / "nlp" / "models" / "ner-conll"
NAME = "wirestream_ner_conll"
VERSION = "1.0.0"


def train(cache: Path, output: Path) -> None:
    """``spacy train`` on the converted files, single-threaded."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONPATH": str(ROOT),
    }
    subprocess.run(
        [
            sys.executable,
            "-m",
            "spacy",
            "train",
            str(HERE / "config.cfg"),
            "--code",
            str(HERE / "callbacks.py"),
            "--output",
            str(output),
            "--paths.train",
            str(cache / "train.spacy"),
            "--paths.dev",
            str(cache / "dev.spacy"),
        ],
        check=True,
        cwd=ROOT,
        env=env,
    )


def install(best: Path, target: Path = MODEL_DIR) -> None:
    """Copy the best checkpoint to ``target``, named and versioned."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(best, target)
    meta_path = target / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta.update(
        name=NAME,
        version=VERSION,
        description="wirestream NER: en_core_web_sm's NER architecture fine-tuned on "
        "CoNLL-2003 train with OntoNotes-style labels (training/ner)",
        license="MIT",
    )
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache" / "ner")
    parser.add_argument("--model-dir", type=Path, default=MODEL_DIR, help="where to install")
    parser.add_argument("--skip-convert", action="store_true")
    args = parser.parse_args(argv)
    if not args.skip_convert:
        convert.main(["--data", str(args.data), "--out", str(args.cache)])
    output = args.cache / "output"
    train(args.cache, output)
    install(output / "model-best", args.model_dir)
    print(f"installed {args.model_dir}")


if __name__ == "__main__":
    main()
