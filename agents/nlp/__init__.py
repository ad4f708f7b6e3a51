"""spaCy enrichment for wire articles: entities, sentiment, events, topics, language.

Pure functions, no streaming runtime (nothing here imports Faust or Kafka)::

    nlp = build_nlp()
    [analysis] = analyse([NlpInput(text, len(headline), None)], nlp)
"""

from __future__ import annotations

from agents.nlp.events import load_taxonomy
from agents.nlp.model import model_meta
from agents.nlp.pipeline import DEFAULT_MODEL, analyse, build_nlp
from agents.nlp.types import Analysis, Entity, Event, NlpInput, Sentiment, Topic

MODEL_NAME: str
MODEL_VERSION: str
MODEL_NAME, MODEL_VERSION = model_meta(DEFAULT_MODEL)
TAXONOMY_VERSION: str = load_taxonomy().version

__all__ = [
    "MODEL_NAME",
    "MODEL_VERSION",
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
