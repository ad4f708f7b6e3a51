"""The wirestream spaCy components, one line each: what each reads and what it writes.

This table is the one place a component's output is declared. From it come the ``Doc``
extensions (:func:`nlp.extensions.register`), the pipeline's component order
(:func:`nlp.pipeline.build_nlp`), each factory's ``requires``/``assigns``
(:func:`requires_of`, :func:`assigns_of`), the empty result for an article the NLP does
not read (non-English, :func:`nlp.pipeline.empty_analysis`) and the ``Analysis`` dict
built from a ``Doc`` (:func:`nlp.pipeline.doc_analysis`).

Adding a component: write its module (a ``@Language.factory`` with
``requires=requires_of(name), assigns=assigns_of(name)``) and append its line to
:data:`COMPONENTS` (plus the JSON Schema if the enriched record changes). Nothing here
imports spaCy or the component modules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Output:
    """One ``Doc`` extension a component assigns.

    ``field`` is the ``Analysis`` field it fills (None: read by later components only) and
    ``empty`` that field's value for an article the NLP did not read. ``join`` =
    ``(field, key)``: the value is a list aligned with that field's items and is stored as
    ``item[key]`` in the analysis (the ``Doc``'s own dicts are left as they are)."""

    extension: str
    default: Any = None
    field: str | None = None
    empty: Callable[[], Any] | None = None
    join: tuple[str, str] | None = None


@dataclass(frozen=True)
class Component:
    """A spaCy factory, the module that registers it, what it assigns and what it reads
    (``doc._.<extension>`` of earlier components or spaCy attributes such as
    ``token.lemma``)."""

    factory: str
    module: str
    outputs: tuple[Output, ...]
    requires: tuple[str, ...]

    @property
    def assigns(self) -> list[str]:
        return [f"doc._.{o.extension}" for o in self.outputs]


def _neutral() -> dict[str, Any]:
    return {"compound": 0.0, "label": "neutral"}


#: Extensions set outside the components: by :func:`nlp.pipeline.analyse` before the
#: pipeline runs (``ws_headline_chars``) and by any stage whose cap applied (``ws_limits``,
#: :func:`nlp.limits.note`). name -> default.
INPUTS: dict[str, Any] = {"ws_headline_chars": 0, "ws_limits": None}

#: The wirestream components after the model's own (and after ``wirestream_lines``), in
#: pipeline order.
COMPONENTS: tuple[Component, ...] = (
    Component(
        "wirestream_entities",
        "nlp.entities",
        (
            Output("ws_entities", field="entities", empty=list),
            Output("ws_mentions"),  # every mention, for event actors
        ),
        requires=("doc.ents", "doc._.ws_headline_chars"),
    ),
    Component(
        "wirestream_sentiment",
        "nlp.sentiment",
        (
            Output("ws_sentiment", field="sentiment", empty=_neutral),
            # per entity of ws_entities: {"label", "score"} or None -> entities[i].sentiment
            Output("ws_entity_sentiment", join=("entities", "sentiment")),
        ),
        requires=(
            "token.is_sent_start",
            "doc.tensor",
            "doc._.ws_headline_chars",
            "doc._.ws_entities",
        ),
    ),
    Component(
        "wirestream_events",
        "nlp.events",
        (
            Output("ws_events", field="events", empty=list),
            Output("ws_tags", field="tags", empty=list),
        ),
        requires=("token.lemma", "token.pos", "token.is_sent_start", "doc._.ws_mentions"),
    ),
    Component(
        "wirestream_subjects",
        "nlp.subjects",
        (Output("ws_topics", field="topics", empty=list),),
        requires=("token.lemma", "doc._.ws_headline_chars", "doc._.ws_events"),
    ),
    Component(
        "wirestream_geo",
        "nlp.geo",
        (
            # per entity of ws_entities: a GeoNames place or None -> entities[i].geo
            Output("ws_geo", join=("entities", "geo")),
            # per event of ws_events: the place of its sentence or None -> events[i].location
            Output("ws_event_location", join=("events", "location")),
        ),
        requires=("token.is_sent_start", "doc._.ws_entities", "doc._.ws_events"),
    ),
)


def table() -> tuple[Component, ...]:
    """The components (read at call time, so a test may extend :data:`COMPONENTS`)."""
    return COMPONENTS


def component(factory: str) -> Component:
    """The table's line for ``factory``."""
    for item in table():
        if item.factory == factory:
            return item
    raise KeyError(f"{factory} is not in nlp.components.COMPONENTS")


def requires_of(factory: str) -> list[str]:
    """``requires`` for the component's ``@Language.factory``, as the table says."""
    return list(component(factory).requires)


def assigns_of(factory: str) -> list[str]:
    """``assigns`` for the component's ``@Language.factory``, as the table says."""
    return component(factory).assigns


def record_fields() -> list[str]:
    """The enriched record's NLP fields, in table order (the record keeps this order:
    entities, sentiment, events, tags, topics, then any field a new component adds)."""
    return [o.field for item in table() for o in item.outputs if o.field is not None]


def extension_defaults() -> dict[str, Any]:
    """Every wirestream ``Doc`` extension -> its default."""
    found = dict(INPUTS)
    for item in table():
        for out in item.outputs:
            found[out.extension] = out.default
    return found


def outputs() -> list[Output]:
    return [out for item in table() for out in item.outputs]


def fields(item_outputs: Sequence[Output] | None = None) -> list[str]:
    """The ``Analysis`` fields the components fill, in table order."""
    return [o.field for o in (outputs() if item_outputs is None else item_outputs) if o.field]
