"""Train the GRU half of the target sentiment model and write ``nlp/models/sentiment/recurrent.*``.

    pip install -e '.[train]'      # training only; the pipeline runs it with numpy
    PYTHONPATH=. python -m training.sentiment.teacher          # the transfer set, once
    PYTHONPATH=. OMP_NUM_THREADS=1 python -m training.sentiment.recurrent --cv 5

Fits on NewsMTSC ``train.jsonl`` (gold labels; targets that share their sentence with a
target of another label get weight ``contrast_weight``, so the GRU learns to tell targets
apart rather than read the sentence's tone) plus, with weight ``transfer_weight``, the
teacher's class probabilities for ``transfer_targets`` Reuters-21578 and BBC News targets
(``.cache/sentiment/transfer.jsonl``, written by :mod:`training.sentiment.teacher`), with
the inputs :mod:`nlp.recurrent` describes (computed by
:class:`training.sentiment.train.Featurised`, the same encoder as the sparse model).
``--cv K`` first prints, on K folds by sentence, the cross-validated macro-F1 of the
sparse model (``nlp/models/sentiment/``, settings ``config.json``), of the GRU and of their
mix for each weight in ``--mix-grid``: the figures the shipped ``mix`` was chosen by (the
transfer set joins every training fold). Then it trains on all of train, prints
devtest_mt macro-F1 (never trained on) for the sparse model, the GRU and the mix, checks
that the numpy inference gives the PyTorch model's probabilities, and writes the weights
(settings: ``recurrent.json``).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nlp.recurrent import (
    ARRAYS,
    MEMBER_ARRAYS,
    POSITION_BUCKETS,
    RecurrentModel,
    mix_probabilities,
    pool_members,
    word_ids,
)
from nlp.sentiment import TARGET_CLASSES
from training import ROOT, model_parser, read_config
from training.sentiment.train import (
    CONFIG as SPARSE_CONFIG,
)
from training.sentiment.train import (
    Featurised,
    Target,
    load_sparse_probabilities,
    out_of_fold,
    scores,
    sentence_folds,
)

CONFIG = Path(__file__).resolve().parent / "recurrent.json"
FloatArray = npt.NDArray[np.float32]


#: One target's GRU inputs before the learned embeddings are looked up: fixed columns,
#: word ids, target's first and last word, class probabilities to learn, example weight.
Item = tuple[FloatArray, npt.NDArray[np.int64], int, int, FloatArray, float]


class Examples:
    """Targets as GRU inputs. The labels to learn are the gold ones as one-hot rows, or
    ``soft`` (targets, classes) probabilities (the teacher's) with weight ``weight``."""

    def __init__(
        self,
        data: Featurised,
        bits: int,
        mean: FloatArray,
        scale: FloatArray,
        soft: FloatArray | None = None,
        weight: float = 1.0,
        contrast_weight: float = 1.0,
    ):
        self.items: list[Item] = []
        weights = np.full(len(data.labels), weight, dtype=np.float32)
        if soft is None:
            weights[contrasted(data.sentences, data.labels)] *= contrast_weight
            soft = np.eye(len(TARGET_CLASSES), dtype=np.float32)[
                [TARGET_CLASSES.index(label) for label in data.labels]
            ]
        # Inputs per sentence, shared by all of its targets.
        inputs = [
            (
                np.concatenate(
                    [(sentence.vectors - mean) * scale, sentence.valences[:, None]], axis=1
                ).astype(np.float32),
                word_ids(sentence.words, bits),
            )
            for sentence in data.tokens
        ]
        for sentence_id, (start, end), target, w in zip(
            data.sentences, data.spans, soft, weights, strict=True
        ):
            fixed, ids = inputs[sentence_id]
            self.items.append((fixed, ids, start, end, target, float(w)))


def contrasted(sentences: list[int], labels: list[str]) -> npt.NDArray[np.bool_]:
    """Which targets share their sentence with a target of another gold label."""
    seen: dict[int, set[str]] = {}
    for sentence, label in zip(sentences, labels, strict=True):
        seen.setdefault(sentence, set()).add(label)
    return np.array([len(seen[s]) > 1 for s in sentences], dtype=bool)


def read_transfer(path: Path, limit: int) -> tuple[list[Target], FloatArray]:
    """The first ``limit`` targets of the teacher's transfer set
    (``training/sentiment/teacher.py``) and its class probabilities for each."""
    if not path.is_file():
        raise SystemExit(
            f"{path} is missing: run `python -m training.sentiment.teacher` first "
            "(or --set transfer_weight=0 to train on NewsMTSC alone)"
        )
    targets: list[Target] = []
    probs: list[list[float]] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if len(targets) >= limit:
                break
            row = json.loads(line)
            p = row["probs"]
            label = TARGET_CLASSES[int(np.argmax(p))]
            targets.append((row["sentence"], int(row["from"]), int(row["to"]), label))
            probs.append(p)
    return targets, np.asarray(probs, dtype=np.float32).reshape(-1, len(TARGET_CLASSES))


def build_network(config: dict[str, Any], width: int) -> Any:
    """The PyTorch module (imported here: torch is a training-only dependency)."""
    import torch
    from torch import nn

    hidden = int(config["hidden"])

    class Network(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            # Rows start as random vectors (N(0, 1)): even a word seen once has its own.
            self.words = nn.Embedding(1 << int(config["bits"]), int(config["word_dim"]))
            self.positions = nn.Embedding(POSITION_BUCKETS, int(config["position_dim"]))
            size = width + 1 + int(config["position_dim"]) + 1 + int(config["word_dim"])
            self.drop = nn.Dropout(float(config["dropout"]))
            self.gru = nn.GRU(size, hidden, batch_first=True, bidirectional=True)
            self.att = nn.Linear(4 * hidden, 1)
            self.out = nn.Linear(6 * hidden, len(TARGET_CLASSES))

        def forward(self, fixed: Any, ids: Any, pos: Any, inside: Any, mask: Any) -> Any:
            x = torch.cat([fixed, self.positions(pos), inside[..., None], self.words(ids)], dim=-1)
            lengths = mask.sum(1).long().cpu()
            packed = nn.utils.rnn.pack_padded_sequence(
                self.drop(x), lengths, batch_first=True, enforce_sorted=False
            )
            # Packed: the backward GRU starts at each row's last real token, as at run time.
            states, _ = nn.utils.rnn.pad_packed_sequence(
                self.gru(packed)[0], batch_first=True, total_length=x.shape[1]
            )
            target = (states * inside[..., None]).sum(1) / inside.sum(1, keepdim=True).clamp(min=1)
            keys = torch.cat([states, target[:, None].expand_as(states)], dim=-1)
            energy = self.att(keys).squeeze(-1).masked_fill(mask == 0, -1e9)
            context = (torch.softmax(energy, dim=1)[..., None] * states).sum(1)
            peak = states.masked_fill(mask[..., None] == 0, -1e9).max(1).values
            return self.out(self.drop(torch.cat([target, context, peak], dim=-1)))

    return Network()


def batch(items: list[Item]) -> tuple[list[Any], Any, Any]:
    """Padded tensors (fixed inputs, word ids, position buckets, target flags, mask),
    class probabilities to learn and example weights."""
    import torch

    from nlp.recurrent import position_buckets

    steps = max(len(it[1]) for it in items)
    width = items[0][0].shape[1]
    fixed = np.zeros((len(items), steps, width), dtype=np.float32)
    ids = np.zeros((len(items), steps), dtype=np.int64)
    pos = np.zeros((len(items), steps), dtype=np.int64)
    inside = np.zeros((len(items), steps), dtype=np.float32)
    mask = np.zeros((len(items), steps), dtype=np.float32)
    for i, (f, w, start, end, _, _) in enumerate(items):
        n = len(w)
        fixed[i, :n], ids[i, :n], mask[i, :n] = f, w, 1.0
        pos[i, :n] = position_buckets(n, start, end)
        inside[i, start:end] = 1.0
    labels = torch.from_numpy(np.stack([it[4] for it in items]))
    weights = torch.tensor([it[5] for it in items], dtype=torch.float32)
    return [torch.from_numpy(a) for a in (fixed, ids, pos, inside, mask)], labels, weights


def fit(items: list[Item], config: dict[str, Any], seed: int) -> Any:
    """Adam on the weighted cross-entropy against each item's class probabilities,
    batches of similar length (shuffled chunks sorted by length)."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    network = build_network(config, items[0][0].shape[1] - 1)
    optimiser = torch.optim.Adam(network.parameters(), lr=float(config["learning_rate"]))
    size = int(config["batch_size"])
    for _ in range(int(config["epochs"])):
        network.train()
        order = rng.permutation(len(items))
        batches: list[list[int]] = []
        for c in range(0, len(order), size * 20):
            chunk = sorted(order[c : c + size * 20].tolist(), key=lambda i: len(items[i][1]))
            batches += [chunk[s : s + size] for s in range(0, len(chunk), size)]
        for b in rng.permutation(len(batches)):
            inputs, labels, weights = batch([items[i] for i in batches[b]])
            logp = torch.log_softmax(network(*inputs), dim=-1)
            loss = (-(labels * logp).sum(dim=1) * weights).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    network.eval()
    return network


def fit_members(items: list[Item], config: dict[str, Any], seed: int) -> list[Any]:
    """``members`` networks, member k fitted with seed ``seed + 1000 k``."""
    return [fit(items, config, seed + 1000 * k) for k in range(int(config["members"]))]


def torch_probabilities(networks: list[Any], items: list[Item]) -> FloatArray:
    """The networks' class probabilities averaged as the pipeline does
    (:func:`nlp.recurrent.pool_members`)."""
    import torch

    order = sorted(range(len(items)), key=lambda i: len(items[i][1]))
    out = np.zeros((len(networks), len(items), len(TARGET_CLASSES)), dtype=np.float32)
    with torch.no_grad():
        for s in range(0, len(order), 128):
            idx = order[s : s + 128]
            inputs, _, _ = batch([items[i] for i in idx])
            for k, network in enumerate(networks):
                out[k, idx] = network(*inputs).numpy()
    return pool_members(out)


def export(
    networks: list[Any], config: dict[str, Any], mean: FloatArray, scale: FloatArray
) -> RecurrentModel:
    """One model holding every network as a member."""
    members: list[dict[str, FloatArray]] = []
    for network in networks:
        state = {k: v.detach().numpy().astype(np.float32) for k, v in network.state_dict().items()}
        arrays = {
            "words": state["words.weight"],
            "positions": state["positions.weight"],
            "att_w": state["att.weight"][0],
            "att_b": state["att.bias"],
            "out_w": state["out.weight"],
            "out_b": state["out.bias"],
        }
        for way, suffix in (("fwd", ""), ("bwd", "_reverse")):
            arrays[way + "_ih"] = state["gru.weight_ih_l0" + suffix]
            arrays[way + "_hh"] = state["gru.weight_hh_l0" + suffix]
            arrays[way + "_bih"] = state["gru.bias_ih_l0" + suffix]
            arrays[way + "_bhh"] = state["gru.bias_hh_l0" + suffix]
        members.append(arrays)
    stacked = {k: np.stack([m[k] for m in members]) for k in MEMBER_ARRAYS}
    stacked |= {"mean": mean.astype(np.float32), "scale": scale.astype(np.float32)}
    assert set(stacked) == set(ARRAYS)
    return RecurrentModel(stacked, {"bits": int(config["bits"]), "mix": float(config["mix"])})


def numpy_probabilities(model: RecurrentModel, data: Featurised) -> FloatArray:
    rows = [
        model.inputs(data.tokens[s], start, end)
        for s, (start, end) in zip(data.sentences, data.spans, strict=True)
    ]
    return (
        np.concatenate([model.proba(rows[i : i + 256]) for i in range(0, len(rows), 256)])
        if rows
        else np.zeros((0, len(TARGET_CLASSES)), dtype=np.float32)
    )


def main(argv: list[str] | None = None) -> int:
    parser = model_parser(__doc__, "sentiment", CONFIG, data="newsmtsc")
    parser.add_argument("--cv", type=int, default=0, help="also print K-fold CV on train")
    parser.add_argument(
        "--mix-grid",
        type=float,
        nargs="*",
        default=[0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8, 0.9],
        help="--cv: weights",
    )
    parser.add_argument(
        "--oof", type=Path, help="--cv: also save the out-of-fold probabilities (.npz) here"
    )
    args = parser.parse_args(argv)
    config = read_config(args.config, args.set)
    sparse_config = read_config(SPARSE_CONFIG, [])
    started = time.perf_counter()
    data = Featurised(args.data / "train.jsonl")
    dev = Featurised(args.data / "devtest_mt.jsonl")
    vectors = np.concatenate([s.vectors for s in data.tokens])
    mean = vectors.mean(axis=0)
    scale = (1.0 / (vectors.std(axis=0) + 1e-6)).astype(np.float32)
    bits = int(config["bits"])
    contrast = float(config["contrast_weight"])
    train_items = Examples(data, bits, mean, scale, contrast_weight=contrast).items
    dev_items = Examples(dev, bits, mean, scale).items
    meta: dict[str, Any] = {"config": config, "trained_on": "NewsMTSC train.jsonl"}
    transfer_items: list[Item] = []
    if float(config["transfer_weight"]) > 0:
        targets, soft = read_transfer(ROOT / config["transfer"], int(config["transfer_targets"]))
        transfer = Featurised(targets)
        transfer_items = Examples(
            transfer, bits, mean, scale, soft, float(config["transfer_weight"])
        ).items
        meta["trained_on"] += (
            f" and the teacher's labels for {len(transfer_items)}"
            " Reuters-21578 and BBC News targets"
        )
        print(f"{len(transfer_items)} transfer targets", file=sys.stderr)
    if args.cv > 1:
        fold = sentence_folds(data.sentences, args.cv)
        sparse = out_of_fold(data, sparse_config, args.cv)
        gru = np.zeros_like(sparse)
        for f in range(args.cv):
            fit_idx, test_idx = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
            items = [train_items[i] for i in fit_idx] + transfer_items
            networks = fit_members(items, config, int(config["seed"]) + f)
            gru[test_idx] = torch_probabilities(networks, [train_items[i] for i in test_idx])
            print(f"fold {f + 1}/{args.cv} done", file=sys.stderr)
        if args.oof:
            np.savez(args.oof, sparse=sparse, gru=gru, labels=np.asarray(data.labels))
        table = {"sparse": scores(data.labels, sparse), "gru": scores(data.labels, gru)}
        for w in args.mix_grid:
            table[f"mix {w}"] = scores(data.labels, mix_probabilities(sparse, gru, w))
        for name, s in table.items():
            print(
                f"{args.cv}-fold CV on train, {name:8s} macro-F1 {s['macro_f1']:.4f}  "
                f"accuracy {s['accuracy']:.4f}",
                file=sys.stderr,
            )
        meta[f"cv{args.cv}_train"] = {
            name: {k: round(v, 4) for k, v in s.items()} for name, s in table.items()
        }
    networks = fit_members(train_items + transfer_items, config, int(config["seed"]))
    model = export(networks, config, mean, scale)
    reference = torch_probabilities(networks, dev_items)
    gru = numpy_probabilities(model, dev)
    gap = float(np.abs(gru - reference).max()) if len(gru) else 0.0
    if gap > 1e-4:
        raise SystemExit(f"numpy inference differs from PyTorch by {gap:.2e}")
    sparse = load_sparse_probabilities(dev)
    dev_scores = {
        "sparse": scores(dev.labels, sparse),
        "gru": scores(dev.labels, gru),
        "mix": scores(dev.labels, mix_probabilities(sparse, gru, model.weight)),
    }
    for name, s in dev_scores.items():
        print(f"devtest_mt, {name:6s} macro-F1 {s['macro_f1']:.4f}", file=sys.stderr)
    print(f"({time.perf_counter() - started:.0f} s; numpy gap {gap:.1e})", file=sys.stderr)
    model.meta.update(meta)
    model.meta["devtest_mt_macro_f1"] = {k: round(v["macro_f1"], 4) for k, v in dev_scores.items()}
    if args.out.name != "-":
        model.save(args.out)
        print(f"wrote {args.out}/recurrent.*", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
