"""spaCy enrichment for wire articles: entities, sentiment, events, topics, language.

Pure functions, no streaming runtime (nothing here imports Faust or Kafka)::

    nlp = build_nlp()
    [analysis] = analyse([NlpInput(text, len(headline), None)], nlp)
"""

from __future__ import annotations

from nlp.events import load_taxonomy
from nlp.model import model_meta, saved_model_meta
from nlp.pipeline import DEFAULT_MODEL, NER_MODEL_PATH, analyse, build_nlp
from nlp.types import Analysis, Entity, Event, NlpInput, Sentiment, Topic

MODEL_NAME: str
MODEL_VERSION: str
MODEL_NAME, MODEL_VERSION = model_meta(DEFAULT_MODEL)
#: The NER that produced the entities (it replaces the base model's own ``ner``).
NER_MODEL_NAME: str
NER_MODEL_VERSION: str
NER_MODEL_NAME, NER_MODEL_VERSION = saved_model_meta(NER_MODEL_PATH)
#: "wirestream-ner-conll 1.0.0", for the ``pipeline`` field of enriched records.
NER_MODEL: str = f"{NER_MODEL_NAME} {NER_MODEL_VERSION}"
TAXONOMY_VERSION: str = load_taxonomy().version

__all__ = [
    "MODEL_NAME",
    "MODEL_VERSION",
    "NER_MODEL",
    "NER_MODEL_NAME",
    "NER_MODEL_VERSION",
    "TAXONOMY_VERSION",
    "Analysis",
    "Entity",
    "Event",
    "NlpInput",
    "Sentiment",
    "Topic",
    "analyse",
    "build_nlp",
]
