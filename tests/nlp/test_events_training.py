"""The event-type model's training helpers (training/events/train.py) on tiny data."""

from __future__ import annotations

from spacy.language import Language

from nlp.events import EventComponent
from training.events import train
from training.events.case import Snippet


def test_grid_points_cover_every_combination() -> None:
    points = train.grid_points({"grid": {"bonus": [1.0, 2.0], "l2": [0.1, 0.2, 0.3]}})
    assert len(points) == 6
    assert points[0] == {"bonus": 1.0, "l2": 0.1}
    assert train.grid_points({}) == [{}]


def test_folds_are_stratified_and_seeded(nlp: Language) -> None:
    texts = {
        "ATTACK": "Gunmen attacked a village and killed three farmers.",
        "ARREST": "Police arrested him.",
    }
    snippets = [
        Snippet(str(i), texts[label], label) for i, label in enumerate(["ATTACK", "ARREST"] * 5)
    ]
    examples = train.featurise(snippets, nlp)
    assert all(ex.rows for ex in examples)  # every snippet has a rule event
    fold = train.folds(examples, 5, seed=3)
    assert fold == train.folds(examples, 5, seed=3)
    for f in range(5):
        labels = [ex.snippet.label for ex, g in zip(examples, fold, strict=True) if g == f]
        assert sorted(labels) == ["ARREST", "ATTACK"]


def test_training_and_cross_validation_run_through_the_component(nlp: Language) -> None:
    texts = {
        "ATTACK": "Gunmen attacked a village and killed three farmers.",
        "ARREST": "Police arrested two men suspected of smuggling.",
        "PEACE_PROTEST": "Thousands of people protested peacefully in the capital.",
    }
    snippets = [
        Snippet(str(i), text, label) for i, (label, text) in enumerate(list(texts.items()) * 4)
    ]
    examples = train.featurise(snippets, nlp)
    component = nlp.get_pipe("wirestream_events")
    assert isinstance(component, EventComponent)
    config = {
        "seed": 1, "bits": 12, "epochs": 5, "learning_rate": 0.2, "l2": 1e-5,
        "batch_size": 4, "bonus": 2.0, "min_prob": 0.5,
    }  # fmt: skip
    classes = sorted(component.taxonomy.acled_types)
    predicted = train.cross_validate(examples, classes, config, component, 2)
    assert predicted == [s.label for s in snippets]
    report = train.halves(examples, predicted)
    assert report["all"]["macro_f1"] == 1.0
    assert report["tune_odd_ids"]["n"] + report["heldout_even_ids"]["n"] == len(snippets)
