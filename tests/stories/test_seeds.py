"""The seeds as a stream (file order, text alone): 023 is a republished copy of 005, 024 is an
independent report of the same earthquake (same story, not a duplicate), and every other
seed is its own story with no duplicate."""

from __future__ import annotations

from stories import DuplicateIndex, StoryClusterer, load_config
from tests.helpers import SEEDS


def test_the_seeds_have_one_duplicate_and_one_shared_story() -> None:
    config = load_config()
    dups, stories = DuplicateIndex(config), StoryClusterer(config)
    duplicates, story_of = {}, {}
    for i, path in enumerate(sorted(SEEDS.glob("*.txt"))):
        name = path.name[:3]
        text = path.read_text(encoding="utf-8")
        duplicates[name] = dups.add(name, text, float(i)).duplicate_of
        story_of[name] = stories.add(name, text, float(i)).first_article
    assert {k: v for k, v in duplicates.items() if v is not None} == {"023": "005"}
    assert {k: v for k, v in story_of.items() if v != k} == {"023": "005", "024": "005"}
    assert len(story_of) == 25
