"""spaCy registry functions for training the CoNLL NER (loaded with ``spacy train --code``)."""

from __future__ import annotations

from collections.abc import Callable

import spacy
from spacy.language import Language
from spacy.pipeline import EntityRecognizer
from spacy.util import registry


@registry.callbacks("wirestream.vocab_from.v1")
def vocab_from(model: str) -> Callable[[Language], Language]:
    """Before initialisation: copy the base model's lexeme-norm table, so the NORM feature
    the NER hashes is the same in training as in the pipeline it is added to."""

    def before_init(nlp: Language) -> Language:
        base = spacy.load(model, exclude=_all_but_ner(model))
        table = base.vocab.lookups.get_table("lexeme_norm")
        nlp.vocab.lookups.set_table("lexeme_norm", table)
        return nlp

    return before_init


@registry.callbacks("wirestream.ner_weights_from.v1")
def ner_weights_from(model: str) -> Callable[[Language], Language]:
    """After initialisation: start the NER's own token-to-vector layers (and its hidden
    layer) from the base model's NER, which has the same architecture; only the output
    layer (one row per action, our labels differ) starts fresh."""

    def after_init(nlp: Language) -> Language:
        base = spacy.load(model, exclude=_all_but_ner(model))
        source = _ner(base).model
        target = _ner(nlp).model
        for ref in ("tok2vec", "lower"):
            target.get_ref(ref).from_bytes(source.get_ref(ref).to_bytes())
        return nlp

    return after_init


def _ner(nlp: Language) -> EntityRecognizer:
    ner = nlp.get_pipe("ner")
    if not isinstance(ner, EntityRecognizer):
        raise TypeError(f"'ner' is a {type(ner).__name__}, not an EntityRecognizer")
    return ner


def _all_but_ner(model: str) -> list[str]:
    names = spacy.util.get_model_meta(spacy.util.get_package_path(model))["components"]
    return [n for n in names if n != "ner"]
