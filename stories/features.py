"""The pipeline's output that story clustering uses beside the text: entities' canonical
names (people, organisations, places, events...) and their countries."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: Entity labels whose canonical names identify a story (not dates, numbers, money).
NAMED = frozenset({"PERSON", "ORG", "GPE", "LOC", "FAC", "EVENT", "NORP", "PRODUCT", "WORK_OF_ART"})


def story_features(
    entities: Iterable[Mapping[str, Any]], events: Iterable[Mapping[str, Any]] = ()
) -> list[str]:
    """``name:<canonical>`` per named entity, ``country:<code>`` per country, and
    ``event:<tag>`` per event tag, deduplicated, in first-seen order."""
    out: dict[str, None] = {}
    for e in entities:
        if e.get("label") in NAMED and e.get("canonical"):
            out[f"name:{e['canonical']}"] = None
        if e.get("country"):
            out[f"country:{e['country']}"] = None
    return list(out)
