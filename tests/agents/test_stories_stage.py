"""The stories stage over enriched records (pure; not yet wired into the worker): the seeds'
republished copy gets ``duplicate_of``, the second source joins the story, the
``wirestream.stories`` message carries the story's current state, and trending ranks it."""

from __future__ import annotations

from typing import Any

import orjson

from agents.stories import STORIES, TRENDING, StoriesStage, epoch
from stories import load_config
from stories.clusters import story_id
from tests.helpers import SEEDS

PERU = [
    {"canonical": "Peru", "label": "GPE", "country": "PE"},
    {"canonical": "Arequipa", "label": "GPE", "country": "PE"},
]


def record(name: str, aid: str, source: str, minute: int) -> dict[str, Any]:
    headline, *rest = (SEEDS / name).read_text(encoding="utf-8").splitlines()
    return {
        "id": aid,
        "headline": headline,
        "standfirst": "",
        "body": "\n".join(rest),
        "source": source,
        "published_at": f"2026-02-17T10:{minute:02d}:00+00:00",
        "entities": PERU,
        "events": [{"tag": "earthquake"}],
    }


def test_copy_and_second_source_join_the_first_report() -> None:
    stage = StoriesStage(load_config())
    first, [m1] = stage.process(record("005_disaster_peru-earthquake.txt", "a1", "Wirestream", 0))
    copy, _ = stage.process(
        record("023_disaster_peru-earthquake-republished.txt", "a2", "Andes Daily", 5)
    )
    second, [m3] = stage.process(
        record("024_disaster_peru-earthquake-second-source.txt", "a3", "Pacific Newswire", 9)
    )
    sid = story_id("a1")
    assert (first["duplicate_of"], first["similarity"]) == (None, 0.0)
    assert first["story"] == {
        "id": sid,
        "size": 1,
        "first_seen": first["story"]["first_seen"],
        "first_article": "a1",
    }
    assert epoch(first["story"]["first_seen"]) == epoch("2026-02-17T10:00:00+00:00")
    assert copy["duplicate_of"] == "a1" and copy["similarity"] >= 0.9
    assert copy["story"]["id"] == sid and copy["story"]["size"] == 2
    assert second["duplicate_of"] is None
    assert second["story"]["id"] == sid and second["story"]["size"] == 3
    assert m1[:2] == (STORIES, sid.encode())
    state = orjson.loads(m3[2])
    assert state["id"] == sid and state["size"] == 3
    assert state["articles"] == ["a1", "a2", "a3"]
    assert state["sources"] == ["Wirestream", "Andes Daily", "Pacific Newswire"]
    assert state["entities"] == ["Peru", "Arequipa"]
    assert state["countries"] == ["PE"] and state["events"] == ["earthquake"]
    assert state["headline"].startswith("Magnitude 7.1 earthquake kills")
    assert epoch(state["last_seen"]) == epoch("2026-02-17T10:09:00+00:00")


def test_trending_ranks_the_story_and_its_entities() -> None:
    stage = StoriesStage(load_config())
    for i, name in enumerate(
        [
            "005_disaster_peru-earthquake.txt",
            "023_disaster_peru-earthquake-republished.txt",
            "024_disaster_peru-earthquake-second-source.txt",
        ]
    ):
        stage.process(record(name, f"a{i}", "x", i))
    topic, key, value = stage.trending(epoch("2026-02-17T10:10:00+00:00"))
    assert (topic, key) == (TRENDING, None)
    items = {
        i["item"]: (i["score"], i["recent"], i["baseline"]) for i in orjson.loads(value)["items"]
    }
    assert items == {
        f"story:{story_id('a0')}": (4.0, 3, 0),
        "entity:Peru": (4.0, 3, 0),
        "entity:Arequipa": (4.0, 3, 0),
    }
