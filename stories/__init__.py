"""Near-duplicates, story clusters and trending for wire articles: pure, typed, numpy.

No Faust, no Kafka (tests/test_layers.py)::

    dups = DuplicateIndex(load_config())
    match = dups.add(article_id, text, t)        # Match(duplicate_of, similarity)
    stories = StoryClusterer(load_config())
    story = stories.add(article_id, text, entities, t)   # Story(id, size, first_seen, ...)
"""

from __future__ import annotations

from stories.clusters import Assignment, StoryClusterer
from stories.config import Config, load_config
from stories.minhash import DuplicateIndex, Match
from stories.trending import Trending

__all__ = [
    "Assignment",
    "Config",
    "DuplicateIndex",
    "Match",
    "StoryClusterer",
    "Trending",
    "load_config",
]
