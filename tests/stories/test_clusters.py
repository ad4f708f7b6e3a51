"""Story clustering: independent reports of one event share a story, two same-kind events
with different places and people do not, ids derive from the first article, a snapshot
restores the same assignments, and old stories expire."""

from __future__ import annotations

import numpy as np

from stories import StoryClusterer, load_config
from stories.clusters import story_id
from stories.features import story_features

PERU_A = """Magnitude 7.1 earthquake kills at least 38 in southern Peru. A magnitude 7.1
earthquake struck southern Peru early on Tuesday, killing at least 38 people in the Arequipa
region near Camana, officials said. Peru's civil defence institute INDECI said 412 people were
injured and 2,300 adobe homes destroyed."""
PERU_B = """Rescuers dig through rubble after deadly Arequipa quake. Emergency crews in
Peru's Arequipa region searched collapsed adobe homes on Tuesday after the magnitude 7.1
earthquake near Camana killed 38 people, INDECI said, and the death toll could rise."""
JAPAN = """Magnitude 6.8 earthquake shakes northern Japan, injuring 12. A magnitude 6.8
earthquake struck off Aomori in northern Japan on Friday, injuring 12 people and cutting power
to 9,000 homes, the Japan Meteorological Agency said, and a tsunami advisory was lifted."""
STRIKE = """Dock workers in Rotterdam walk out over pay. Thousands of port workers at
Rotterdam began a 48-hour strike on Monday, halting container terminals, the FNV union said."""


def entities(*names: tuple[str, str, str | None]) -> list[str]:
    return story_features([{"canonical": n, "label": label, "country": c} for n, label, c in names])


def test_features_keep_named_entities_and_countries() -> None:
    feats = entities(("Peru", "GPE", "PE"), ("38", "CARDINAL", None), ("INDECI", "ORG", "PE"))
    assert feats == ["name:Peru", "country:PE", "name:INDECI"]


def test_one_event_one_story_two_events_two_stories() -> None:
    clusterer = StoryClusterer(load_config())
    peru = entities(("Peru", "GPE", "PE"), ("Arequipa", "GPE", "PE"), ("INDECI", "ORG", "PE"))
    a = clusterer.add("peru-a", PERU_A, 0.0, peru)
    strike = clusterer.add("strike", STRIKE, 1.0)
    japan = clusterer.add("japan", JAPAN, 2.0, entities(("Japan", "GPE", "JP")))
    b = clusterer.add("peru-b", PERU_B, 3.0, peru)
    assert a.new and a.id == story_id("peru-a")
    assert (b.id, b.size, b.first_seen, b.first_article, b.new) == (a.id, 2, 0.0, "peru-a", False)
    assert b.similarity >= load_config().clusters.threshold
    assert japan.new and japan.id not in {a.id, strike.id}
    assert strike.new and strike.size == 1


def test_story_ids_do_not_depend_on_the_clusterer() -> None:
    assert story_id("peru-a") == story_id("peru-a") != story_id("peru-b")
    assert story_id("peru-a").startswith("story-") and len(story_id("peru-a")) == 22


def test_a_snapshot_restores_the_same_assignments() -> None:
    config = load_config()
    first = StoryClusterer(config)
    first.add("peru-a", PERU_A, 0.0)
    first.add("japan", JAPAN, 1.0)
    restored = StoryClusterer.from_state(config, {k: np.array(v) for k, v in first.state().items()})
    assert restored.add("peru-b", PERU_B, 2.0) == first.add("peru-b", PERU_B, 2.0)
    assert restored.add("strike", STRIKE, 3.0).id == story_id("strike")


def test_stories_expire_after_the_window() -> None:
    config = load_config().with_values("clusters", window_s=60.0)
    clusterer = StoryClusterer(config)
    clusterer.add("peru-a", PERU_A, 0.0)
    late = clusterer.add("peru-b", PERU_B, 61.0)
    assert late.new and late.id == story_id("peru-b")
    assert clusterer.live_stories(61.0) == 1
