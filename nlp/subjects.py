"""IPTC Media Topics (top level) from weighted lemma lexicons, event evidence and a
trained classifier.

``wirestream_subjects`` (after ``wirestream_events``) puts the assigned topics on
``doc._.ws_topics``, best first. Each topic's lexicon score is its share of the lexicon
and event evidence. A linear classifier over the article's words (``nlp/models/topics/``,
trained by ``training/topics/train.py`` on BBC News, AG News and Reuters-21578) gives
probabilities for five broad topics (arts, economy, politics, science-technology, sport)
and "world" (international news). A topic's score is the mix
``(1 - classifier_weight) × lexicon share + classifier_weight × classifier probability``;
"world" is shared among politics, conflict, disaster, crime and society in proportion to
their lexicon evidence, so the twelve topics the classifier does not know still come
from the lexicon. An article without any lexicon evidence gets the classifier's topics
only when the classifier is confident (``min_probability``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from spacy.language import Language
from spacy.tokens import Doc

from nlp.components import assigns_of, requires_of
from nlp.data import load_toml
from nlp.extensions import register
from nlp.linear import Features, LinearModel
from nlp.types import Event, Topic

register()

MAX_NGRAM = 3
#: The committed topic classifier (see training/topics/).
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "models" / "topics"
#: The classifier's pseudo-class for international news (AG News "World"): the topics
#: it is shared among, which with the classifier's own topics make its domain.
WORLD = "world"
WORLD_TOPICS = ("politics", "conflict", "disaster")
#: Where "world" goes when there is no lexicon evidence to share it by.
WORLD_DEFAULT = "politics"


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


def classifier_words(doc: Doc, headline_chars: int) -> tuple[list[str], list[bool]]:
    """Lower-case token texts (digits folded to 0; no spaces or punctuation) and whether
    each is in the headline: the classifier's input (tokenizer output only, so training
    needs no tagger)."""
    words: list[str] = []
    heads: list[bool] = []
    for token in doc:
        if token.is_space or token.is_punct:
            continue
        text = token.lower_
        if any(c.isdigit() for c in text):
            text = "".join("0" if c.isdigit() else c for c in text)
        words.append(text)
        heads.append(token.idx < headline_chars)
    return words, heads


def topic_features(words: Sequence[str], in_headline: Sequence[bool]) -> Features:
    """Unigrams and bigrams (log counts, L2-normalised); headline words also as ``h:``."""
    counts: dict[str, float] = {}
    for i, word in enumerate(words):
        counts["u:" + word] = counts.get("u:" + word, 0.0) + 1.0
        if in_headline[i]:
            counts["h:" + word] = counts.get("h:" + word, 0.0) + 1.0
        if i + 1 < len(words):
            key = "b:" + word + " " + words[i + 1]
            counts[key] = counts.get(key, 0.0) + 1.0
    feats = {k: 1.0 + math.log(v) for k, v in counts.items()}
    norm = math.sqrt(sum(v * v for v in feats.values())) or 1.0
    return {k: v / norm for k, v in feats.items()}


@lru_cache(maxsize=4)
def load_classifier(directory: str = str(DEFAULT_MODEL_DIR)) -> LinearModel:
    """The topic classifier (read once per process)."""
    return LinearModel.load(Path(directory))


def combine_scores(
    lexicon_evidence: dict[str, float],
    probabilities: dict[str, float],
    lexicon: Lexicon,
    classifier_weight: float,
    domain_power: float = 1.0,
) -> dict[str, float]:
    """Topic scores (summing to 1) from lexicon evidence and classifier probabilities.

    The lexicon shares are split into the classifier's domain (its topics and the
    WORLD_TOPICS) and the rest (health, crime, society, weather, ...). The domain's total
    share D, raised to ``domain_power`` (below 1: an article that is mostly about domain
    topics leans further into the domain), is re-divided among the domain topics by the
    classifier: its probability for a topic, with ``world`` shared among WORLD_TOPICS by
    their lexicon evidence. The other topics keep their lexicon share, scaled to fill the
    rest. The result is mixed with the plain lexicon shares: ``(1 - classifier_weight) ×
    lexicon + classifier_weight × re-divided``."""
    known = {s: v for s, v in lexicon_evidence.items() if s in lexicon.topics and v > 0}
    total = sum(known.values())
    if total <= 0:
        return {}
    shares = {s: v / total for s, v in known.items()}
    if not probabilities or classifier_weight <= 0:
        return shares
    domain = set(probabilities) - {WORLD} | set(WORLD_TOPICS)
    inside = sum(v for s, v in shares.items() if s in domain)
    boosted = inside**domain_power if inside > 0 else 0.0
    outside = 1.0 - inside
    redivided: dict[str, float] = {}
    if outside > 0:
        for slug, share in shares.items():
            if slug not in domain:
                redivided[slug] = share * (1.0 - boosted) / outside
    world = {s: shares.get(s, 0.0) for s in WORLD_TOPICS}
    world_total = sum(world.values())
    for name, p in probabilities.items():
        if name == WORLD:
            parts = {s: v / world_total for s, v in world.items()} if world_total else {}
            parts = parts or {WORLD_DEFAULT: 1.0}
        else:
            parts = {name: 1.0}
        for slug, part in parts.items():
            if part > 0:
                redivided[slug] = redivided.get(slug, 0.0) + boosted * p * part
    combined = {
        s: (1.0 - classifier_weight) * shares.get(s, 0.0)
        + classifier_weight * redivided.get(s, 0.0)
        for s in set(shares) | set(redivided)
    }
    return {s: v for s, v in combined.items() if v > 0}


def classifier_scores(probabilities: dict[str, float], min_probability: float) -> dict[str, float]:
    """Topic scores from the classifier alone (for an article without lexicon evidence):
    its probabilities, ``world`` counted as politics, or nothing when its best is below
    ``min_probability``."""
    if not probabilities or max(probabilities.values()) < min_probability:
        return {}
    scores: dict[str, float] = {}
    for name, p in probabilities.items():
        slug = WORLD_DEFAULT if name == WORLD else name
        scores[slug] = scores.get(slug, 0.0) + p
    return {s: v for s, v in scores.items() if v > 0}


def keep_lexicon_best(
    topics: list[Topic],
    evidence: dict[str, float],
    scores: dict[str, float],
    lexicon: Lexicon,
    max_topics: int,
) -> list[Topic]:
    """``topics`` with the topic of most lexicon evidence added last (in place of the last
    one when there are already ``max_topics``) if it is missing. Its score is its combined
    score, at most that of the topics before it, so the list stays best first."""
    known = [(v, s) for s, v in evidence.items() if s in lexicon.topics and v > 0]
    if not known or not topics or max_topics < 2:
        return topics
    order = list(lexicon.topics)
    best = max(known, key=lambda vs: (vs[0], -order.index(vs[1])))[1]
    if any(t["slug"] == best for t in topics):
        return topics
    kept = topics[: max_topics - 1] if len(topics) >= max_topics else list(topics)
    info = lexicon.topics[best]
    score = min(round(scores.get(best, 0.0), 4), kept[-1]["score"])
    return [*kept, Topic(slug=best, name=info.name, code=info.code, score=score)]


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
        classifier: str | None = None,
        classifier_weight: float = 0.0,
        domain_power: float = 1.0,
        min_probability: float = 1.0,
    ) -> None:
        if not 0.0 <= classifier_weight <= 1.0:
            raise ValueError("topics: classifier_weight must be in [0, 1]")
        self.lexicon = load_lexicon(topics)
        self.relative_threshold = relative_threshold
        self.max_topics = max_topics
        self.headline_weight = headline_weight
        self.event_weight = event_weight
        self.classifier = load_classifier(classifier) if classifier is not None else None
        self.classifier_weight = classifier_weight if self.classifier is not None else 0.0
        self.domain_power = domain_power
        self.min_probability = min_probability

    def probabilities(self, doc: Doc) -> dict[str, float]:
        """The classifier's class probabilities for the article ({} without a classifier)."""
        if self.classifier is None:
            return {}
        words, heads = classifier_words(doc, doc._.ws_headline_chars)
        if not words:
            return {}
        return self.classifier.proba(topic_features(words, heads))

    def topics(self, doc: Doc) -> list[Topic]:
        """The assigned topics: by score (see :meth:`scores`), plus the lexicon's own best
        topic when the classifier pushed it out (the classifier knows only five topics and
        international news; the lexicon knows all seventeen)."""
        evidence = self.evidence(doc)
        scores = self.scores(evidence, self.probabilities(doc))
        topics = assign_topics(
            scores,
            self.lexicon,
            relative_threshold=self.relative_threshold,
            max_topics=self.max_topics,
        )
        return keep_lexicon_best(topics, evidence, scores, self.lexicon, self.max_topics)

    def scores(
        self,
        evidence: dict[str, float],
        probabilities: dict[str, float],
        classifier_weight: float | None = None,
        domain_power: float | None = None,
    ) -> dict[str, float]:
        """Topic scores from lexicon evidence and classifier probabilities, combined
        (:func:`combine_scores`). Without lexicon evidence there is little news-like to go
        on: the classifier's scores alone, and only when it is confident
        (:func:`classifier_scores`). The weight and power default to the component's (the
        evaluation tries others)."""
        weight = self.classifier_weight if classifier_weight is None else classifier_weight
        if not probabilities or weight <= 0:
            return evidence
        if not any(v > 0 for v in evidence.values()):
            return classifier_scores(probabilities, self.min_probability)
        return combine_scores(
            evidence,
            probabilities,
            self.lexicon,
            weight,
            self.domain_power if domain_power is None else domain_power,
        )

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
        doc._.ws_topics = self.topics(doc)
        return doc


@Language.factory(
    "wirestream_subjects",
    default_config={
        "topics": "topics.toml",
        "relative_threshold": 0.5,
        "max_topics": 3,
        "headline_weight": 2.0,
        "event_weight": 2.0,
        "classifier": str(DEFAULT_MODEL_DIR),
        "classifier_weight": 1.0,
        "domain_power": 0.3,
        "min_probability": 0.5,
    },
    requires=requires_of("wirestream_subjects"),
    assigns=assigns_of("wirestream_subjects"),
)
def make_topics(
    nlp: Language,
    name: str,
    topics: str,
    relative_threshold: float,
    max_topics: int,
    headline_weight: float,
    event_weight: float,
    classifier: str | None,
    classifier_weight: float,
    domain_power: float,
    min_probability: float,
) -> TopicComponent:
    return TopicComponent(
        topics,
        relative_threshold,
        max_topics,
        headline_weight,
        event_weight,
        classifier,
        classifier_weight,
        domain_power,
        min_probability,
    )
