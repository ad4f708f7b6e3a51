"""The geocoder (nlp/geo.py): the resolver's rules on hand-written articles, and the seed
article's places on the map."""

from __future__ import annotations

from spacy.language import Language

from nlp import Analysis, NlpInput, analyse
from nlp.geo import Place, haversine_km, load_rules, resolve


def place(text: str, name: str) -> Place:
    """Every mention of ``name`` in ``text``."""
    spans, start = [], text.find(name)
    while start >= 0:
        spans.append((start, start + len(name)))
        start = text.find(name, start + 1)
    return Place(name, spans)


def test_paris_is_france_unless_the_article_names_texas() -> None:
    plain = "Paris police closed roads on Monday."
    [geo] = resolve(plain, [place(plain, "Paris")])
    assert geo is not None and (geo["country"], geo["feature"]) == ("FR", "city")
    texas = "A tornado hit Paris on Monday. Officials in Texas said roofs were torn off."
    paris, state = resolve(texas, [place(texas, "Paris"), place(texas, "Texas")])
    assert paris is not None and (paris["country"], paris["admin1"]) == ("US", "TX")
    assert paris["geonameid"] == 4717560 and paris["confidence"] > 0.5
    assert state is not None and (state["feature"], state["admin1"]) == ("admin1", "TX")
    # population alone (every rule off) gets it wrong: the rules are what decide
    rules = load_rules().without("country", "region", "containment", "proximity", "source")
    [wrong, _] = resolve(texas, [place(texas, "Paris"), place(texas, "Texas")], rules=rules)
    assert wrong is not None and wrong["country"] == "FR"


def test_containment_pandi_bulacan() -> None:
    text = "Floods killed three people in Pandi, Bulacan, on Sunday."
    [geo] = resolve(text, [place(text, "Pandi")])
    assert geo is not None and geo["name"] == "Pandi" and geo["country"] == "PH"
    assert haversine_km(geo["lat"], geo["lon"], 14.865, 120.957) < 5


def test_a_dateline_decides_the_city() -> None:
    text = "HALIFAX, Nova Scotia (Reuters) - Two fishermen were rescued off Halifax on Monday."
    [geo] = resolve(text, [place(text, "HALIFAX")])
    assert geo is not None and (geo["name"], geo["country"], geo["admin1"]) == (
        "Halifax",
        "CA",
        "07",
    )
    assert geo["confidence"] > 0.99  # the dateline's containment outweighs the rest
    # the larger Halifax is Canadian; an article that names England gets the English one
    english = "Halifax council met on Monday. Yorkshire and England face more rain."
    uk, _ = resolve(english, [place(english, "Halifax"), place(english, "England")])
    assert uk is not None and (uk["name"], uk["country"]) == ("Halifax", "GB")


def test_a_name_the_gazetteer_lacks_is_none() -> None:
    text = "Troops reached Qwertyville on Friday."
    assert resolve(text, [place(text, "Qwertyville")]) == [None]


#: The seed's cities: GeoNames coordinates, within 50 km.
SEED_CITIES = {"Istanbul": (41.01, 28.95), "Tarhuna": (32.44, 13.63)}
#: The seed's countries: GeoNames' own point for the country (geonames.org), within 200 km.
#: A country's point is a convention; ours is the area centroid of its largest polygon
#: (docs/geo.md), 33 km (Turkey) to 190 km (Russia) from these.
SEED_COUNTRIES = {
    "Turkey": (39.0, 35.0),
    "Russia": (60.0, 100.0),
    "Libya": (28.0, 17.0),
    "Iran": (32.0, 53.0),
}


def test_the_seed_articles_places_are_on_the_map(seed_analysis: Analysis) -> None:
    geos = {e["canonical"]: e["geo"] for e in seed_analysis["entities"] if e["label"] == "GPE"}
    assert set(SEED_CITIES) | set(SEED_COUNTRIES) <= set(geos)
    for table, km in ((SEED_CITIES, 50), (SEED_COUNTRIES, 200)):
        for name, (lat, lon) in table.items():
            geo = geos[name]
            assert geo is not None, name
            assert haversine_km(geo["lat"], geo["lon"], lat, lon) < km, (name, geo)
    assert geos["Istanbul"]["feature"] == "city" and geos["Istanbul"]["country"] == "TR"
    assert geos["Russia"]["feature"] == "country" and geos["Russia"]["country"] == "RU"
    # people and organisations get no place
    assert all(e["geo"] is None for e in seed_analysis["entities"] if e["label"] == "PERSON")


def test_events_get_the_place_of_their_sentence(nlp: Language) -> None:
    text = "Storm hits Texas town\n\nA tornado hit Paris, Texas, on Monday, killing two people."
    [analysis] = analyse([NlpInput(text, text.index("\n"), "en")], nlp)
    assert analysis["events"]
    located = [e["location"] for e in analysis["events"]]
    assert all(
        loc is not None and loc["name"] == "Paris" and loc["admin1"] == "TX" for loc in located
    )
