"""IPTC topics: the data file, scoring and assignment."""

from __future__ import annotations

import pytest
from spacy.language import Language

from agents.nlp import NlpInput, analyse
from agents.nlp.topics import assign_topics, event_evidence, lemma_evidence, load_lexicon

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
    ],
)
def test_small_texts_get_their_topic(nlp: Language, headline: str, body: str, slug: str) -> None:
    [result] = analyse([NlpInput(f"{headline}\n\n{body}", len(headline), "en")], nlp)
    topics = result["topics"]
    assert topics and topics[0]["slug"] == slug
    assert all(0.0 <= t["score"] <= 1.0 for t in topics)


def test_no_evidence_no_topics(nlp: Language) -> None:
    [result] = analyse([NlpInput("Xylophone quasar zephyr brouhaha.", 5, "en")], nlp)
    assert result["topics"] == []
