"""Stopword-share language identification."""

from __future__ import annotations

import pytest

from agents.nlp.language import detect_language, language_scores, load_profiles, normalise_language

SAMPLES = {
    "en": "The minister said on Monday that the government would not change its plans for the "
    "new tax, which has been criticised by business groups.",
    "fr": "Le ministre a déclaré lundi que le gouvernement ne changerait pas ses projets pour la "
    "nouvelle taxe, qui a été critiquée par les entreprises.",
    "es": "El ministro dijo el lunes que el Gobierno no cambiará sus planes para el nuevo "
    "impuesto, que ha sido criticado por las empresas.",
    "de": "Der Minister sagte am Montag, dass die Regierung ihre Pläne für die neue Steuer nicht "
    "ändern wird, die von den Unternehmen kritisiert wurde.",
    "it": "Il ministro ha detto lunedì che il governo non cambierà i suoi piani per la nuova "
    "tassa, che è stata criticata dalle imprese.",
    "pt": "O ministro disse na segunda-feira que o governo não vai mudar os seus planos para o "
    "novo imposto, que foi criticado pelas empresas.",
    "nl": "De minister zei maandag dat de regering haar plannen voor de nieuwe belasting niet "
    "zal wijzigen, die door het bedrijfsleven is bekritiseerd.",
}


@pytest.mark.parametrize(("code", "text"), sorted(SAMPLES.items()))
def test_detects_each_profiled_language(code: str, text: str) -> None:
    assert detect_language(text) == code


def test_profiles_have_about_forty_stopwords() -> None:
    profiles = load_profiles()
    assert set(profiles.stopwords) == {"en", "fr", "es", "de", "it", "pt", "nl"}
    for words in profiles.stopwords.values():
        assert 35 <= len(words) <= 50


def test_short_text_defaults_to_english() -> None:
    assert detect_language("Oil prices jump") == "en"
    assert detect_language("") == "en"
    assert detect_language("Le prix du pétrole") == "en"  # four words: too short to tell


def test_no_clear_winner_is_undetermined() -> None:
    assert detect_language("Xylophone quasar zephyr brouhaha kumquat flummox") == "und"


def test_scores_are_shares() -> None:
    scores = language_scores(SAMPLES["en"])
    assert scores["en"] == max(scores.values())
    assert all(0.0 <= v <= 1.0 for v in scores.values())


@pytest.mark.parametrize(
    ("given", "expected"),
    [("en", "en"), ("EN-gb", "en"), ("fr_FR", "fr"), ("fra", "fr"), ("deu", "de"), ("??", "und")],
)
def test_normalise_language(given: str, expected: str) -> None:
    assert normalise_language(given) == expected
