"""Geocoding: every GPE, LOC and FAC entity gets a GeoNames place, or None.

``wirestream_geo`` (after ``wirestream_subjects``) puts one value per entity of
``doc._.ws_entities`` on ``doc._.ws_geo`` (joined as ``entities[i].geo``) and one per event
of ``doc._.ws_events`` on ``doc._.ws_event_location`` (joined as ``events[i].location``: the
most specific place named in the event's sentence).

The resolver (:func:`resolve`) is a pure function of the article text and its place names.
A name's candidates come from the gazetteer (:mod:`nlp.geodata`); each gets a score from
the rules of ``nlp/data/geo.toml`` (population, countries and regions the article names,
containment "Pandi, Bulacan", proximity to the article's other places, the source's home
country) and the best wins; ``confidence`` is its softmax share.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
from spacy.language import Language
from spacy.tokens import Doc

from nlp.components import assigns_of, requires_of
from nlp.data import load_toml
from nlp.entities import AliasTables, load_aliases
from nlp.extensions import register
from nlp.geodata import (
    ADMIN1,
    ADMIN2,
    CITY,
    COUNTRY,
    FEATURES,
    GeoIndex,
    load_index,
    name_key,
)
from nlp.types import Geo

register()

GEO_LABELS = frozenset({"GPE", "LOC", "FAC"})
#: Features near enough to each other for the proximity rule.
_LOCAL = (CITY, ADMIN1, ADMIN2)
RULES = ("country", "region", "containment", "proximity", "source")
EARTH_KM = 6371.0088
#: The text after a place name that may name what contains it: ", Bulacan" / ", Nova Scotia (".
_CONTAINER = re.compile(r",\s*([A-Z][\w'’.-]*(?:\s+[A-Z][\w'’.-]*){0,3})")


@dataclass(frozen=True)
class GeoRules:
    """``geo.toml``: rule weights and parameters."""

    weights: dict[str, float]
    proximity_km: float = 300.0
    temperature: float = 1.0
    country_names: bool = True

    def without(self, *rules: str) -> GeoRules:
        """These rules off (weight 0): for the ablation rows of the benchmark."""
        return replace(
            self, weights={k: (0.0 if k in rules else v) for k, v in self.weights.items()}
        )


@lru_cache(maxsize=4)
def load_rules(name: str = "geo.toml") -> GeoRules:
    data = load_toml(name)
    weights = {k: float(v) for k, v in data.get("weights", {}).items()}
    unknown = set(weights) - {"population", *RULES}
    if unknown:
        raise ValueError(f"{name}: unknown rule weights {sorted(unknown)}")
    params = data.get("params", {})
    return GeoRules(
        weights=weights,
        proximity_km=float(params.get("proximity_km", 300.0)),
        temperature=float(params.get("temperature", 1.0)),
        country_names=bool(params.get("country_names", True)),
    )


class Place(NamedTuple):
    """A place name of the article: its name and the [start, end) offsets of its mentions."""

    name: str
    mentions: Sequence[Sequence[int]]


def haversine_km(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Any:
    """Great-circle distance in km (numpy arrays or floats)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


class Container(NamedTuple):
    country: str
    admin1: str | None


def container_of(name: str, index: GeoIndex, tables: AliasTables) -> Container | None:
    """The country or admin-1 region a name after a comma denotes, if it is one."""
    key = name.casefold()
    iso = tables.countries.get(key)
    if iso is not None:
        return Container(iso, None)
    for place in index.lookup(name):
        if index.feature[place] == ADMIN1:
            return Container(str(index.country_code(place)), index.admin1_code(place))
    for place in index.lookup(name):
        if index.feature[place] == ADMIN2:  # "Bulacan": in its admin-1 region
            return Container(str(index.country_code(place)), index.admin1_code(place))
    iso = tables.regions.get(key)
    return Container(iso, None) if iso is not None else None


def containers(text: str, place: Place, index: GeoIndex, tables: AliasTables) -> set[Container]:
    """What the text right after the place's mentions says contains it ("Pandi, Bulacan")."""
    found = set()
    for _start, end in place.mentions:
        match = _CONTAINER.match(text, end)
        if match is None:
            continue
        words = match.group(1).rstrip(".").split()
        for n in range(len(words), 0, -1):  # the longest run of words that is a container
            container = container_of(" ".join(words[:n]), index, tables)
            if container is not None:
                found.add(container)
                break
    return found


def _candidates(
    place: Place, text: str, index: GeoIndex, tables: AliasTables, rules: GeoRules
) -> list[int]:
    names = [place.name]
    for start, end in place.mentions[:3]:
        surface = text[start:end]
        if surface not in names:
            names.append(surface)
    for name in names:
        found = index.lookup(name)
        if rules.country_names:
            iso = tables.countries.get(name.casefold())
            if iso is not None and iso in index.country_place:
                # a country's name, unless it is a region of that country ("England" in
                # GB; not "Mexico", the country, against its state México)
                country = index.country_place[iso]
                own = name_key(index.name(country))
                inside = [
                    c
                    for c in found
                    if index.feature[c] == ADMIN1
                    and index.country_code(c) == iso
                    and name_key(index.name(c)) != own
                ]
                return inside[:1] or [country]
        if not found and name.lower().startswith("the "):
            found = index.lookup(name[4:])
        if found:
            return _cities_over_their_regions(found, index)
    return []


def _cities_over_their_regions(found: list[int], index: GeoIndex) -> list[int]:
    """Without a region that shares its name with a city inside it: "Istanbul", "New York"
    name the city more often than the province or state."""
    cities = {
        (index.country_code(c), index.admin1_code(c)) for c in found if index.feature[c] == CITY
    }
    return [
        c
        for c in found
        if index.feature[c] not in (ADMIN1, ADMIN2)
        or (index.country_code(c), index.admin1_code(c)) not in cities
    ]


def resolve(
    text: str,
    places: Sequence[Place],
    *,
    index: GeoIndex | None = None,
    tables: AliasTables | None = None,
    rules: GeoRules | None = None,
    source_country: str | None = None,
) -> list[Geo | None]:
    """The place each name denotes in this article (None when the gazetteer has none)."""
    index = index or load_index()
    tables = tables or load_aliases()
    rules = rules or load_rules()
    w = rules.weights
    cands = [_candidates(p, text, index, tables, rules) for p in places]
    # what the article names: countries (and the countries of named regions), admin-1 regions
    named_countries: dict[str, set[int]] = {}
    named_regions: dict[tuple[str, str], set[int]] = {}
    for i, (place, found) in enumerate(zip(places, cands, strict=True)):
        key = place.name.casefold()
        isos = {str(index.country_code(c)) for c in found if index.feature[c] == COUNTRY}
        region = tables.regions.get(key)
        if region is not None:
            isos.add(region)
        for c in found:
            if index.feature[c] == ADMIN1:
                code = (str(index.country_code(c)), str(index.admin1_code(c)))
                named_regions.setdefault(code, set()).add(i)
                isos.add(code[0])
        for iso in isos:
            named_countries.setdefault(iso, set()).add(i)
    inside = [containers(text, p, index, tables) if w.get("containment") else set() for p in places]
    for box in inside:
        for k in box:
            named_countries.setdefault(k.country, set()).add(-1)
            if k.admin1 is not None:
                named_regions.setdefault((k.country, k.admin1), set()).add(-1)

    def scores(i: int, chosen: list[int | None] | None) -> np.ndarray:
        found = cands[i]
        out = np.empty(len(found))
        for j, c in enumerate(found):
            s = w.get("population", 0.0) * math.log10(float(index.population[c]) + 10.0)
            cc = index.country_code(c)
            a1 = index.admin1_code(c)
            if cc is not None:
                if named_countries.get(cc, set()) - {i}:
                    s += w.get("country", 0.0)
                if a1 is not None and named_regions.get((cc, a1), set()) - {i}:
                    s += w.get("region", 0.0)
                if any(k.country == cc and k.admin1 in (None, a1) for k in inside[i]):
                    s += w.get("containment", 0.0)
                if source_country is not None and cc == source_country:
                    s += w.get("source", 0.0)
            if chosen is not None and w.get("proximity") and index.feature[c] in _LOCAL:
                others = [
                    o
                    for k, o in enumerate(chosen)
                    if k != i and o is not None and index.feature[o] in _LOCAL
                ]
                if others:
                    ids = np.array(others)
                    d = haversine_km(index.lat[c], index.lon[c], index.lat[ids], index.lon[ids])
                    if float(np.min(d)) <= rules.proximity_km:
                        s += w["proximity"]
            out[j] = s
        return out

    def choose(chosen: list[int | None] | None) -> tuple[list[int | None], list[float]]:
        picks: list[int | None] = []
        confidences: list[float] = []
        for i, found in enumerate(cands):
            if not found:
                picks.append(None)
                confidences.append(0.0)
                continue
            s = scores(i, chosen)
            best = int(np.argmax(s))
            z = np.exp((s - s[best]) / max(rules.temperature, 1e-6))
            picks.append(found[best])
            confidences.append(float(1.0 / z.sum()))
        return picks, confidences

    picks, confidences = choose(None)
    if w.get("proximity") and sum(1 for c in cands if len(c) > 1):
        picks, confidences = choose(picks)
    return [
        None if p is None else geo_record(index, p, c)
        for p, c in zip(picks, confidences, strict=True)
    ]


def geo_record(index: GeoIndex, place: int, confidence: float) -> Geo:
    return {
        "geonameid": int(index.geonameid[place]) or None,
        "name": index.name(place),
        "country": index.country_code(place),
        "admin1": index.admin1_code(place),
        "lat": round(float(index.lat[place]), 5),
        "lon": round(float(index.lon[place]), 5),
        "feature": FEATURES[int(index.feature[place])],
        "population": int(index.population[place]),
        "confidence": round(confidence, 3),
    }


#: Most specific first: an event's location is the first of these named in its sentence.
_SPECIFIC = {"city": 0, "admin2": 1, "admin1": 2, "country": 3, "continent": 4}


def event_locations(
    doc: Doc, entities: Sequence[Any], geos: Sequence[Geo | None]
) -> list[Geo | None]:
    """Per event: the most specific geocoded place mentioned in its sentence (first in the
    text among equals), or None."""
    events = doc._.ws_events or []
    if not events:
        return []
    sents = [(s.start_char, s.end_char) for s in doc.sents]
    spots: list[tuple[int, int, Geo]] = []  # (start, specificity, geo)
    for entity, geo in zip(entities, geos, strict=True):
        if geo is None:
            continue
        for start, _ in entity["mentions"]:
            spots.append((start, _SPECIFIC[geo["feature"]], geo))
    out: list[Geo | None] = []
    for event in events:
        k = event["sentence"]
        if not 0 <= k < len(sents):
            out.append(None)
            continue
        a, b = sents[k]
        inside = [(rank, start, geo) for start, rank, geo in spots if a <= start < b]
        out.append(min(inside, key=lambda t: (t[0], t[1]))[2] if inside else None)
    return out


class Geocoder:
    """spaCy component: ``doc._.ws_geo`` and ``doc._.ws_event_location``."""

    def __init__(self, rules: str) -> None:
        self.rules_name = rules

    def __call__(self, doc: Doc) -> Doc:
        entities = doc._.ws_entities or []
        at = [i for i, e in enumerate(entities) if e["label"] in GEO_LABELS]
        geos: list[Geo | None] = [None] * len(entities)
        if at:
            places = [Place(entities[i]["canonical"], entities[i]["mentions"]) for i in at]
            found = resolve(doc.text, places, rules=load_rules(self.rules_name))
            for i, geo in zip(at, found, strict=True):
                geos[i] = geo
        doc._.ws_geo = geos
        doc._.ws_event_location = event_locations(doc, entities, geos)
        return doc


@Language.factory(
    "wirestream_geo",
    default_config={"rules": "geo.toml"},
    requires=requires_of("wirestream_geo"),
    assigns=assigns_of("wirestream_geo"),
)
def make_geo(nlp: Language, name: str, rules: str) -> Geocoder:
    return Geocoder(rules)
