"""VADER sentence scores averaged into a document sentiment."""

from __future__ import annotations

from spacy.language import Language

from agents.nlp import NlpInput, analyse
from agents.nlp.sentiment import label_for, sentence_compound, weighted_compound


def test_labels_and_thresholds() -> None:
    assert label_for(-0.05, -0.05, 0.05) == "negative"
    assert label_for(0.05, -0.05, 0.05) == "positive"
    assert label_for(0.0499, -0.05, 0.05) == "neutral"
    assert label_for(-0.3, -0.5, 0.5) == "neutral"


def test_weighted_mean_is_rounded() -> None:
    assert weighted_compound([]) == 0.0
    assert weighted_compound([(0.5, 1.0), (-0.5, 3.0)]) == -0.25
    assert weighted_compound([(1 / 3, 1.0)]) == 0.3333
    assert str(weighted_compound([(-0.00001, 1.0)])) == "0.0"


def test_vader_on_sentences() -> None:
    assert sentence_compound("This is a wonderful, happy day.") > 0.5
    assert sentence_compound("The attack killed dozens of people.") < -0.5


def test_document_sentiment(nlp: Language) -> None:
    happy = "Celebrations as team wins title\n\nFans cheered and sang with joy all night."
    sad = "Dozens killed in bombing\n\nThe attack left many dead and hundreds injured."
    results = analyse([NlpInput(happy, 31, "en"), NlpInput(sad, 24, "en")], nlp)
    assert results[0]["sentiment"]["label"] == "positive"
    assert results[1]["sentiment"]["label"] == "negative"


def test_headline_counts_double(nlp: Language) -> None:
    text = "A terrible, tragic disaster\n\nThe weather was nice and people were happy today."
    [as_headline] = analyse([NlpInput(text, 27, "en")], nlp)
    [as_body] = analyse([NlpInput(text, 0, "en")], nlp)
    assert as_headline["sentiment"]["compound"] < as_body["sentiment"]["compound"]
