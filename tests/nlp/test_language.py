"""Language identification (py3langid, English by default for unclear short texts)."""

from __future__ import annotations

import pytest

from nlp.language import (
    detect_language,
    language_probabilities,
    load_identifier,
    load_settings,
    normalise_language,
)

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


#: Short texts (hand-written; not those of bench/language.py), English ones first. The
#: English ones name people and places, which stop-word profiles took for Dutch or left
#: undetermined ("met" and "in" are Dutch stop words).
SHORT_ENGLISH = [
    "Barack Obama met Vladimir Putin in Geneva",
    "Angela Merkel meets Emmanuel Macron in Berlin",
    "Van Gogh painting sold for record sum in New York",
    "De Beers cuts diamond prices as demand falls",
    "Toyota recalls cars in Japan and Europe",
    "Manchester United sign Dutch striker from Ajax",
    "OPEC AGREES TO CUT OUTPUT FROM MARCH",
]
SHORT = {
    "fr": [
        "Les syndicats appellent à une nouvelle journée de grève",
        "Le Sénat adopte le budget de la défense",
    ],
    "es": [
        "La policía detiene al alcalde por corrupción",
        "El paro baja en marzo por primera vez en un año",
    ],
    "de": [
        "Regierung will die Steuern für Familien senken",
        "Schwerer Unfall auf der Autobahn bei Köln",
    ],
    "it": [
        "Il Parlamento approva la riforma della scuola",
        "Incendio in un capannone alla periferia di Torino",
    ],
    "pt": [
        "O Parlamento aprova o orçamento do Estado",
        "Incêndio destrói armazém no porto de Santos",
    ],
    "nl": [
        "De gemeente sluit het zwembad vanwege geldgebrek",
        "Brand verwoest boerderij in Friesland",
    ],
}
#: Languages that are not routed: "und", not one of ours nor English.
UNROUTED = {
    "sv": "Polisen utreder branden i lägenheten och söker vittnen i området",
    "pl": "Policja zatrzymała dwóch mężczyzn podejrzanych o kradzież samochodów",
    "ru": "Полиция задержала двух мужчин по подозрению в краже автомобилей",
    "tr": "Polis, otomobil hırsızlığı şüphesiyle iki kişiyi gözaltına aldı",
}


@pytest.mark.parametrize("text", SHORT_ENGLISH)
def test_short_english_texts_are_english(text: str) -> None:
    assert detect_language(text) == "en"


@pytest.mark.parametrize(("code", "text"), [(c, t) for c, ts in SHORT.items() for t in ts])
def test_short_texts_in_each_routed_language(code: str, text: str) -> None:
    assert detect_language(text) == code


@pytest.mark.parametrize(("code", "text"), sorted(UNROUTED.items()))
def test_other_languages_are_undetermined(code: str, text: str) -> None:
    assert detect_language(text) == "und", code


def test_the_model_holds_only_the_configured_languages() -> None:
    settings = load_settings()
    assert settings.languages == ("en", "fr", "es", "de", "it", "pt", "nl")
    assert settings.default == "en" and settings.undetermined == "und"
    labels = set(load_identifier().nb_classes)
    assert labels == {*settings.languages, *settings.others}
    assert not labels & {"pcm", "tl", "la", "eo", "zxx"}
    assert load_identifier() is load_identifier("languages.toml")  # loaded once


def test_short_text_defaults_to_english() -> None:
    assert detect_language("Oil prices jump") == "en"
    assert detect_language("") == "en"
    assert detect_language("Le prix du pétrole") == "en"  # four words: too short to tell


def test_no_clear_winner_is_english() -> None:
    text = "Xylophone quasar zephyr brouhaha kumquat flummox"
    assert max(language_probabilities(text).values()) < 0.5
    assert detect_language(text) == "en"
    assert detect_language(text, min_probability=0.1) != "en"


def test_probabilities_sum_to_one() -> None:
    probabilities = language_probabilities(SAMPLES["en"])
    assert max(probabilities, key=probabilities.__getitem__) == "en"
    assert probabilities["en"] > 0.99
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-4)


def test_only_the_start_of_a_long_text_is_read() -> None:
    limit = load_settings().max_chars
    assert detect_language(SAMPLES["en"] * 10 + SAMPLES["fr"] * 100) == "en"
    assert detect_language("x" * limit + " " + SAMPLES["fr"]) == "en"


@pytest.mark.parametrize(
    ("given", "expected"),
    [("en", "en"), ("EN-gb", "en"), ("fr_FR", "fr"), ("fra", "fr"), ("deu", "de"), ("??", "und")],
)
def test_normalise_language(given: str, expected: str) -> None:
    assert normalise_language(given) == expected
