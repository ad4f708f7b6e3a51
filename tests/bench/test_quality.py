"""The benchmark's scoring code on tiny hand-written inputs (no dataset text, no model).

Each test writes its own few lines in ``tmp_path`` and checks exact computed values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import events_eval, quality
from bench.events_eval import Snippet, evaluate_predictions, read_case, score

CONLL = """-DOCSTART- -X- -X- O

Anna NNP B-NP B-PER
Berg NNP I-NP I-PER
visited VBD B-VP O
Oslo NNP B-NP B-LOC
. . O O

Acme NNP B-NP B-ORG
hired VBD B-VP O
Tom NNP B-NP B-PER
. . O O
"""

CASE = (
    "id\tEventSnippet\tSubType\n"
    "1\tTroops and rebels traded fire near the river.\tARMED_CLASH\n"
    "2\tA crowd marched peacefully through the square.\tPEACE_PROTEST\n"
    "3\tJets struck a depot at dawn.\tAIR_STRIKE\n"
)

NEWSMTSC = [
    {"primary_gid": "a", "sentence_normalized": "Mr Lind praised the plan.",
     "targets": [{"from": 3, "to": 7, "mention": "Lind", "polarity": 6.0}]},
    {"primary_gid": "b", "sentence_normalized": "Ms Ode attacked the bill.",
     "targets": [{"from": 3, "to": 6, "mention": "Ode", "polarity": 2.0}]},
    {"primary_gid": "c", "sentence_normalized": "Mr Vale spoke on Monday.",
     "targets": [{"from": 3, "to": 7, "mention": "Vale", "polarity": 4.0}]},
]  # fmt: skip

GEOVIRUS = """<?xml version='1.0' encoding='utf-8'?>
<articles><article><source>x</source>
<text>A tornado hit Paris on Monday. Officials in Texas said roofs were torn off.</text>
<locations>
<location><name>Paris</name><start>14</start><end>19</end><lat>33.66</lat><lon>-95.55</lon><page/></location>
<location><name>Texas</name><start>44</start><end>49</end><lat>31</lat><lon>-100</lon><page/></location>
</locations></article>
<article><source>y</source><text>Cholera spread in Zqxwland and Kenya.</text>
<locations>
<location><name>Zqxwland</name><start>18</start><end>26</end><lat>1</lat><lon>1</lon><page/></location>
<location><name>Kenya</name><start>31</start><end>36</end><lat>1</lat><lon>38</lon><page/></location>
</locations></article></articles>
"""

BBC = [
    {"id": "b1", "category": "sport", "headline": "Side wins cup", "body": "The side won."},
    {"id": "b2", "category": "business", "headline": "Shares rise", "body": "Shares rose."},
    {"id": "b3", "category": "tech", "headline": "New chip", "body": "A chip was shown."},
    {"id": "b4", "category": "politics", "headline": "Vote held", "body": "MPs voted."},
]


# --- events ----------------------------------------------------------------------------


def test_case_reader(tmp_path: Path) -> None:
    path = tmp_path / "case.tsv"
    path.write_text(CASE, encoding="utf-8")
    rows = read_case(path)
    assert [(r.id, r.label) for r in rows] == [
        ("1", "ARMED_CLASH"),
        ("2", "PEACE_PROTEST"),
        ("3", "AIR_STRIKE"),
    ]
    assert rows[2].text == "Jets struck a depot at dawn."


def test_case_reader_refuses_a_file_without_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "bad.tsv"
    path.write_text("id\ttext\n1\tx\n", encoding="utf-8")
    with pytest.raises(ValueError, match="missing columns"):
        read_case(path)


def test_perfect_prediction_scores_one() -> None:
    gold = ["ARMED_CLASH", "PEACE_PROTEST", "AIR_STRIKE"]
    result = score(gold, list(gold))
    assert result["macro_f1"] == 1.0
    assert result["accuracy"] == 1.0
    assert result["unpredicted"] == 0


def test_a_known_miss_and_a_confusion() -> None:
    gold = ["ARMED_CLASH", "PEACE_PROTEST", "AIR_STRIKE"]
    # snippet 2 unpredicted (a miss), snippet 3 predicted as ARMED_CLASH (a confusion)
    result = score(gold, ["ARMED_CLASH", None, "ARMED_CLASH"])
    clash = result["per_type"]["ARMED_CLASH"]
    assert (clash["precision"], clash["recall"], clash["support"]) == (0.5, 1.0, 1)
    assert clash["f1"] == pytest.approx(2 / 3)
    assert result["per_type"]["PEACE_PROTEST"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 1,
    }
    assert result["per_type"]["AIR_STRIKE"]["f1"] == 0.0
    assert result["macro_f1"] == pytest.approx((2 / 3) / 3)
    assert result["accuracy"] == pytest.approx(1 / 3)
    assert result["unpredicted"] == 1


def test_a_type_never_in_gold_only_costs_accuracy() -> None:
    result = score(["ARREST", "ARREST"], ["ARREST", "OTHER"])
    assert set(result["per_type"]) == {"ARREST"}
    assert result["per_type"]["ARREST"]["recall"] == 0.5
    assert result["per_type"]["ARREST"]["precision"] == 1.0
    assert result["accuracy"] == 0.5


def test_half_split_numbers(tmp_path: Path) -> None:
    path = tmp_path / "case.tsv"
    path.write_text(CASE, encoding="utf-8")
    snippets = read_case(path)
    result = evaluate_predictions(snippets, ["ARMED_CLASH", "PEACE_PROTEST", None])
    assert result["tune_odd_ids"] == {"macro_f1": 0.5, "accuracy": 0.5, "n": 2, "unpredicted": 1}
    assert result["heldout_even_ids"] == {
        "macro_f1": 1.0,
        "accuracy": 1.0,
        "n": 1,
        "unpredicted": 0,
    }
    assert result["macro_f1"] == pytest.approx(2 / 3)
    assert result["unreachable_types"] == []


def test_score_refuses_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="differ"):
        score(["ARREST"], [])
    with pytest.raises(ValueError, match="nothing"):
        score([], [])
    assert Snippet("1", "x", "ARREST").label == "ARREST"
    assert events_eval.BATCH > 0


# --- NER (bench/ner_eval.py's scoring, on a 2-sentence CoNLL snippet) ----------------------


def test_ner_scoring_on_a_tiny_conll_file(tmp_path: Path) -> None:
    ner_eval = pytest.importorskip("bench.ner_eval")
    conll = pytest.importorskip("training.ner.conll")
    path = tmp_path / "tiny.conll"
    path.write_text(CONLL, encoding="utf-8")
    [doc] = conll.read_conll(path)
    text, gold = conll.doc_text(doc, "\n")
    assert text == "Anna Berg visited Oslo .\nAcme hired Tom ."
    assert gold == [(0, 9, "PER"), (18, 22, "LOC"), (25, 29, "ORG"), (36, 39, "PER")]
    perfect = ner_eval.score([set(gold)], [set(gold)])
    assert perfect["micro"]["f1"] == 1.0
    # "Tom" missed, "Oslo" labelled ORG: 2 right of 3 predicted, 2 found of 4 gold
    predicted = {(0, 9, "PER"), (18, 22, "ORG"), (25, 29, "ORG")}
    result = ner_eval.score([set(gold)], [predicted])
    assert (result["micro"]["p"], result["micro"]["r"]) == (0.6667, 0.5)
    assert result["micro"]["f1"] == 0.5714
    assert result["per_label"]["LOC"]["r"] == 0.0
    assert result["per_label"]["PER"]["p"] == 1.0 and result["per_label"]["PER"]["r"] == 0.5


# --- quality.py: targets, JSON shape, loud failures ------------------------------------------


def test_metric_follows_dotted_paths() -> None:
    result = {"micro": {"f1": 0.5}, "flag": True}
    assert quality.metric(result, "micro_f1", "micro.f1") == 0.5
    with pytest.raises(quality.EvaluationError, match="no number"):
        quality.metric(result, "flag", "micro.p")


def test_verdicts_against_the_issue_targets() -> None:
    results: dict[str, Any] = {
        "ner": {"micro_f1": 0.87},
        "sentiment": {"macro_f1": 0.60},
        "topics": {"bbc": {"accuracy": 0.95}, "agnews": {"accuracy": 0.84}},
        "events": {"macro_f1": 0.61},
        "throughput": {"articles_per_s": 30.0, "ner_only_articles_per_s": 50.0, "ratio": 0.6},
    }
    report = quality.with_verdicts(results)
    assert report["targets"] == {
        "ner.micro_f1": 0.86,
        "sentiment.macro_f1": 0.68,
        "topics.bbc.accuracy": 0.95,
        "topics.agnews.accuracy": 0.85,
        "events.macro_f1": 0.60,
        "throughput.ratio": 0.5,
        "geo.gold_acc161": 0.85,
        "stories.ecbplus.bcubed_f1": 0.90,
    }
    assert report["passed"] == {
        "ner.micro_f1": True,
        "sentiment.macro_f1": False,
        "topics.bbc.accuracy": True,
        "topics.agnews.accuracy": False,
        "events.macro_f1": True,
        "throughput.ratio": True,
    }
    lines = quality.table(report).splitlines()
    assert lines[1].split() == ["ner.micro_f1", "0.8700", "0.86", "PASS"]
    assert lines[2].split() == ["sentiment.macro_f1", "0.6000", "0.68", "FAIL"]


def test_a_missing_evaluator_fails_loudly(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text("{}\n", encoding="utf-8")
    with pytest.raises(quality.EvaluationError, match="cannot import bench/no_such_eval.py"):
        quality.run_evaluator("no_such_eval", "evaluate", path, None, "accuracy")
    with pytest.raises(quality.EvaluationError, match="has no function nothing_here"):
        quality.run_evaluator("events_eval", "nothing_here", path, None, "accuracy")
    with pytest.raises(quality.EvaluationError, match="no such file"):
        quality.run_evaluator("events_eval", "evaluate_events", tmp_path / "nope", None, "x")


def test_a_failing_evaluator_is_reported_not_hidden(tmp_path: Path) -> None:
    path = tmp_path / "case.tsv"
    path.write_text("id\ttext\n1\tx\n", encoding="utf-8")  # wrong columns
    with pytest.raises(quality.EvaluationError, match="evaluate_events\\(\\) failed"):
        quality.eval_events(path, None)


def test_all_nests_the_keys_and_collects_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    for rel in quality.DATA_FILES.values():
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
    (data / quality.DATA_FILES["newsmtsc"]).write_text(
        "".join(json.dumps(r) + "\n" for r in NEWSMTSC), encoding="utf-8"
    )
    (data / quality.DATA_FILES["bbc"]).write_text(
        "".join(json.dumps(r) + "\n" for r in BBC), encoding="utf-8"
    )
    (data / quality.DATA_FILES["case"]).write_text(CASE, encoding="utf-8")
    (data / quality.DATA_FILES["geovirus"]).write_text(GEOVIRUS, encoding="utf-8")
    # CoNLL and AG News files are absent: those parts must fail with the reason.
    fake = {
        "evaluate_sentiment": {"macro": {"f1": 0.7}},
        "evaluate_topics_bbc": {"accuracy": 0.75},
        "evaluate_events": {"macro_f1": 0.5},
        "evaluate_geo": {
            "gold_acc161": 0.9,
            "gold_median_km": 12.0,
            "e2e_recall": 0.8,
            "e2e_acc161": 0.85,
            "baseline_acc161": 0.7,
        },
    }

    def loader(module: str, function: str) -> Any:
        return lambda path, nlp: fake[function]

    monkeypatch.setattr(quality, "load_evaluator", loader)
    monkeypatch.setattr(
        quality,
        "eval_throughput",
        lambda path, n, nlp: {
            "throughput": {"articles_per_s": 4.0, "ner_only_articles_per_s": 8.0, "ratio": 0.5}
        },
    )
    results = quality.run_all(data, 4, None)
    assert results["sentiment"]["macro_f1"] == 0.7
    assert results["topics"]["bbc"]["accuracy"] == 0.75
    assert "agnews" not in results["topics"]
    assert results["events"]["macro_f1"] == 0.5
    assert results["throughput"]["ratio"] == 0.5
    assert results["geo"]["gold_acc161"] == 0.9 and results["geo"]["baseline_acc161"] == 0.7
    assert set(results["errors"]) == {"ner", "topics.agnews"}
    assert "no such file" in results["errors"]["ner"]
    assert quality.judge(results) == {
        "sentiment.macro_f1": True,
        "topics.bbc.accuracy": False,
        "events.macro_f1": False,
        "throughput.ratio": True,
        "geo.gold_acc161": True,
    }


def test_bbc_reader(tmp_path: Path) -> None:
    path = tmp_path / "bbc.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in BBC), encoding="utf-8")
    articles = quality.read_bbc(path, 3)
    assert articles[0] == ("Side wins cup\n\nThe side won.", 13)
    assert len(articles) == 3


def test_paired_rates_alternate_and_pair_the_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(float(t) for t in range(100))
    monkeypatch.setattr(quality.time, "perf_counter", lambda: next(clock))
    calls: list[str] = []
    # Each timed run takes one tick of the fake clock: both take 1 s a pass.
    timed = quality.paired_rates(lambda: calls.append("a"), lambda: calls.append("b"), 10, 3)
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]  # warm-ups, then alternating
    assert timed["seconds"] == ([1.0, 1.0, 1.0], [1.0, 1.0, 1.0])
    assert timed["articles_per_s"] == [10.0, 10.0]
    assert timed["ratio"] == 1.0


def test_paired_ratio_is_the_median_of_each_pass_ratio(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pass times (first, second): (2, 1), then (2, 4) in the order second-first, then
    # (1, 1): ratios 0.5, 0.5, 1.0, median 0.5.
    ticks = [0, 2, 2, 3, 3, 5, 5, 9, 9, 10, 10, 11]  # start and stop of each timed run
    clock = iter(float(t) for t in ticks)
    monkeypatch.setattr(quality.time, "perf_counter", lambda: next(clock))
    timed = quality.paired_rates(lambda: None, lambda: None, 4, 3)
    assert timed["seconds"] == ([2.0, 4.0, 1.0], [1.0, 2.0, 1.0])
    assert timed["ratio"] == 0.5
    assert timed["articles_per_s"] == [2.0, 4.0]


def test_events_section_carries_the_heldout_half(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "case.tsv"
    path.write_text(CASE, encoding="utf-8")
    detail = {"macro_f1": 0.7, "heldout_even_ids": {"macro_f1": 0.55, "n": 1}}
    monkeypatch.setattr(quality, "load_evaluator", lambda module, fn: lambda p, nlp: detail)
    events = quality.eval_events(path, None)["events"]
    assert (events["macro_f1"], events["heldout_macro_f1"]) == (0.7, 0.55)
    lines = quality.table(quality.with_verdicts({"events": events})).splitlines()
    assert [line.split() for line in lines[1:]] == [
        ["events.macro_f1", "0.7000", "0.60", "PASS"],
        ["events.heldout_macro_f1", "0.5500"],
    ]


def test_events_heldout_prefers_the_models_cross_validated_figure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "case.tsv"
    path.write_text(CASE, encoding="utf-8")
    detail = {
        "macro_f1": 0.97,  # in-sample: the model is trained on dev
        "heldout_even_ids": {"macro_f1": 0.93, "n": 1},
        "honest_macro_f1": 0.64,
    }
    monkeypatch.setattr(quality, "load_evaluator", lambda module, fn: lambda p, nlp: detail)
    events = quality.eval_events(path, None)["events"]
    assert (events["macro_f1"], events["heldout_macro_f1"]) == (0.97, 0.64)


def test_honest_estimate_comes_from_the_model_or_the_even_half() -> None:
    import spacy

    from nlp.events import load_type_model

    blank = spacy.blank("en")  # no events component: the rules' even half
    result = events_eval.add_honest_estimate({"heldout_even_ids": {"macro_f1": 0.5}}, blank)
    assert (result["honest_macro_f1"], result["honest_source"]) == (
        0.5,
        "rules only: heldout_even_ids",
    )
    type_model = load_type_model()
    assert type_model is not None
    with_model = spacy.blank("en")
    with_model.add_pipe("wirestream_events")
    result = events_eval.add_honest_estimate({"heldout_even_ids": {"macro_f1": 0.9}}, with_model)
    nested = type_model.model.meta["nested_cv"]["heldout_even_ids"]["macro_f1"]
    assert result["honest_macro_f1"] == nested
    assert "nested_cv" in result["model_cv"]


# --- geo --------------------------------------------------------------------------------


def test_geo_scores_the_resolver_on_gold_toponyms(tmp_path: Path) -> None:
    from bench import geo_eval

    path = tmp_path / "geovirus.xml"
    path.write_text(GEOVIRUS, encoding="utf-8")
    articles = geo_eval.read_geovirus(path)
    assert [len(a.toponyms) for a in articles] == [2, 2]
    assert articles[0].text[14:19] == "Paris"
    result = geo_eval.evaluate_geo(path, None)
    # Paris (Texas) and Texas right; the unknown name a miss; Kenya's point within 161 km
    assert result["toponyms"] == 4
    assert result["gold_acc161"] == 0.75
    # population alone puts Paris in France: Texas and Kenya right only
    assert result["baseline_acc161"] == 0.5
    # either of the country and region rules alone moves Paris to Texas
    assert result["ablation_acc161"]["country"] == 0.75
    assert result["ablation_acc161"]["region"] == 0.75
    assert "e2e_recall" not in result  # no pipeline given


def test_stories_subcommand_reports_its_keys_against_the_goal() -> None:
    results: dict[str, Any] = {
        "stories": {
            "ecbplus": {"precision": 0.8, "recall": 0.93, "bcubed_f1": 0.86},
            "googlenews": {"nmi": 0.9, "bcubed_f1": 0.8},
        }
    }
    report = quality.with_verdicts(results)
    assert report["passed"] == {"stories.ecbplus.bcubed_f1": False}
    rows = {line.split()[0]: line.split()[1:] for line in quality.table(report).splitlines()[1:]}
    assert rows["stories.ecbplus.bcubed_f1"] == ["0.8600", "0.90", "FAIL"]
    assert rows["stories.googlenews.nmi"] == ["0.9000"]
    args = quality.parse_args(["stories", "--ecbplus", "e.jsonl", "--googlenews", "g.jsonl"])
    assert (args.command, str(args.ecbplus), str(args.googlenews)) == (
        "stories",
        "e.jsonl",
        "g.jsonl",
    )
