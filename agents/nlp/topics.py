"""IPTC Media Topics (top level) from weighted lemma lexicons plus event evidence.

``wirestream_topics`` (after ``wirestream_events``) puts the assigned topics on
``doc._.ws_topics``, best first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from spacy.language import Language
from spacy.tokens import Doc

from agents.nlp.data import load_toml
from agents.nlp.extensions import register
from agents.nlp.types import Event, Topic

register()

MAX_NGRAM = 3


@dataclass(frozen=True)
class TopicInfo:
    slug: str
    code: str
    name: str


@dataclass(frozen=True)
class Lexicon:
    version: str
    topics: dict[str, TopicInfo]  # in file order
    terms: dict[str, dict[str, float]]  # lemma or "lemma lemma" → {slug: weight}
    longest: int


@lru_cache(maxsize=8)
def load_lexicon(name: str = "topics.toml") -> Lexicon:
    """Topics and their weighted lemma lexicons (a term's weight per topic is its best tier)."""
    data = load_toml(name)
    tiers: dict[str, float] = {k: float(v) for k, v in data["weights"].items()}
    topics: dict[str, TopicInfo] = {}
    terms: dict[str, dict[str, float]] = {}
    for slug, spec in data["topic"].items():
        topics[slug] = TopicInfo(slug=slug, code=str(spec["code"]), name=str(spec["name"]))
        for tier, weight in tiers.items():
            for term in spec.get(tier, []):
                key = " ".join(str(term).casefold().replace("-", " - ").split())
                if len(key.split()) > MAX_NGRAM:
                    raise ValueError(f"{name}: topic {slug}: {term!r} is longer than {MAX_NGRAM}")
                per_topic = terms.setdefault(key, {})
                per_topic[slug] = max(per_topic.get(slug, 0.0), weight)
    longest = max((len(k.split()) for k in terms), default=1)
    return Lexicon(str(data.get("version", "")), topics, terms, longest)


def lemma_evidence(
    lemmas: Sequence[str], in_headline: Sequence[bool], lexicon: Lexicon, headline_weight: float
) -> dict[str, float]:
    """Lexicon weight per topic over the lemmas (longest term first, left to right)."""
    evidence: dict[str, float] = {}
    i, n, terms = 0, len(lemmas), lexicon.terms
    while i < n:
        step = 1
        for size in range(min(lexicon.longest, n - i), 0, -1):
            hit = terms.get(" ".join(lemmas[i : i + size]) if size > 1 else lemmas[i])
            if hit is not None:
                factor = headline_weight if in_headline[i] else 1.0
                for slug, weight in hit.items():
                    evidence[slug] = evidence.get(slug, 0.0) + weight * factor
                step = size
                break
        i += step
    return evidence


def event_evidence(events: Iterable[Event], weight: float) -> dict[str, float]:
    """``weight`` per event for the topic of its tag."""
    evidence: dict[str, float] = {}
    for event in events:
        evidence[event["iptc"]] = evidence.get(event["iptc"], 0.0) + weight
    return evidence


def assign_topics(
    evidence: dict[str, float],
    lexicon: Lexicon,
    *,
    relative_threshold: float,
    max_topics: int,
) -> list[Topic]:
    """Scores are shares of all evidence (in [0, 1]); topics scoring at least
    ``relative_threshold`` × the best are assigned, best first, at most ``max_topics``.
    The best is always assigned when there is any evidence."""
    total = sum(v for slug, v in evidence.items() if slug in lexicon.topics and v > 0)
    if total <= 0:
        return []
    order = list(lexicon.topics)
    scored = sorted(
        ((round(evidence[s] / total, 4), s) for s in order if evidence.get(s, 0.0) > 0),
        key=lambda x: (-x[0], order.index(x[1])),
    )
    best = scored[0][0]
    out: list[Topic] = []
    for score, slug in scored[:max_topics]:
        if out and score < relative_threshold * best:
            break
        info = lexicon.topics[slug]
        out.append(Topic(slug=slug, name=info.name, code=info.code, score=score))
    return out


def doc_lemmas(doc: Doc, headline_chars: int) -> tuple[list[str], list[bool]]:
    """Lower-case lemmas of the tokens (no spaces, no punctuation but hyphens) and
    whether each is in the headline."""
    lemmas: list[str] = []
    heads: list[bool] = []
    for token in doc:
        if token.is_space or (token.is_punct and token.text != "-"):
            continue
        lemmas.append(token.lemma_.casefold())
        heads.append(token.idx < headline_chars)
    return lemmas, heads


class TopicComponent:
    """spaCy component: ``doc._.ws_topics``."""

    def __init__(
        self,
        topics: str,
        relative_threshold: float,
        max_topics: int,
        headline_weight: float,
        event_weight: float,
    ) -> None:
        self.lexicon = load_lexicon(topics)
        self.relative_threshold = relative_threshold
        self.max_topics = max_topics
        self.headline_weight = headline_weight
        self.event_weight = event_weight

    def evidence(self, doc: Doc) -> dict[str, float]:
        lemmas, heads = doc_lemmas(doc, doc._.ws_headline_chars)
        lemmas = [self._known(lemma) for lemma in lemmas]
        evidence = lemma_evidence(lemmas, heads, self.lexicon, self.headline_weight)
        for slug, value in event_evidence(doc._.ws_events or [], self.event_weight).items():
            evidence[slug] = evidence.get(slug, 0.0) + value
        return evidence

    def _known(self, lemma: str) -> str:
        # Proper nouns keep their plural as lemma ("Democrats"): try the singular.
        if lemma not in self.lexicon.terms and lemma.endswith("s") and len(lemma) > 3:
            singular = lemma[:-1]
            if singular in self.lexicon.terms:
                return singular
        return lemma

    def __call__(self, doc: Doc) -> Doc:
        doc._.ws_topics = assign_topics(
            self.evidence(doc),
            self.lexicon,
            relative_threshold=self.relative_threshold,
            max_topics=self.max_topics,
        )
        return doc


@Language.factory(
    "wirestream_topics",
    default_config={
        "topics": "topics.toml",
        "relative_threshold": 0.5,
        "max_topics": 3,
        "headline_weight": 2.0,
        "event_weight": 2.0,
    },
    requires=["token.lemma"],
    assigns=["doc._.ws_topics"],
)
def make_topics(
    nlp: Language,
    name: str,
    topics: str,
    relative_threshold: float,
    max_topics: int,
    headline_weight: float,
    event_weight: float,
) -> TopicComponent:
    return TopicComponent(topics, relative_threshold, max_topics, headline_weight, event_weight)
