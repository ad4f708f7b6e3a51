"""Event tags: taxonomy triggers (``taxonomy.toml``) matched on lemmas, per sentence.

``wirestream_events`` (after ``wirestream_entities``) puts events on ``doc._.ws_events``
and their unique tags on ``doc._.ws_tags``. :func:`classify_acled` turns a text's events
into one ACLED / CASE 2021 event type (measured by ``bench/events_eval.py``).

Events come sentence by sentence; within a sentence the *primary* event comes first and
the others follow in text order. The primary event is the one whose ACLED type the
sentence is about: chosen by the learned event-type model (``nlp/models/events/``, trained by
``training/events/train.py``) when it is there, else the tag first in ``acled_order``.
The model only looks at sentences that already have an event. It scores the 30 ACLED
types from the sentence's lemmas, lemma bigrams, entity labels and the rules' tags; a
type the rules proposed gets a bonus (``TypeModel.bonus``, in log-probability). When the
model's type is not one the rules proposed, an event of that type's canonical tag (the
first tag in ``acled_order`` with it) is added as the primary event, on the trigger of the
sentence's first event: every type :func:`classify_acled` returns is a tag the record
carries.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc, Span
from spacy.vocab import Vocab

from nlp.components import assigns_of, requires_of
from nlp.data import load_toml
from nlp.entities import MentionRef
from nlp.extensions import register
from nlp.limits import load_limits, note
from nlp.linear import Features, LinearModel
from nlp.types import Event

register()

ACTOR_LABELS = ("PERSON", "ORG", "GPE", "NORP")
#: Actors given as a country code when one is known.
COUNTRY_ACTOR_LABELS = frozenset({"GPE", "NORP"})
#: A trigger followed by one of these is passive ("attacked by X"): X is the actor.
PASSIVE_AGENT = frozenset({"by"})
#: A place after one of these words is where the event happened, not a party to it
#: ("talks for a truce in Libya").
LOCATIVE = frozenset({"in", "at", "near", "inside", "outside", "across", "throughout"})
#: Text between two coordinated actors ("Turkey, Russia to continue talks").
COORDINATORS = frozenset({",", "and", "&", ", and"})
#: The end of a quotation: what follows ("...," Cavusoglu told) is its speaker.
CLOSING_QUOTES = ("\u201d", '"')
#: A sentence with no named actor but one of these lemmas ("the two ministers signed",
#: "both sides agreed") is about the article's two main country actors.
PAIR_WORDS = frozenset({"two", "both"})
#: The committed event-type model (see training/events/); without it, rules only.
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "models" / "events"
#: Parts of speech left out of the model's lemma features (function words, numbers).
MODEL_SKIP_POS = frozenset(
    {"PUNCT", "SPACE", "NUM", "DET", "ADP", "CCONJ", "SCONJ", "PRON", "AUX", "PART", "SYM", "X"}
)


class TaxonomyError(ValueError):
    """A taxonomy file that cannot be used."""


@dataclass(frozen=True)
class Trigger:
    words: tuple[str, ...]  # lemmas, one per token
    pos: frozenset[str] = frozenset()
    context: frozenset[str] = frozenset()
    exclude: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Tag:
    """One event tag. News tags with no CAMEO code of their own (elections, disasters,
    markets...) have ``cameo``, ``quad_class`` and ``goldstein`` all ``None``."""

    slug: str
    cameo: str | None
    name: str
    quad_class: int | None
    goldstein: float | None
    iptc: str
    acled: tuple[str, ...]
    triggers: tuple[Trigger, ...]

    def event(
        self,
        trigger: str,
        trigger_span: list[int],
        sentence: int,
        sentence_text: str,
        actor1: str | None,
        actor2: str | None,
    ) -> Event:
        """An event of this tag."""
        return Event(
            tag=self.slug,
            cameo=self.cameo,
            name=self.name,
            quad_class=self.quad_class,
            goldstein=self.goldstein,
            iptc=self.iptc,
            trigger=trigger,
            trigger_span=trigger_span,
            sentence=sentence,
            sentence_text=sentence_text,
            actor1=actor1,
            actor2=actor2,
        )


@dataclass(frozen=True)
class Taxonomy:
    version: str
    tags: dict[str, Tag]
    #: Every ACLED / CASE 2021 event type a tag may name.
    acled_types: tuple[str, ...] = ()
    #: Slugs of the tags that have ACLED types, most specific first: a text with events of
    #: several such tags gets the type of the first one (``classify_acled``).
    acled_order: tuple[str, ...] = ()


def _words(value: str) -> tuple[str, ...]:
    """A trigger's lemmas. Hyphens are separate tokens, as spaCy splits "cease-fire"."""
    return tuple(value.casefold().replace("-", " - ").split())


def _lemmas(values: Any, where: str) -> frozenset[str]:
    if values is None:
        return frozenset()
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise TaxonomyError(f"{where}: expected a list of strings")
    return frozenset(v.casefold() for v in values)


def parse_trigger(spec: Any, where: str) -> Trigger:
    if not isinstance(spec, dict):
        raise TaxonomyError(f"{where}: a trigger must be a table")
    unknown = set(spec) - {"lemma", "phrase", "pos", "context", "exclude"}
    if unknown:
        raise TaxonomyError(f"{where}: unknown trigger keys {sorted(unknown)}")
    if ("lemma" in spec) == ("phrase" in spec):
        raise TaxonomyError(f"{where}: a trigger needs exactly one of 'lemma' or 'phrase'")
    text = spec.get("lemma", spec.get("phrase"))
    if not isinstance(text, str) or not _words(text):
        raise TaxonomyError(f"{where}: empty trigger")
    words = _words(text)
    if "lemma" in spec and len(words) != 1:
        raise TaxonomyError(f"{where}: 'lemma' is one word; use 'phrase' for {text!r}")
    return Trigger(
        words=words,
        pos=frozenset(p.upper() for p in _lemmas(spec.get("pos"), where)),
        context=_lemmas(spec.get("context"), where),
        exclude=_lemmas(spec.get("exclude"), where),
    )


TAG_KEYS = frozenset({"cameo", "name", "quad_class", "goldstein", "iptc", "acled", "triggers"})
CAMEO_KEYS = ("cameo", "quad_class", "goldstein")


def parse_tag(slug: str, spec: dict[str, Any]) -> Tag:
    where = f"tag.{slug}"
    unknown = set(spec) - TAG_KEYS
    if unknown:
        raise TaxonomyError(f"{where}: unknown keys {sorted(unknown)}")
    coded = [k for k in CAMEO_KEYS if k in spec]
    if coded and len(coded) != len(CAMEO_KEYS):
        raise TaxonomyError(f"{where}: give all of {CAMEO_KEYS} or none of them")
    try:
        cameo = str(spec["cameo"]) if coded else None
        quad_class = int(spec["quad_class"]) if coded else None
        goldstein = float(spec["goldstein"]) if coded else None
        tag = Tag(
            slug=slug,
            cameo=cameo,
            name=str(spec["name"]),
            quad_class=quad_class,
            goldstein=goldstein,
            iptc=str(spec["iptc"]),
            acled=tuple(str(a) for a in spec.get("acled", [])),
            triggers=tuple(
                parse_trigger(t, f"{where}.triggers[{i}]") for i, t in enumerate(spec["triggers"])
            ),
        )
    except KeyError as exc:
        raise TaxonomyError(f"{where}: missing {exc.args[0]!r}") from exc
    if cameo is not None and not (
        cameo.isdigit() and 3 <= len(cameo) <= 4 and 1 <= int(cameo[:2]) <= 20
    ):
        raise TaxonomyError(f"{where}: bad CAMEO code {cameo!r}")
    if quad_class is not None and quad_class not in (1, 2, 3, 4):
        raise TaxonomyError(f"{where}: quad_class must be 1-4")
    if goldstein is not None and not -10.0 <= goldstein <= 10.0:
        raise TaxonomyError(f"{where}: goldstein must be in [-10, 10]")
    if not tag.triggers:
        raise TaxonomyError(f"{where}: no triggers")
    return tag


@lru_cache(maxsize=8)
def load_taxonomy(name: str = "taxonomy.toml") -> Taxonomy:
    """The taxonomy file, parsed and checked."""
    data = load_toml(name)
    if "version" not in data:
        raise TaxonomyError(f"{name}: missing top-level 'version'")
    tags = {slug: parse_tag(slug, spec) for slug, spec in data.get("tag", {}).items()}
    types = _strings(data.get("acled_types", []), f"{name}: acled_types")
    order = _strings(data.get("acled_order", []), f"{name}: acled_order")
    for slug, tag in tags.items():
        unlisted = set(tag.acled) - set(types)
        if unlisted:
            raise TaxonomyError(f"tag.{slug}: acled types not in 'acled_types': {sorted(unlisted)}")
        if tag.acled and slug not in order:
            raise TaxonomyError(f"tag.{slug}: has acled types but is not in 'acled_order'")
    unknown = [slug for slug in order if slug not in tags or not tags[slug].acled]
    if unknown:
        raise TaxonomyError(f"{name}: acled_order names tags without acled types: {unknown}")
    return Taxonomy(version=str(data["version"]), tags=tags, acled_types=types, acled_order=order)


def _strings(values: Any, where: str) -> tuple[str, ...]:
    """A list of distinct strings."""
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise TaxonomyError(f"{where}: expected a list of strings")
    if len(set(values)) != len(values):
        raise TaxonomyError(f"{where}: repeated entries")
    return tuple(values)


def classify_acled(events: Sequence[Event], taxonomy: Taxonomy) -> str | None:
    """One ACLED / CASE type for a text from its events.

    Each sentence's type is the first ``acled`` type of its first event that has one (the
    component puts a sentence's primary event first); of those, the type of the tag that
    comes first in ``taxonomy.acled_order`` wins (ties: the earliest sentence). ``None``
    when no event has a type."""
    rank = {slug: i for i, slug in enumerate(taxonomy.acled_order)}
    best: tuple[int, int] | None = None
    choice: str | None = None
    seen: set[int] = set()
    for position, event in enumerate(events):
        tag = taxonomy.tags.get(event["tag"])
        if tag is None or not tag.acled or event["sentence"] in seen:
            continue
        seen.add(event["sentence"])
        key = (rank.get(tag.slug, len(rank)), position)
        if best is None or key < best:
            best, choice = key, tag.acled[0]
    return choice


def canonical_tags(taxonomy: Taxonomy) -> dict[str, str]:
    """ACLED type → the first tag in ``acled_order`` whose (first) type it is."""
    out: dict[str, str] = {}
    for slug in taxonomy.acled_order:
        out.setdefault(taxonomy.tags[slug].acled[0], slug)
    return out


@dataclass(frozen=True)
class TypeModel:
    """The learned event-type model and its decision settings (``meta.json``)."""

    model: LinearModel
    #: Added to the log-probability of a type the rules proposed for the sentence.
    bonus: float
    #: A sentence with no rule type gets the model's type only at this probability.
    min_prob: float

    @classmethod
    def load(cls, directory: Path) -> TypeModel:
        model = LinearModel.load(directory)
        decision = model.meta.get("decision", {})
        return cls(model, float(decision.get("bonus", 0.0)), float(decision.get("min_prob", 1.0)))


@lru_cache(maxsize=4)
def load_type_model(directory: str = str(DEFAULT_MODEL_DIR)) -> TypeModel | None:
    """The event-type model, or ``None`` when ``directory`` is empty or has none."""
    if not directory or not (Path(directory) / "meta.json").is_file():
        return None
    return TypeModel.load(Path(directory))


def sentence_features(sent: Span, events: Sequence[Event]) -> Features:
    """The type model's features for a sentence and its (rule) events: content lemmas and
    their bigrams, entity labels, the events' tags and trigger words."""
    words = [t.lemma_.casefold() for t in sent if t.pos_ not in MODEL_SKIP_POS]
    feats: Features = {"bias": 1.0}
    for word in words:
        feats["w=" + word] = 1.0
    for first, second in zip(words, words[1:], strict=False):
        feats[f"b={first}_{second}"] = 1.0
    for ent in sent.ents:
        feats["e=" + ent.label_] = 1.0
    for event in events:
        feats["t=" + event["tag"]] = 1.0
        feats["g=" + event["trigger"].casefold()] = 1.0
    return feats


def choose_type(
    probs: Sequence[float] | np.ndarray,
    classes: Sequence[str],
    candidates: Sequence[str],
    bonus: float,
    min_prob: float,
) -> str | None:
    """The sentence's ACLED type: the best of log-probability + ``bonus`` for the rules'
    ``candidates``; with no candidates, the model's best only if it reaches ``min_prob``."""
    scores = np.log(np.asarray(probs, dtype=np.float64) + 1e-9)
    if not candidates:
        best = int(scores.argmax())
        return classes[best] if probs[best] >= min_prob else None
    index = {c: i for i, c in enumerate(classes)}
    for c in set(candidates):
        if c in index:
            scores[index[c]] += bonus
    return classes[int(scores.argmax())]


def primary_first(
    events: Sequence[Event], chosen: str | None, taxonomy: Taxonomy, canonical: dict[str, str]
) -> list[Event]:
    """One sentence's events with the primary one first (the rest in text order).

    ``chosen`` is the sentence's ACLED type (``None``: the rules' own, by ``acled_order``).
    An event of a type no event has is added on the first event's trigger and actors,
    with the type's canonical tag."""
    rank = {slug: i for i, slug in enumerate(taxonomy.acled_order)}
    typed = [e for e in events if taxonomy.tags[e["tag"]].acled]
    if chosen is None:
        if not typed:
            return list(events)
        primary = min(typed, key=lambda e: rank[e["tag"]])
        return [primary, *(e for e in events if e is not primary)]
    for event in typed:
        if taxonomy.tags[event["tag"]].acled[0] == chosen:
            return [event, *(e for e in events if e is not event)]
    tag = taxonomy.tags[canonical[chosen]]
    anchor = events[0]
    added = tag.event(
        anchor["trigger"],
        list(anchor["trigger_span"]),
        anchor["sentence"],
        anchor["sentence_text"],
        anchor["actor1"],
        anchor["actor2"],
    )
    return [added, *events]


def resolve_primary(
    doc: Doc, events: Sequence[Event], taxonomy: Taxonomy, type_model: TypeModel | None
) -> list[Event]:
    """The events, sentence by sentence, each sentence's primary event first (one
    vectorised model call for all the sentences that have events)."""
    if not events:
        return []
    groups: dict[int, list[Event]] = {}
    for event in events:
        groups.setdefault(event["sentence"], []).append(event)
    order = sorted(groups)
    chosen: dict[int, str | None] = dict.fromkeys(order)
    if type_model is not None:
        sents = list(doc.sents)
        rows = [sentence_features(sents[i], groups[i]) for i in order]
        probs = type_model.model.proba_many(rows)
        classes = type_model.model.classes
        for i, p in zip(order, probs, strict=True):
            candidates = [
                taxonomy.tags[e["tag"]].acled[0] for e in groups[i] if taxonomy.tags[e["tag"]].acled
            ]
            chosen[i] = choose_type(p, classes, candidates, type_model.bonus, type_model.min_prob)
    canonical = canonical_tags(taxonomy)
    out: list[Event] = []
    for i in order:
        out.extend(primary_first(groups[i], chosen[i], taxonomy, canonical))
    return out


def _variants(words: tuple[str, ...]) -> list[tuple[str, ...]]:
    # Lemmas of proper nouns keep their case ("Talks" in a title-case headline).
    return sorted({words, tuple(w.capitalize() for w in words), tuple(w.upper() for w in words)})


def build_matcher(
    vocab: Vocab, taxonomy: Taxonomy
) -> tuple[PhraseMatcher, dict[int, tuple[Tag, Trigger]]]:
    """One lemma PhraseMatcher for every trigger; match ids map back to (tag, trigger).

    (A PhraseMatcher is a hash lookup per token: far faster than a token Matcher with
    hundreds of patterns. Part-of-speech, context and exclusions are checked per match.)
    """
    matcher = PhraseMatcher(vocab, attr="LEMMA")
    keys: dict[int, tuple[Tag, Trigger]] = {}
    for tag in taxonomy.tags.values():
        for i, trigger in enumerate(tag.triggers):
            key = f"{tag.slug}#{i}"
            patterns = [Doc(vocab, words=list(v), lemmas=list(v)) for v in _variants(trigger.words)]
            matcher.add(key, patterns)
            keys[vocab.strings[key]] = (tag, trigger)
    return matcher, keys


def _actor(ref: MentionRef) -> str:
    if ref.label in COUNTRY_ACTOR_LABELS and ref.country:
        return ref.country
    return ref.canonical


def _word_before(text: str, start: int) -> str:
    """The lower-cased word just before character ``start``."""
    words = text[max(0, start - 16) : start].split()
    return words[-1].casefold() if words else ""


def find_actors(
    refs: Sequence[MentionRef],
    sent: Span,
    start: int,
    end: int,
    labels: frozenset[str],
    passive: bool,
) -> tuple[str | None, str | None]:
    """Nearest relevant entity before the trigger (actor1) and after it (actor2) in the
    sentence; swapped for a passive trigger ("attack by X": X is actor1).

    A place right after "in", "at", "near"... is the event's location, not an actor, and
    nothing after the end of a quotation is (that is its speaker). With
    no actor after the trigger, two coordinated actors before it ("Turkey, Russia to
    continue talks", "Turkey and Iran signed") are actor1 and actor2.
    """
    text = sent.text  # (cheap: Doc.text would rebuild the whole document's text)
    base = sent.start_char
    befores: list[MentionRef] = []
    after: MentionRef | None = None
    for ref in refs:
        if ref.label not in labels or ref.start < sent.start_char or ref.end > sent.end_char:
            continue
        if ref.label == "GPE" and _word_before(text, ref.start - base) in LOCATIVE:
            continue
        if ref.end <= start:
            befores.append(ref)  # refs are in text order
        elif ref.start >= end and after is None:
            if any(q in text[end - base : ref.start - base] for q in CLOSING_QUOTES):
                break  # past the end of a quotation: the speaker, not a party
            after = ref
    before = befores[-1] if befores else None
    first = _actor(before) if before else None
    second = _actor(after) if after else None
    if passive and second is not None:
        return second, first
    if second is None and len(befores) >= 2:
        x, y = befores[-2], befores[-1]
        joined = text[x.end - base : y.start - base].strip().casefold() in COORDINATORS
        if joined and _actor(x) != _actor(y):
            return _actor(x), _actor(y)
    return first, second


def main_pair(refs: Sequence[MentionRef], labels: frozenset[str]) -> tuple[str, str] | None:
    """The two country actors mentioned most in the article (ties: first mentioned first),
    or ``None`` when there are fewer than two."""
    counts: dict[str, int] = {}
    for ref in refs:
        if ref.label in labels and ref.label in COUNTRY_ACTOR_LABELS and ref.country:
            counts[ref.country] = counts.get(ref.country, 0) + 1
    if len(counts) < 2:
        return None
    first, second = sorted(counts, key=lambda c: -counts[c])[:2]  # stable: text order
    return first, second


def sentence_refs(
    refs: Sequence[MentionRef], starts: Sequence[int] | None, sent: Span
) -> Sequence[MentionRef]:
    """The refs that start inside the sentence, found by bisection on ``starts`` (the
    refs' start offsets, in order); all of them when ``starts`` is None (refs not in
    text order)."""
    if starts is None:
        return refs
    return refs[bisect_left(starts, sent.start_char) : bisect_left(starts, sent.end_char)]


def extract_events(
    doc: Doc,
    matcher: PhraseMatcher,
    keys: dict[int, tuple[Tag, Trigger]],
    refs: Sequence[MentionRef],
    actor_labels: frozenset[str],
    max_sentences: int | None = None,
) -> list[Event]:
    """One event per (tag, sentence) at its first trigger, in text order; with
    ``max_sentences``, events in at most that many sentences (the first ones; the limit
    ``max_event_sentences`` is noted on the doc when later sentences had events)."""
    matches = matcher(doc)
    if not matches:
        return []
    sents = list(doc.sents)
    offsets = [ref.start for ref in refs]
    in_order = all(a <= b for a, b in zip(offsets, offsets[1:], strict=False))
    starts = offsets if in_order else None
    with_events: set[int] = set()
    sent_of = [0] * len(doc)
    for i, sent in enumerate(sents):
        for k in range(sent.start, sent.end):
            sent_of[k] = i
    pair: tuple[str, str] | None = None
    pair_known = False  # main_pair() is worked out once, when first needed
    lemma_sets: dict[int, frozenset[str]] = {}
    seen: set[tuple[str, int]] = set()
    events: list[Event] = []
    found = [(start, end, *keys[match_id]) for match_id, start, end in matches]
    for start, end, tag, trigger in sorted(found, key=lambda x: (x[0], x[1], x[2].slug)):
        idx = sent_of[start]
        if (tag.slug, idx) in seen:
            continue
        if trigger.pos and doc[end - 1].pos_ not in trigger.pos:
            continue
        sent = sents[idx]
        if trigger.context or trigger.exclude:
            lemmas = lemma_sets.get(idx)
            if lemmas is None:
                lemmas = lemma_sets[idx] = frozenset(t.lemma_.casefold() for t in sent)
            if trigger.context and not trigger.context & lemmas:
                continue
            if trigger.exclude & lemmas:
                continue
        if max_sentences is not None and idx not in with_events:
            if len(with_events) >= max_sentences:
                note(doc, "max_event_sentences")
                break
            with_events.add(idx)
        seen.add((tag.slug, idx))
        span = doc[start:end]
        passive = end < len(doc) and doc[end].lower_ in PASSIVE_AGENT
        actor1, actor2 = find_actors(
            sentence_refs(refs, starts, sent),
            sent,
            span.start_char,
            span.end_char,
            actor_labels,
            passive,
        )
        if actor1 is None and actor2 is None and any(t.lower_ in PAIR_WORDS for t in sent):
            if not pair_known:
                pair, pair_known = main_pair(refs, actor_labels), True
            if pair is not None:
                actor1, actor2 = pair
        events.append(
            tag.event(
                span.text,
                [span.start_char, span.end_char],
                idx,
                sent.text.strip(),
                actor1,
                actor2,
            )
        )
    return events


def unique_tags(events: Sequence[Event]) -> list[str]:
    """Event tags without repeats, in first-seen order."""
    return list(dict.fromkeys(e["tag"] for e in events))


class EventComponent:
    """spaCy component: ``doc._.ws_events`` and ``doc._.ws_tags``."""

    def __init__(
        self,
        vocab: Vocab,
        taxonomy: str,
        actor_labels: Sequence[str],
        model: str = "",
        limits: str = "limits.toml",
    ) -> None:
        self.taxonomy = load_taxonomy(taxonomy)
        self.max_sentences = load_limits(limits).max_event_sentences
        self.matcher, self.keys = build_matcher(vocab, self.taxonomy)
        self.actor_labels = frozenset(actor_labels)
        self.type_model = load_type_model(model)
        if self.type_model is not None:
            unknown = set(self.type_model.model.classes) - set(self.taxonomy.acled_types)
            if unknown:
                raise TaxonomyError(f"{model}: classes not in acled_types: {sorted(unknown)}")

    def rule_events(self, doc: Doc) -> list[Event]:
        """The taxonomy's events in text order (before the primary events are chosen)."""
        refs: list[MentionRef] = doc._.ws_mentions or []
        return extract_events(
            doc, self.matcher, self.keys, refs, self.actor_labels, self.max_sentences
        )

    def __call__(self, doc: Doc) -> Doc:
        events = resolve_primary(doc, self.rule_events(doc), self.taxonomy, self.type_model)
        doc._.ws_events = events
        doc._.ws_tags = unique_tags(events)
        return doc


@Language.factory(
    "wirestream_events",
    default_config={
        "taxonomy": "taxonomy.toml",
        "actor_labels": list(ACTOR_LABELS),
        "model": str(DEFAULT_MODEL_DIR),
        "limits": "limits.toml",
    },
    requires=requires_of("wirestream_events"),
    assigns=assigns_of("wirestream_events"),
)
def make_events(
    nlp: Language, name: str, taxonomy: str, actor_labels: list[str], model: str, limits: str
) -> EventComponent:
    return EventComponent(nlp.vocab, taxonomy, actor_labels, model, limits)
