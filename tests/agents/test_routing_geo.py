"""Route conditions on places: ``countries`` and ``near = {lat, lon, km}``."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from agents.routing import ENRICHED, RoutesError, load_routes, parse_condition, parse_routes

ROUTES = """
[[route]]
name = "turkey-desk"
topic = "desk.turkey"
when.countries = ["TR"]

[[route]]
name = "bosphorus"
topic = "desk.bosphorus"
when.near = {lat = 41.0, lon = 29.0, km = 50}

[[route]]
name = "turkey-quakes-near-istanbul"
topic = "desk.quakes"
when.countries = ["TR", "GR"]
when.near = {lat = 41.0, lon = 29.0, km = 150}
when.tags = ["natural-disaster"]
"""


def geo(country: str | None, lat: float, lon: float) -> dict[str, Any]:
    return {
        "geonameid": 1,
        "name": "x",
        "country": country,
        "admin1": None,
        "lat": lat,
        "lon": lon,
        "feature": "city",
        "population": 1,
        "confidence": 1.0,
    }


def article(entities: list[dict[str, Any]], tags: list[str], events: Any = ()) -> dict[str, Any]:
    return {"id": "a", "tags": tags, "entities": entities, "events": list(events)}


def place(name: str, g: dict[str, Any] | None, country: str | None = None) -> dict[str, Any]:
    return {"text": name, "canonical": name, "label": "GPE", "country": country, "geo": g}


ISTANBUL = place("Istanbul", geo("TR", 41.01, 28.95), "TR")
ANKARA = place("Ankara", geo("TR", 39.93, 32.86), "TR")
PARIS_TX = place("Paris", geo("US", 33.66, -95.56), "FR")  # the entity's own country: FR


def test_countries_and_near_route_by_geocoded_places(tmp_path: Path) -> None:
    path = tmp_path / "routes.toml"
    path.write_text(ROUTES)
    routes = load_routes(path, app_id="w")
    quake = ["natural-disaster"]
    assert routes.match(article([ISTANBUL], quake)) == [
        ENRICHED,
        "desk.turkey",
        "desk.bosphorus",
        "desk.quakes",
    ]
    # Ankara: in Turkey, 350 km from the Bosphorus point
    assert routes.match(article([ANKARA], quake)) == [ENRICHED, "desk.turkey"]
    # Paris, Texas: the geocode says US, the entity's country says FR: neither is TR
    assert routes.match(article([PARIS_TX], quake)) == [ENRICHED]
    # an event's location counts for both (no entity geocoded)
    event = {"tag": "natural-disaster", "location": geo("TR", 41.05, 29.05)}
    assert routes.match(article([], quake, [event])) == [
        ENRICHED,
        "desk.turkey",
        "desk.bosphorus",
        "desk.quakes",
    ]
    # the entity's own country counts for countries even without a geocode
    assert routes.match(article([place("Turkey", None, "TR")], [])) == [ENRICHED, "desk.turkey"]
    described = [r.when.describe() for r in routes.routes]
    assert described[1] == "within 50 km of (41, 29)"
    assert described[2] == (
        "tags in [natural-disaster] and countries in [GR, TR] and within 150 km of (41, 29)"
    )


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ({"countries": ["France"]}, "unknown ISO 3166-1 alpha-2 country code 'France' in "
         "when.countries; did you mean 'FR'?"),
        ({"countries": ["tr"]}, "unknown ISO 3166-1 alpha-2 country code 'tr' in "
         "when.countries; did you mean 'TR'?"),
        ({"near": {"lat": 91, "lon": 0, "km": 5}}, "when.near.lat 91 is not in [-90, 90]"),
        ({"near": {"lat": 0, "lon": -181, "km": 5}}, "when.near.lon -181 is not in [-180, 180]"),
        ({"near": {"lat": 0, "lon": 0, "km": 0}}, "when.near.km must be above 0, got 0"),
        ({"near": {"lat": "41", "lon": 0, "km": 5}}, "when.near.lat must be a number, got '41'"),
        ({"near": {"lat": 41, "lon": 29}}, "when.near must be a table {lat = <-90..90>, "
         "lon = <-180..180>, km = <above 0>} (missing ['km'])"),
        ({"near": [41, 29, 5]}, "when.near must be a table {lat = <-90..90>, "
         "lon = <-180..180>, km = <above 0>}"),
    ],
)  # fmt: skip
def test_bad_place_conditions_are_one_line_errors(when: dict[str, Any], message: str) -> None:
    with pytest.raises(RoutesError) as caught:
        parse_routes(
            {"route": [{"topic": "desk.x", "name": "x", "when": when}]}, "r.toml", app_id="w"
        )
    assert str(caught.value) == f"r.toml: route 1 ('x'): {message}"
    assert "\n" not in str(caught.value)


def test_a_filter_outside_a_routes_file() -> None:
    condition = parse_condition({"near": {"lat": 41.0, "lon": 29.0, "km": 50}}, "--when")
    assert condition.holds(article([ISTANBUL], []))
    assert not condition.holds(article([ANKARA], []))
    with pytest.raises(RoutesError, match=r"^--when: unknown condition \['nearby'\]"):
        parse_condition({"nearby": 1}, "--when")


def test_indexed_match_equals_route_by_route_match_with_places() -> None:
    rng = random.Random(22)
    points = [(41.0, 29.0), (39.9, 32.9), (48.85, 2.35), (33.66, -95.56), (-33.9, 151.2)]
    codes = ["TR", "FR", "US", "AU", "GR"]
    hits = 0
    for _ in range(200):
        raw = []
        for _ in range(rng.randint(1, 8)):
            when: dict[str, Any] = {}
            if rng.random() < 0.6:
                when["countries"] = rng.sample(codes, rng.randint(1, 2))
            if rng.random() < 0.6:
                lat, lon = rng.choice(points)
                when["near"] = {"lat": lat, "lon": lon, "km": rng.choice([10, 400, 3000])}
            raw.append({"topic": f"t.{rng.randint(0, 5)}", "when": when})
        routes = parse_routes({"route": raw}, app_id="w")
        for _ in range(20):
            entities = []
            for _ in range(rng.randint(0, 3)):
                lat, lon = rng.choice(points)
                g = (
                    geo(rng.choice(codes), lat + rng.uniform(-1, 1), lon)
                    if rng.random() < 0.8
                    else None
                )
                entities.append(place("p", g, rng.choice([*codes, None])))
            a = article(entities, [])
            expected = routes.match_all(a)
            assert routes.match(a) == expected
            hits += len(expected) > 1
    assert 500 < hits < 4000  # both outcomes are exercised
