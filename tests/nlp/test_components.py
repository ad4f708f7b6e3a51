"""The components table (nlp/components.py): each factory declares what the table says,
every read is assigned earlier, and a new component is one factory plus one table line."""

from __future__ import annotations

import pytest
from spacy.language import Language
from spacy.tokens import Doc

from nlp import NlpInput, analyse, build_nlp, components
from nlp.components import INPUTS, Component, Output
from nlp.pipeline import COMPONENTS, empty_analysis
from nlp.types import Analysis


def test_the_table_is_the_pipeline_order(nlp: Language) -> None:
    factories = [item.factory for item in components.table()]
    assert factories == [
        "wirestream_entities",
        "wirestream_sentiment",
        "wirestream_events",
        "wirestream_subjects",
        "wirestream_geo",
    ]
    assert list(COMPONENTS) == ["wirestream_lines", *factories]
    assert [n for n in nlp.pipe_names if n.startswith("wirestream_")][-5:] == factories


def test_factories_declare_what_the_table_says(nlp: Language) -> None:
    for item in components.table():
        meta = nlp.get_pipe_meta(item.factory)
        assert meta.requires == list(item.requires), item.factory
        assert meta.assigns == [f"doc._.{o.extension}" for o in item.outputs], item.factory
    assert nlp.get_pipe_meta("wirestream_sentiment").assigns == [
        "doc._.ws_sentiment",
        "doc._.ws_entity_sentiment",
    ]
    assert "doc._.ws_entities" not in nlp.get_pipe_meta("wirestream_sentiment").assigns
    assert nlp.get_pipe_meta("wirestream_subjects").requires == [
        "token.lemma",
        "doc._.ws_headline_chars",
        "doc._.ws_events",
    ]


def test_every_read_is_assigned_by_an_earlier_component(nlp: Language) -> None:
    assigned = {f"doc._.{name}" for name in INPUTS}
    ours = {item.factory for item in components.table()}
    checked = []
    for name in nlp.pipe_names:
        meta = nlp.get_pipe_meta(name)
        if name in ours:
            missing = set(meta.requires) - assigned
            assert not missing, f"{name} reads {sorted(missing)} before anything assigns it"
            checked.append(name)
        assigned |= set(meta.assigns)
    assert checked == [item.factory for item in components.table()]
    # the spaCy attributes read are really there (tok2vec, senter, ner, morphology)
    assert {"doc.tensor", "token.is_sent_start", "doc.ents", "token.lemma"} <= assigned


def test_every_extension_is_registered_with_its_default(nlp: Language) -> None:
    defaults = components.extension_defaults()
    assert set(defaults) == {
        "ws_headline_chars",
        "ws_limits",
        "ws_entities",
        "ws_mentions",
        "ws_sentiment",
        "ws_entity_sentiment",
        "ws_events",
        "ws_tags",
        "ws_topics",
        "ws_geo",
        "ws_event_location",
    }
    for name, default in defaults.items():
        assert Doc.get_extension(name) == (default, None, None, None), name


def test_empty_result_comes_from_the_table() -> None:
    assert components.fields() == ["entities", "sentiment", "events", "tags", "topics"]
    assert empty_analysis("fr", True) == {
        "language": "fr",
        "truncated": True,
        "limits": ["max_chars"],
        "entities": [],
        "sentiment": {"compound": 0.0, "label": "neutral"},
        "events": [],
        "tags": [],
        "topics": [],
    }
    # every Analysis field is the base three or one component output's
    base = {"language", "truncated", "limits"}
    assert set(Analysis.__annotations__) == base | set(components.fields())
    # fresh values each time: one result's list is not another's
    first, second = empty_analysis("de", False), empty_analysis("de", False)
    assert first["entities"] is not second["entities"]


def test_entity_sentiment_is_joined_into_the_analysis(nlp: Language) -> None:
    text = "Court jails fraudster\n\nJudge Mary Brown sentenced John Smith to ten years for fraud."
    doc = nlp.make_doc(text)
    doc._.ws_headline_chars = text.index("\n")
    [doc] = list(nlp.pipe([doc]))
    [analysis] = analyse([NlpInput(text, text.index("\n"), "en")], nlp)
    assert [e["canonical"] for e in analysis["entities"]] == [
        e["canonical"] for e in doc._.ws_entities
    ]
    assert [e["sentiment"] for e in analysis["entities"]] == doc._.ws_entity_sentiment
    assert all("sentiment" not in e for e in doc._.ws_entities)  # the entity dicts untouched
    smith = next(e for e in analysis["entities"] if e["canonical"] == "John Smith")
    assert smith["sentiment"] is not None and smith["sentiment"]["label"] == "negative"
    # the joins come last, in table order: sentiment, then geo (None for a PERSON)
    assert list(smith)[-2:] == ["sentiment", "geo"] and smith["geo"] is None


# -- adding a component through the table -----------------------------------------------
WORDCOUNT = Component(
    "wirestream_test_wordcount",
    __name__,
    (Output("ws_test_wordcount", field="wordcount", empty=int),),
    requires=("doc._.ws_headline_chars", "doc._.ws_entities"),
)


class WordCount:
    """Words (alphabetic tokens), and how many are in the headline."""

    def __call__(self, doc: Doc) -> Doc:
        words = [t for t in doc if t.is_alpha]
        in_headline = sum(1 for t in words if t.idx < doc._.ws_headline_chars)
        doc._.ws_test_wordcount = {
            "words": len(words),
            "headline": in_headline,
            "entities": len(doc._.ws_entities),
        }
        return doc


@Language.factory(WORDCOUNT.factory, requires=list(WORDCOUNT.requires), assigns=WORDCOUNT.assigns)
def make_wordcount(nlp: Language, name: str) -> WordCount:
    return WordCount()


def test_a_new_component_is_one_table_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(components, "COMPONENTS", (*components.COMPONENTS, WORDCOUNT))
    extended = build_nlp()
    assert extended.pipe_names[-2:] == ["wirestream_geo", "wirestream_test_wordcount"]
    text = "Storm hits Lisbon\n\nHeavy rain flooded streets in Lisbon on Monday."
    english, french = analyse(
        [
            NlpInput(text, len("Storm hits Lisbon"), None),
            NlpInput("La pluie tombe sur Paris depuis lundi matin.", 10, "fr"),
        ],
        extended,
    )
    assert english["wordcount"] == {"words": 11, "headline": 3, "entities": 1}  # type: ignore[typeddict-item]
    assert [e["canonical"] for e in english["entities"]] == ["Lisbon"]
    assert [t["slug"] for t in english["topics"]] == ["disaster", "weather"]  # others as before
    assert french["wordcount"] == 0  # type: ignore[typeddict-item]
    assert french["entities"] == [] and french["language"] == "fr"
