"""VADER sentence scores averaged into a document sentiment; sentiment towards entities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from spacy.language import Language

from nlp import NlpInput, analyse
from nlp.linear import LinearModel
from nlp.sentiment import (
    DEFAULT_MODEL_DIR,
    DENSE_PARTS,
    DENSE_WINDOW,
    TARGET_CLASSES,
    analyzer,
    dense_target_features,
    encode,
    entity_sentiments,
    kept_tokens,
    label_for,
    lexicon_valence,
    load_recurrent_model,
    load_target_model,
    mean_sentiment,
    sentence_compound,
    sentiment_from_probabilities,
    target_features,
    target_sentiment,
    weighted_compound,
)
from training.linear import average_models, fit_softmax


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


# Target-dependent sentiment towards entities (nlp/models/sentiment, trained on NewsMTSC).


def test_model_on_disk_is_small_and_has_three_classes() -> None:
    files = list(DEFAULT_MODEL_DIR.iterdir())
    names = {f.name for f in files}
    assert names == {"meta.json", "weights.npz", "recurrent.json", "recurrent.npz"}
    assert sum(f.stat().st_size for f in files) < 10_000_000
    model = load_target_model()
    assert tuple(model.classes) == TARGET_CLASSES == ("negative", "neutral", "positive")
    assert model.meta["trained_on"] == "NewsMTSC train.jsonl"
    recurrent = load_recurrent_model()
    assert recurrent is not None and recurrent.members == 2
    assert recurrent.meta["trained_on"].startswith("NewsMTSC train.jsonl and the teacher's")
    assert 0.0 < recurrent.weight < 1.0
    assert recurrent.arrays["out_b"].shape == (recurrent.members, len(TARGET_CLASSES))


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


# The dense head over the pipeline's tok2vec vectors.


def test_dense_features_are_window_means() -> None:
    tensor = np.arange(8 * 2, dtype=np.float32).reshape(8, 2)  # token i = (2i, 2i + 1)
    kept = np.array([True] * 8)
    kept[5] = False  # a whitespace token, left out everywhere
    # Sentence = tokens 1..7, target = tokens 2..3 (exclusive end 4).
    [row] = dense_target_features(tensor, kept, [(1, 8, 2, 4)])
    assert row.shape == (DENSE_PARTS * 2,) and DENSE_WINDOW == 3
    target, left, right, sentence = row.reshape(DENSE_PARTS, 2)
    assert target.tolist() == [5.0, 6.0]  # tokens 2, 3
    assert left.tolist() == [2.0, 3.0]  # only token 1 lies before it in the sentence
    assert np.allclose(right, [(8 + 12 + 14) / 3, (9 + 13 + 15) / 3])  # 4, 6, 7 (5: space)
    assert np.allclose(sentence, [(2 + 4 + 6 + 8 + 12 + 14) / 6, (3 + 5 + 7 + 9 + 13 + 15) / 6])
    # A target at the sentence start has no left window: zeros.
    [row] = dense_target_features(tensor, kept, [(1, 8, 1, 2)])
    assert row.reshape(DENSE_PARTS, 2)[1].tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="no tok2vec"):
        dense_target_features(np.zeros((0, 96), dtype=np.float32), kept, [(0, 8, 1, 2)])


def test_shipped_model_has_a_dense_head_over_tok2vec() -> None:
    model = load_target_model()
    assert model.head is not None
    doc = encode("Critics slammed Smith for the decision.")
    assert doc.tensor.shape == (len(doc), 96)
    assert model.head.width == DENSE_PARTS * doc.tensor.shape[1]
    assert model.meta["dense"]["width"] == model.head.width


def test_pipeline_vectors_match_the_training_encoder(nlp: Language) -> None:
    """Training encodes each sentence alone with the base model's tok2vec; the pipeline
    encodes whole articles with the same weights: a target's dense input must be the same
    but for the few vectors that see across the sentence boundary."""
    sentence = "On Tuesday morning in London, critics slammed Smith for the decision."
    text = f"Markets were calm.\n\n{sentence}"
    doc = nlp(text)
    alone = encode(sentence)
    at = sentence.index("Smith")
    span = doc.char_span(text.index(sentence) + at, text.index(sentence) + at + 5)
    own = alone.char_span(at, at + 5)
    assert span is not None and own is not None and span.text == own.text == "Smith"
    sent = span.sent
    [in_doc] = dense_target_features(
        doc.tensor, kept_tokens(doc), [(sent.start, sent.end, span.start, span.end)]
    )
    [trained] = dense_target_features(
        alone.tensor, kept_tokens(alone), [(0, len(alone), own.start, own.end)]
    )
    width = doc.tensor.shape[1]
    # The target and its windows are more than 4 tokens (tok2vec's reach) from the
    # previous sentence: the same vectors.
    assert np.allclose(in_doc[: 3 * width], trained[: 3 * width], atol=1e-4)
    assert np.corrcoef(in_doc, trained)[0, 1] > 0.95


def test_negative_target_in_an_article(nlp: Language) -> None:
    headline = "Court jails fraudster"
    body = (
        "Judge Mary Brown sentenced John Smith to ten years for a cruel fraud that ruined "
        "hundreds of pensioners. Smith was convicted of stealing, lying and abuse."
    )
    doc = nlp(f"{headline}\n\n{body}")
    i = next(i for i, e in enumerate(doc._.ws_entities) if e["canonical"].endswith("Smith"))
    smith, sentiment = doc._.ws_entities[i], doc._.ws_entity_sentiment[i]
    assert "sentiment" not in smith  # the component writes its own extension
    assert sentiment["label"] == "negative" and sentiment["score"] < -0.2
    # The component's result is the mixed model's on the pipeline's own vectors.
    [again] = entity_sentiments(doc, [smith], {}, load_target_model(), load_recurrent_model())
    assert again == sentiment
    # The GRU takes part: the sparse model alone gives other probabilities.
    [alone] = entity_sentiments(doc, [smith], {}, load_target_model())
    assert alone is not None and alone["score"] != sentiment["score"]


def test_dense_head_saves_loads_and_averages(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = [{"bias": 1.0, f"w:{i % 5}": 1.0} for i in range(60)]
    dense = rng.standard_normal((60, 4)).astype(np.float32)
    labels = ["a" if x[0] > 0 else "b" for x in dense]  # only the dense input tells
    fits = [
        fit_softmax(
            rows,
            labels,
            ["a", "b"],
            bits=8,
            epochs=30,
            learning_rate=0.1,
            l2=0.0,
            seed=s,
            dense=dense,
            hidden=8,
            dense_learning_rate=0.01,
        )
        for s in (1, 2)
    ]
    for fit in fits:
        assert fit.head is not None and fit.head.width == 4
        assert (
            fit.proba_many(rows, dense).argmax(axis=1) == [c == "b" for c in labels]
        ).mean() > 0.9
    both = average_models(fits)
    log = [np.log(f.proba_many(rows, dense)) for f in fits]
    mean = np.exp((log[0] + log[1]) / 2)
    assert np.allclose(
        both.proba_many(rows, dense), mean / mean.sum(axis=1, keepdims=True), atol=1e-4
    )
    both.save(tmp_path)
    loaded = LinearModel.load(tmp_path)
    assert loaded.head is not None
    assert np.allclose(loaded.proba_many(rows, dense), both.proba_many(rows, dense), atol=1e-2)
    with pytest.raises(ValueError, match="dense input"):
        loaded.proba_many(rows)
    # Without dense inputs the fit is the plain sparse model (topics, events).
    plain = fit_softmax(
        rows, labels, ["a", "b"], bits=8, epochs=2, learning_rate=0.1, l2=0.0, seed=1
    )
    assert plain.head is None and plain.proba_many(rows).shape == (60, 2)


def test_a_batch_of_articles_gets_what_each_gets_alone(nlp: Language) -> None:
    """The component runs the GRU once per batch: the mentions must go back to their own
    articles and entities."""
    texts = [
        "Smith praised after rescue\n\nFirefighter John Smith was praised by residents of "
        "Leeds for his brave rescue. The council of Leeds thanked him, the BBC reported.",
        "No names here\n\nThe weather was mild and the markets were calm.",
        "Court jails fraudster\n\nJudge Mary Brown sentenced John Smith for a cruel fraud. "
        "Smith was convicted of stealing. Acme Corp thanked the court.",
    ]
    docs = []
    for text in texts:
        doc = nlp.make_doc(text)
        doc._.ws_headline_chars = text.index("\n")
        docs.append(doc)
    batched = list(nlp.pipe(docs, batch_size=3))
    model, recurrent = load_target_model(), load_recurrent_model()
    assert recurrent is not None
    scored = 0
    for doc in batched:
        entities = doc._.ws_entities
        alone = entity_sentiments(doc, entities, {}, model, recurrent)
        assert doc._.ws_entity_sentiment == alone
        scored += sum(1 for s in alone if s is not None)
    assert [len(doc._.ws_entities) for doc in batched][1] == 0
    assert scored >= 4
    smith, convict = (
        next(
            s
            for e, s in zip(doc._.ws_entities, doc._.ws_entity_sentiment, strict=True)
            if e["canonical"].endswith("Smith")
        )
        for doc in (batched[0], batched[2])
    )
    assert smith["label"] == "positive"
    assert convict["label"] == "negative"
