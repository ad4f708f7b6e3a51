"""Near-duplicates: republished copies with light edits are found, the earliest copy is
named, distinct articles on the same subject are not, the window expires old articles,
and a snapshot round-trips."""

from __future__ import annotations

import numpy as np

from stories import DuplicateIndex, load_config

STORY = """Magnitude 7.1 earthquake kills at least 38 in southern Peru

A magnitude 7.1 earthquake struck southern Peru early on Tuesday, killing at least 38 people,
injuring hundreds and flattening homes in towns across the Arequipa region, officials said.

The quake hit at 4:12 a.m. local time at a depth of 35 km, about 60 km northwest of the
coastal city of Camana, the United States Geological Survey said. Several strong aftershocks
followed, the largest measuring 5.8. Peru's navy said there was no risk of a tsunami.

Peru's National Institute of Civil Defence said 412 people had been injured and more than
2,300 homes destroyed or badly damaged, most of them built from adobe. Landslides blocked
sections of the Pan-American Highway, cutting off several mountain villages."""

REPUBLISHED = (
    "Deadly quake flattens homes in Peru's Arequipa region\n\nLIMA (Daily Wire) - "
    + STORY.split("\n\n", 1)[1].rsplit("\n\n", 1)[0]
    + "\n\nReporting by Anna Berg; Editing by Tom Reyes. All rights reserved."
)

OTHER_QUAKE = """Strong earthquake shakes central Chile, no deaths reported

A magnitude 6.4 earthquake shook central Chile on Sunday evening, rattling buildings in the
capital Santiago and cutting power to thousands of homes, but emergency services said there
were no reports of deaths. The quake was centred 40 km off the coast near Valparaiso at a
depth of 20 km. Chile's navy ruled out a tsunami and schools will open as normal."""


def test_a_republished_copy_names_the_original() -> None:
    index = DuplicateIndex(load_config())
    assert index.add("peru-1", STORY, 0.0).duplicate_of is None
    assert index.add("chile-1", OTHER_QUAKE, 10.0).duplicate_of is None
    match = index.add("peru-copy", REPUBLISHED, 20.0)
    assert match.duplicate_of == "peru-1"
    assert 0.5 <= match.similarity < 1.0


def test_the_earliest_copy_is_named_and_exact_copies_score_one() -> None:
    index = DuplicateIndex(load_config())
    index.add("first", STORY, 0.0)
    index.add("second", STORY, 5.0)
    match = index.add("third", STORY, 9.0)
    assert match == ("first", 1.0)


def test_the_same_subject_is_not_a_duplicate() -> None:
    index = DuplicateIndex(load_config())
    index.add("peru-1", STORY, 0.0)
    match = index.add("chile-1", OTHER_QUAKE, 1.0)
    assert match.duplicate_of is None
    assert match.similarity < 0.2


def test_articles_older_than_the_window_are_not_matched() -> None:
    config = load_config().with_values("duplicates", window_s=100.0)
    index = DuplicateIndex(config)
    index.add("old", STORY, 0.0)
    assert index.add("late-copy", REPUBLISHED, 101.0).duplicate_of is None
    assert index.add("copy-of-copy", REPUBLISHED, 150.0).duplicate_of == "late-copy"


def test_expiry_drops_old_slots_once_they_are_many() -> None:
    config = load_config().with_values("duplicates", window_s=10.0)
    index = DuplicateIndex(config)
    for i in range(2100):
        index.add(f"a{i}", f"article number {i} about item {i * 7} in town {i % 13}", float(i))
    assert len(index) < 1100
    assert index.ids[-1] == "a2099"


def test_a_snapshot_restores_the_same_answers() -> None:
    config = load_config()
    index = DuplicateIndex(config)
    index.add("peru-1", STORY, 0.0)
    index.add("chile-1", OTHER_QUAKE, 1.0)
    state = {k: np.array(v) for k, v in index.state().items()}
    restored = DuplicateIndex.from_state(config, state)
    assert restored.add("copy", REPUBLISHED, 2.0) == index.add("copy", REPUBLISHED, 2.0)
    assert restored.add("chile-2", OTHER_QUAKE, 3.0).duplicate_of == "chile-1"
