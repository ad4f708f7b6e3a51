"""build_nlp / analyse: the pipeline, languages, truncation, ordering."""

from __future__ import annotations

import orjson
import pytest
from spacy.language import Language

import nlp as wsnlp
from nlp import NlpInput, analyse, build_nlp
from nlp.pipeline import NER_MODEL_PATH, load_ner

FRENCH = (
    "Le gouvernement a annoncé mardi une nouvelle réforme des retraites. "
    "Les syndicats ont appelé à une grève nationale pour la semaine prochaine, "
    "selon le ministre du Travail qui s'est exprimé devant les députés à Paris."
)
SPANISH = (
    "El presidente del Gobierno anunció este martes que la reforma de las pensiones "
    "se aprobará antes del verano. Los sindicatos han convocado una huelga general "
    "para la próxima semana en Madrid, según fuentes del Ministerio de Trabajo."
)
GERMAN_LOOKING_ENGLISH = "Turkey and Russia agreed to continue talks on a ceasefire in Libya."


def test_pipeline_components(nlp: Language) -> None:
    names = nlp.pipe_names
    assert "parser" not in names and "parser" not in nlp.component_names
    assert "senter" in names and "ner" in names
    order = [
        "senter",
        "wirestream_lines",
        "ner",
        "wirestream_entities",
        "wirestream_sentiment",
        "wirestream_events",
        "wirestream_subjects",
    ]
    assert [n for n in names if n in order] == order


def test_versions() -> None:
    assert wsnlp.MODEL_NAME == "en_core_web_sm"
    assert wsnlp.MODEL_VERSION == "3.8.0"
    assert wsnlp.TAXONOMY_VERSION == "2"


def test_model_version_matches_loaded_meta(nlp: Language) -> None:
    assert nlp.meta["version"] == wsnlp.MODEL_VERSION


def test_cached_morphology_matches_the_model_components(
    nlp: Language, seed_input: NlpInput
) -> None:
    slow = build_nlp(fast_morphology=False)
    assert "wirestream_morphology" in nlp.pipe_names
    assert "attribute_ruler" not in nlp.pipe_names and "lemmatizer" not in nlp.pipe_names
    assert "attribute_ruler" in slow.pipe_names and "lemmatizer" in slow.pipe_names
    texts = [
        seed_input.text,
        seed_input.text,  # second time from the cache
        "Let's go, y'all: we're gonna win. I ain't worried, said the coach's son.",
        "The ministers met in Geneva.\n\nTalks were held; prices rose 3% on Monday.",
    ]
    for fast_doc, slow_doc in zip(nlp.pipe(texts), slow.pipe(texts), strict=True):
        assert [(t.tag_, t.pos_, str(t.morph), t.lemma_) for t in fast_doc] == [
            (t.tag_, t.pos_, str(t.morph), t.lemma_) for t in slow_doc
        ]
    assert [t.lemma_ for t in nlp("Talks were held")] == ["talk", "be", "hold"]


def test_ner_is_the_committed_conll_model(nlp: Language) -> None:
    assert wsnlp.NER_MODEL == "wirestream-ner-conll 1.0.0"
    assert (wsnlp.NER_MODEL_NAME, wsnlp.NER_MODEL_VERSION) == ("wirestream-ner-conll", "1.0.0")
    assert "PER" not in nlp.get_pipe("ner").labels
    assert {"PERSON", "ORG", "GPE", "LOC", "NORP"} <= set(nlp.get_pipe("ner").labels)
    assert nlp.get_pipe("ner").labels == load_ner(NER_MODEL_PATH).get_pipe("ner").labels


@pytest.mark.parametrize(("text", "code"), [(FRENCH, "fr"), (SPANISH, "es")])
def test_non_english_is_detected_and_not_analysed(nlp: Language, text: str, code: str) -> None:
    [result] = analyse([NlpInput(text, 60, None)], nlp)
    assert result == {
        "language": code,
        "truncated": False,
        "limits": [],
        "entities": [],
        "sentiment": {"compound": 0.0, "label": "neutral"},
        "events": [],
        "tags": [],
        "topics": [],
    }


def test_given_language_skips_nlp(nlp: Language) -> None:
    [result] = analyse([NlpInput(GERMAN_LOOKING_ENGLISH, 10, "de")], nlp)
    assert result["language"] == "de"
    assert result["entities"] == [] and result["events"] == [] and result["topics"] == []
    assert result["sentiment"] == {"compound": 0.0, "label": "neutral"}


def test_given_english_tag_is_normalised(nlp: Language) -> None:
    [result] = analyse([NlpInput(GERMAN_LOOKING_ENGLISH, 10, "en-GB")], nlp)
    assert result["language"] == "en"
    assert {e["canonical"] for e in result["entities"]} >= {"Turkey", "Russia", "Libya"}


def test_mixed_batch_keeps_input_order(nlp: Language, seed_input: NlpInput) -> None:
    items = [
        NlpInput(FRENCH, 20, None),
        seed_input,
        NlpInput(SPANISH, 20, "es"),
        NlpInput(GERMAN_LOOKING_ENGLISH, 20, None),
    ]
    results = analyse(items, nlp, batch_size=2)
    assert [r["language"] for r in results] == ["fr", "en", "es", "en"]
    assert results[1]["entities"] and results[3]["entities"]


def test_truncation(nlp: Language, seed_input: NlpInput) -> None:
    max_chars = 600
    [result] = analyse([seed_input], nlp, max_chars=max_chars)
    assert result["truncated"] is True
    assert result["limits"] == ["max_chars"]
    assert result["entities"]
    for entity in result["entities"]:
        for start, end in entity["mentions"]:
            assert 0 <= start < end <= max_chars
            assert seed_input.text[start:end] != ""
    for event in result["events"]:
        assert event["trigger_span"][1] <= max_chars
    # names after the cut are not there
    assert "Khalifa Haftar" not in {e["canonical"] for e in result["entities"]}


def test_short_and_empty_texts(nlp: Language) -> None:
    results = analyse([NlpInput("", 0, None), NlpInput("Markets rally", 13, None)], nlp)
    assert [r["language"] for r in results] == ["en", "en"]
    assert results[0]["entities"] == [] and results[0]["topics"] == []
    assert results[0]["sentiment"] == {"compound": 0.0, "label": "neutral"}


def test_output_is_json_ready(nlp: Language, seed_input: NlpInput) -> None:
    [result] = analyse([seed_input], nlp)
    assert orjson.loads(orjson.dumps(result)) == result


def test_bad_max_chars(nlp: Language) -> None:
    with pytest.raises(ValueError, match="max_chars"):
        analyse([NlpInput("x", 1, None)], nlp, max_chars=0)


def test_no_streaming_imports() -> None:
    import sys

    import nlp  # noqa: F401

    modules = [m for m in sys.modules if m.startswith("nlp")]
    assert modules
    for name in modules:
        source = sys.modules[name].__file__ or ""
        if not source.endswith(".py"):
            continue
        with open(source, encoding="utf-8") as fh:
            code = fh.read()
        for banned in (
            "import faust",
            "from faust",
            "aiokafka",
            "from streams",
            "from schemas",
            "import streams",
            "import schemas",
        ):
            assert banned not in code, f"{name} mentions {banned!r}"


RESULTS_TABLE = """BASEBALL - MAJOR LEAGUE RESULTS THURSDAY
NEW YORK 1996-08-29
Results of Major League Baseball games played on Thursday ( home team in CAPS ) :
Chicago 4 HOUSTON 3
San Diego 3 NEW YORK 2
STANDINGS
CHICAGO 72 64 .529 9
HOUSTON 73 63 .537 -
FRIDAY 'S SCHEDULE
HOUSTON AT PITTSBURGH"""


def test_results_table_names_teams_and_places(nlp: Language) -> None:
    """Cities in score lines, standings and fixtures are teams (ORG); the dateline and the
    venue of a fixture are places; the team "NEW YORK" is its own entity beside the city."""
    [analysis] = analyse([NlpInput(RESULTS_TABLE, 40, "en")], nlp)
    found = {
        (
            e["canonical"],
            e["label"],
            tuple(RESULTS_TABLE.count("\n", 0, s) for s, _ in e["mentions"]),
        )
        for e in analysis["entities"]
    }
    assert found == {
        ("NEW YORK", "GPE", (1,)),
        ("NEW YORK", "ORG", (4,)),
        ("Chicago", "ORG", (3, 6)),
        ("Houston", "ORG", (3, 7, 9)),
        ("San Diego", "ORG", (4,)),
        ("PITTSBURGH", "GPE", (9,)),
    }


def test_a_short_english_text_gets_the_english_nlp(nlp: Language) -> None:
    """Detected as Dutch by the stop-word profiles before, so it got no NLP at all."""
    text = "Barack Obama met Vladimir Putin in Geneva"
    [result] = analyse([NlpInput(text, len(text), None)], nlp)
    assert result["language"] == "en"
    names = {(e["canonical"], e["label"]) for e in result["entities"]}
    assert {("Barack Obama", "PERSON"), ("Vladimir Putin", "PERSON")} <= names
    assert ("Geneva", "GPE") in names
