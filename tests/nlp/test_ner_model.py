"""The committed CoNLL NER (nlp/models/ner-conll): loads from disk alone and finds names."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from spacy.language import Language
from spacy.pipeline import EntityRecognizer

from nlp.model import saved_model_meta
from nlp.pipeline import NER_MODEL_PATH, load_ner

LABELS = {
    "PERSON",
    "ORG",
    "GPE",
    "LOC",
    "FAC",
    "NORP",
    "EVENT",
    "PRODUCT",
    "WORK_OF_ART",
    "LAW",
    "MISC",
}


class NetworkUsed(AssertionError):
    pass


@pytest.fixture(scope="module")
def ner() -> Iterator[Language]:
    """The saved pipeline, loaded while every socket connection fails."""

    def refuse(self: socket.socket, *args: Any) -> None:
        raise NetworkUsed(f"network used while loading the NER: {args}")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(socket.socket, "connect_ex", refuse)
        nlp = load_ner(NER_MODEL_PATH)
    yield nlp


def test_committed_files_are_small() -> None:
    size = sum(p.stat().st_size for p in NER_MODEL_PATH.rglob("*") if p.is_file())
    assert (NER_MODEL_PATH / "ner" / "model").is_file()
    assert size < 20 * 1024 * 1024


def test_meta_names_the_model() -> None:
    assert saved_model_meta(NER_MODEL_PATH) == ("wirestream-ner-conll", "1.0.0")


def test_labels(ner: Language) -> None:
    assert ner.pipe_names == ["ner"]
    component = ner.get_pipe("ner")
    assert isinstance(component, EntityRecognizer)
    assert set(component.labels) == LABELS


def ents(nlp: Language, text: str) -> set[tuple[str, str]]:
    return {(e.text, e.label_) for e in nlp(text).ents}


def test_people_organisations_and_places(ner: Language) -> None:
    found = ents(
        ner,
        "German Chancellor Angela Merkel met French President Emmanuel Macron in Paris "
        "on Tuesday, a spokesman for the European Commission said.",
    )
    assert {
        ("Angela Merkel", "PERSON"),
        ("Emmanuel Macron", "PERSON"),
        ("Paris", "GPE"),
        ("European Commission", "ORG"),
    } <= found
    assert ("German", "NORP") in found and ("French", "NORP") in found


def test_companies_and_natural_places(ner: Language) -> None:
    found = ents(
        ner,
        "Shares in Microsoft rose 3 percent after Goldman Sachs raised its forecast, "
        "while heavy snow closed roads across the Alps.",
    )
    assert ("Microsoft", "ORG") in found
    assert ("Goldman Sachs", "ORG") in found
    assert ("Alps", "LOC") in found


def test_missing_model_fails_loudly(tmp_path: Any) -> None:
    with pytest.raises(FileNotFoundError, match="no trained NER"):
        load_ner(tmp_path)
    assert saved_model_meta(tmp_path) == (tmp_path.name, "missing")
