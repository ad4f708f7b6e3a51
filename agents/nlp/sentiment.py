"""Document sentiment: VADER per sentence, averaged by sentence length.

``wirestream_sentiment`` puts ``{"compound", "label"}`` on ``doc._.ws_sentiment``.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from spacy.language import Language
from spacy.tokens import Doc
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from agents.nlp.extensions import register
from agents.nlp.types import Sentiment, SentimentLabel

register()

NEUTRAL: Sentiment = {"compound": 0.0, "label": "neutral"}


@lru_cache(maxsize=1)
def analyzer() -> SentimentIntensityAnalyzer:
    """One VADER analyser per process (loading its lexicon takes a while)."""
    return SentimentIntensityAnalyzer()


def sentence_compound(text: str) -> float:
    """VADER's compound score for one sentence, in [-1, 1]."""
    return float(analyzer().polarity_scores(text)["compound"])


def label_for(compound: float, negative: float, positive: float) -> SentimentLabel:
    """negative at or below ``negative``, positive at or above ``positive``, else neutral."""
    if compound <= negative:
        return "negative"
    if compound >= positive:
        return "positive"
    return "neutral"


def weighted_compound(scored: Iterable[tuple[float, float]]) -> float:
    """Mean of (compound, weight) pairs weighted by weight, rounded to 4 decimals."""
    total = weight_sum = 0.0
    for compound, weight in scored:
        total += compound * weight
        weight_sum += weight
    if weight_sum <= 0:
        return 0.0
    return round(total / weight_sum, 4) + 0.0  # + 0.0 turns -0.0 into 0.0


def doc_sentiment(
    doc: Doc, headline_chars: int, *, headline_weight: float, negative: float, positive: float
) -> Sentiment:
    """Sentence compounds weighted by sentence length (in words); headline ones count more."""
    scored: list[tuple[float, float]] = []
    for sent in doc.sents:
        words = sum(1 for t in sent if not (t.is_space or t.is_punct))
        text = sent.text.strip()
        if not words or not text:
            continue
        weight = words * (headline_weight if sent.start_char < headline_chars else 1.0)
        scored.append((sentence_compound(text), weight))
    compound = weighted_compound(scored)
    return {"compound": compound, "label": label_for(compound, negative, positive)}


class SentimentComponent:
    """spaCy component: ``doc._.ws_sentiment``."""

    def __init__(self, headline_weight: float, negative: float, positive: float) -> None:
        if not negative < positive:
            raise ValueError("sentiment thresholds: negative must be below positive")
        self.headline_weight = headline_weight
        self.negative = negative
        self.positive = positive
        analyzer()

    def __call__(self, doc: Doc) -> Doc:
        doc._.ws_sentiment = doc_sentiment(
            doc,
            doc._.ws_headline_chars,
            headline_weight=self.headline_weight,
            negative=self.negative,
            positive=self.positive,
        )
        return doc


@Language.factory(
    "wirestream_sentiment",
    default_config={"headline_weight": 2.0, "negative": -0.05, "positive": 0.05},
    requires=["token.is_sent_start"],
    assigns=["doc._.ws_sentiment"],
)
def make_sentiment(
    nlp: Language, name: str, headline_weight: float, negative: float, positive: float
) -> SentimentComponent:
    return SentimentComponent(headline_weight, negative, positive)
