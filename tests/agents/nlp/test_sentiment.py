"""VADER sentence scores averaged into a document sentiment; sentiment towards entities."""

from __future__ import annotations

from spacy.language import Language

from agents.nlp import NlpInput, analyse
from agents.nlp.sentiment import (
    DEFAULT_MODEL_DIR,
    TARGET_CLASSES,
    analyzer,
    label_for,
    lexicon_valence,
    load_target_model,
    mean_sentiment,
    sentence_compound,
    sentiment_from_probabilities,
    target_features,
    target_sentiment,
    weighted_compound,
)


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


# Target-dependent sentiment towards entities (models/sentiment, trained on NewsMTSC).


def test_model_on_disk_is_small_and_has_three_classes() -> None:
    files = list(DEFAULT_MODEL_DIR.iterdir())
    assert {f.name for f in files} == {"meta.json", "weights.npz"}
    assert sum(f.stat().st_size for f in files) < 10_000_000
    model = load_target_model()
    assert tuple(model.classes) == TARGET_CLASSES == ("negative", "neutral", "positive")
    assert model.meta["trained_on"] == "NewsMTSC train.jsonl"


def test_score_is_positive_minus_negative() -> None:
    assert sentiment_from_probabilities([0.1, 0.2, 0.7]) == {"label": "positive", "score": 0.6}
    assert sentiment_from_probabilities([0.5, 0.3, 0.2]) == {"label": "negative", "score": -0.3}
    assert sentiment_from_probabilities([0.2, 0.6, 0.2]) == {"label": "neutral", "score": 0.0}
    # An entity's mentions are averaged before the label is chosen.
    assert mean_sentiment([[0.8, 0.1, 0.1], [0.0, 0.2, 0.8]]) == {
        "label": "positive",
        "score": 0.05,
    }


def test_lexicon_valence_of_inflections() -> None:
    lexicon = analyzer().lexicon
    assert lexicon_valence("praise", lexicon) == lexicon["praise"]
    assert "condemning" not in lexicon and "slammed" not in lexicon
    assert lexicon_valence("condemning", lexicon) == lexicon["condemn"] < 0
    assert lexicon_valence("slammed", lexicon) == lexicon["slam"] < 0
    assert lexicon_valence("table", lexicon) is None


def test_target_features_see_the_target_side() -> None:
    words = ["critics", "slammed", "smith", "for", "the", "decision"]
    feats = target_features(words, 2, 3, -0.5)
    assert feats["tprev:slammed"] == 1.0 and feats["tnext:for"] == 1.0
    assert feats["Lnear:slammed"] == 1.0 and "Rnear:slammed" not in feats
    assert feats["bg:slammed_<t>"] == 1.0 and "w:smith" not in feats
    assert feats["lx:Lnear"] < 0 and feats["vc=neg"] == 1.0


def test_two_targets_in_one_sentence_get_different_sentiments() -> None:
    text = (
        "Critics slammed Smith for the disastrous decision, "
        "while Jones was praised for her brave leadership."
    )
    smith, jones = (text.index("Smith"), text.index("Smith") + 5), (text.index("Jones"), 0)
    jones = (jones[0], jones[0] + 5)
    [for_smith, for_jones] = target_sentiment(text, [smith, jones])
    assert for_smith["label"] == "negative" and for_smith["score"] < -0.3
    assert for_jones["label"] == "positive" and for_jones["score"] > 0.3
    # The speaker of a report is not the one it is about.
    text = "Smith was arrested and charged with fraud, Jones said."
    [for_smith, for_jones] = target_sentiment(text, [(0, 5), (43, 48)])
    assert for_smith["label"] == "negative"
    assert for_jones["label"] == "neutral"


def test_entities_get_sentiment_in_analyse(nlp: Language) -> None:
    headline = "Smith praised after rescue"
    body = (
        "Firefighter John Smith was praised by residents of Leeds for his brave rescue. "
        "The council of Leeds thanked him, the BBC reported on Tuesday."
    )
    [result] = analyse([NlpInput(f"{headline}\n\n{body}", len(headline), "en")], nlp)
    assert result["entities"]
    for entity in result["entities"]:
        sentiment = entity["sentiment"]
        if entity["label"] in {"PERSON", "ORG", "GPE"}:
            assert sentiment is not None
            assert sentiment["label"] in TARGET_CLASSES
            assert -1.0 <= sentiment["score"] <= 1.0
            assert round(sentiment["score"], 4) == sentiment["score"]
        else:
            assert sentiment is None
    smith = next(e for e in result["entities"] if e["canonical"].endswith("Smith"))
    assert smith["label"] == "PERSON"
    assert smith["sentiment"] is not None and smith["sentiment"]["label"] == "positive"
