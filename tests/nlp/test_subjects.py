"""IPTC topics: the data file, scoring and assignment."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from spacy.language import Language

from nlp import NlpInput, analyse
from nlp.subjects import (
    DEFAULT_MODEL_DIR,
    WORLD,
    assign_topics,
    classifier_scores,
    combine_scores,
    event_evidence,
    keep_lexicon_best,
    lemma_evidence,
    load_classifier,
    load_lexicon,
    topic_features,
)
from tests.nlp.conftest import input_from_lines

LEXICON = load_lexicon()
IPTC = {
    "arts": "01000000",
    "crime": "02000000",
    "disaster": "03000000",
    "economy": "04000000",
    "education": "05000000",
    "environment": "06000000",
    "health": "07000000",
    "human-interest": "08000000",
    "labour": "09000000",
    "lifestyle": "10000000",
    "politics": "11000000",
    "religion": "12000000",
    "science-technology": "13000000",
    "society": "14000000",
    "sport": "15000000",
    "conflict": "16000000",
    "weather": "17000000",
}


def test_seventeen_iptc_topics() -> None:
    assert {slug: t.code for slug, t in LEXICON.topics.items()} == IPTC
    assert LEXICON.topics["conflict"].name == "conflict, war and peace"
    assert LEXICON.topics["economy"].name == "economy, business and finance"
    assert LEXICON.topics["science-technology"].name == "science and technology"


def test_lexicons_are_rich_enough() -> None:
    per_topic: dict[str, int] = {}
    for weights in LEXICON.terms.values():
        for slug in weights:
            per_topic[slug] = per_topic.get(slug, 0) + 1
    assert set(per_topic) == set(IPTC)
    for slug in (
        "arts",
        "crime",
        "disaster",
        "economy",
        "health",
        "politics",
        "science-technology",
        "sport",
        "conflict",
        "religion",
    ):
        assert per_topic[slug] >= 40, slug
    assert all(weight > 0 for w in LEXICON.terms.values() for weight in w.values())


def test_lemma_evidence_prefers_longest_term_and_weights_headline() -> None:
    lemmas = ["the", "central", "bank", "cut", "interest", "rate"]
    plain = lemma_evidence(lemmas, [False] * 6, LEXICON, 2.0)
    headline = lemma_evidence(lemmas, [True] * 6, LEXICON, 2.0)
    assert (
        plain["economy"]
        == LEXICON.terms["central bank"]["economy"]
        + LEXICON.terms["cut"]["economy"]
        + LEXICON.terms["interest rate"]["economy"]
    )
    assert headline["economy"] == 2 * plain["economy"]


def test_assignment_rules() -> None:
    evidence = {"politics": 6.0, "conflict": 3.0, "health": 1.0}
    topics = assign_topics(evidence, LEXICON, relative_threshold=0.5, max_topics=3)
    assert [(t["slug"], t["score"]) for t in topics] == [("politics", 0.6), ("conflict", 0.3)]
    assert topics[0]["code"] == "11000000" and topics[0]["name"] == "politics"
    one = assign_topics({"sport": 0.5}, LEXICON, relative_threshold=0.9, max_topics=3)
    assert [(t["slug"], t["score"]) for t in one] == [("sport", 1.0)]
    assert assign_topics({}, LEXICON, relative_threshold=0.5, max_topics=3) == []
    many = {slug: 1.0 for slug in IPTC}
    capped = assign_topics(many, LEXICON, relative_threshold=0.5, max_topics=3)
    assert [t["slug"] for t in capped] == ["arts", "crime", "disaster"]  # ties: file order


def test_event_evidence() -> None:
    events = [{"iptc": "conflict"}, {"iptc": "conflict"}, {"iptc": "politics"}]
    assert event_evidence(events, 2.0) == {"conflict": 4.0, "politics": 2.0}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("headline", "body", "slug"),
    [
        (
            "United beat City 2-1 in cup final",
            "The striker scored the winning goal in the final minute as the team lifted the trophy "
            "in front of 70,000 fans at the stadium.",
            "sport",
        ),
        (
            "Shares fall as central bank raises interest rates",
            "Investors sold stocks after the bank said inflation remained too high and the economy "
            "would slow, analysts said.",
            "economy",
        ),
        (
            "Earthquake kills dozens in mountain villages",
            "Rescuers searched the rubble for survivors after the magnitude 6.8 quake destroyed "
            "hundreds of homes.",
            "disaster",
        ),
        (
            "Pope leads Easter prayers at the Vatican",
            "Thousands of pilgrims gathered in the square as the pontiff celebrated mass and "
            "called for peace.",
            "religion",
        ),
        # Topics the classifier does not know (it would say economy, world or
        # science-technology): the lexicon must still win when it is clear.
        (
            "Hospitals overwhelmed as flu cases surge",
            "Doctors warned that the influenza outbreak was spreading fast and urged patients "
            "with symptoms to stay home, as health officials ordered more vaccine doses.",
            "health",
        ),
        (
            "Man charged with murder after stabbing",
            "Police arrested a 34-year-old man on Sunday and charged him with the murder of a "
            "neighbour, prosecutors said. He will appear in court on Monday.",
            "crime",
        ),
        (
            "Teachers and pupils return as schools reopen",
            "Schools reopened after the holidays and the university announced new scholarships "
            "for students, the education minister said.",
            "education",
        ),
        (
            "Centenarian celebrates 100th birthday with family",
            "The grandmother, who was born in 1924, said the secret of a long life was kindness, "
            "as relatives gathered with a cake.",
            "human-interest",
        ),
    ],
)
def test_small_texts_get_their_topic(nlp: Language, headline: str, body: str, slug: str) -> None:
    [result] = analyse([NlpInput(f"{headline}\n\n{body}", len(headline), "en")], nlp)
    topics = result["topics"]
    assert topics and topics[0]["slug"] == slug
    assert all(0.0 <= t["score"] <= 1.0 for t in topics)


def test_no_evidence_no_topics(nlp: Language) -> None:
    """No lexicon evidence and an unsure classifier (its best is about 0.3): no topics."""
    [result] = analyse([NlpInput("Xylophone quasar zephyr brouhaha.", 5, "en")], nlp)
    assert result["topics"] == []


def test_no_lexicon_evidence_but_a_sure_classifier(nlp: Language) -> None:
    """A baseball score line has no lexicon term at all; the classifier is sure (0.98)."""
    headline = "Yankees 5, Red Sox 3"
    body = "Derek Jeter homered twice and Mariano Rivera closed it out in the ninth inning."
    [result] = analyse([NlpInput(f"{headline}\n\n{body}", len(headline), "en")], nlp)
    assert [t["slug"] for t in result["topics"]] == ["sport"]
    assert result["topics"][0]["score"] > 0.9


def test_classifier_scores_need_a_confident_classifier() -> None:
    unsure = {"economy": 0.4, "sport": 0.3, WORLD: 0.3}
    assert classifier_scores(unsure, 0.5) == {}
    assert classifier_scores(unsure, 0.4) == {"economy": 0.4, "sport": 0.3, "politics": 0.3}
    # "world" counts as politics (no lexicon evidence to share it by).
    sure = {"politics": 0.2, WORLD: 0.7, "arts": 0.1}
    assert classifier_scores(sure, 0.5) == pytest.approx({"politics": 0.9, "arts": 0.1})
    assert classifier_scores({}, 0.0) == {}


# The trained classifier (nlp/models/topics) and how it is combined with the lexicon.

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
NO_EVIDENCE: dict[str, float] = {}


def test_classifier_on_disk_is_small() -> None:
    files = list(DEFAULT_MODEL_DIR.iterdir())
    assert {f.name for f in files} == {"meta.json", "weights.npz"}
    assert sum(f.stat().st_size for f in files) < 10_000_000
    model = load_classifier()
    broad = {"arts", "economy", "politics", "science-technology", "sport"}
    assert set(model.classes) == broad | {WORLD}
    assert set(model.classes) - {WORLD} <= set(IPTC)


def test_topic_features_are_normalised_ngrams() -> None:
    feats = topic_features(["rates", "rise", "rates"], [True, False, False])
    assert set(feats) == {"u:rates", "u:rise", "h:rates", "b:rates rise", "b:rise rates"}
    assert math.isclose(sum(v * v for v in feats.values()), 1.0)
    assert feats["u:rates"] > feats["u:rise"] == feats["h:rates"]


def classifier_output(best: str) -> dict[str, float]:
    """Probability 1 for ``best``, 0 for the classifier's other classes."""
    classes = ("arts", "economy", "politics", "science-technology", "sport", WORLD)
    return {c: 1.0 if c == best else 0.0 for c in classes}


def test_combine_scores_redivides_the_classifier_domain_only() -> None:
    evidence = {"politics": 3.0, "health": 1.0}
    world, economy = classifier_output(WORLD), classifier_output("economy")
    assert combine_scores(evidence, world, LEXICON, 1.0) == {"politics": 0.75, "health": 0.25}
    mixed = combine_scores(evidence, economy, LEXICON, 0.5)
    assert mixed == {"politics": 0.375, "economy": 0.375, "health": 0.25}
    leaning = combine_scores(evidence, economy, LEXICON, 1.0, domain_power=0.5)
    assert math.isclose(leaning["economy"], math.sqrt(0.75))
    assert math.isclose(leaning["health"], 1.0 - math.sqrt(0.75))
    assert math.isclose(sum(leaning.values()), 1.0)
    # Without lexicon evidence there is nothing to combine.
    assert combine_scores(NO_EVIDENCE, economy, LEXICON, 1.0) == {}
    # "world" goes to the world topics by their lexicon evidence, else to politics.
    shared = combine_scores({"conflict": 1.0, "crime": 1.0}, world, LEXICON, 1.0)
    assert shared == {"conflict": 0.5, "crime": 0.5}
    assert combine_scores({"sport": 1.0}, world, LEXICON, 1.0) == {"politics": 1.0}


@pytest.mark.parametrize(
    "path", sorted(SEEDS.glob("[0-9][0-9][0-9]_*_*.txt")), ids=lambda p: p.name[:3]
)
def test_seed_articles_get_their_topic(nlp: Language, path: Path) -> None:
    slug = path.name.split("_")[1]
    [result] = analyse([input_from_lines(path.read_text(encoding="utf-8"))], nlp)
    assert slug in [t["slug"] for t in result["topics"]]


def test_the_lexicon_best_topic_is_always_assigned() -> None:
    evidence = {"health": 4.0, "economy": 3.0, "politics": 3.0}
    scores = {"economy": 0.7, "politics": 0.2, "health": 0.1}
    topics = assign_topics(scores, LEXICON, relative_threshold=0.5, max_topics=3)
    assert [t["slug"] for t in topics] == ["economy"]
    kept = keep_lexicon_best(topics, evidence, scores, LEXICON, 3)
    assert [(t["slug"], t["score"]) for t in kept] == [("economy", 0.7), ("health", 0.1)]
    assert kept[1]["code"] == "07000000"
    # With max_topics already assigned it takes the last place.
    full = assign_topics(scores, LEXICON, relative_threshold=0.0, max_topics=2)
    assert [t["slug"] for t in keep_lexicon_best(full, evidence, scores, LEXICON, 2)] == [
        "economy",
        "health",
    ]
    # Already there, or nothing assigned: unchanged.
    assert keep_lexicon_best(kept, evidence, scores, LEXICON, 3) == kept
    assert keep_lexicon_best([], evidence, scores, LEXICON, 3) == []
