"""Geocoding accuracy on GeoVirus (Gritta et al., ACL 2018): ``bench.quality geo``.

Two settings, as in the geoparsing literature:

* gold toponyms ("oracle NER"): the resolver (:func:`nlp.geo.resolve`) gets each article's
  annotated toponyms (name and offsets, grouped by name) and the text; accuracy@161 km
  (error at most 100 miles) and the median error in km over every annotated toponym (one
  the resolver leaves unresolved counts as a miss, at half the Earth's circumference);
* end to end: our own pipeline (``analyse``): a gold toponym is *found* when a GPE, LOC or
  FAC entity mention overlaps its span (recall), and accuracy@161 km is over the found
  ones, with the entity's ``geo``.

``baseline_acc161`` is the gold setting with every rule of ``geo.toml`` off (population
only), and ``ablation`` the gold accuracy with each rule off in turn.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from defusedxml import ElementTree

ACC_KM = 161.0
MISS_KM = 20037.5  # half the Earth's circumference: an unresolved toponym


class Toponym(NamedTuple):
    name: str
    start: int
    end: int
    lat: float
    lon: float


class Article(NamedTuple):
    text: str
    toponyms: list[Toponym]


def read_geovirus(path: Path) -> list[Article]:
    root = ElementTree.parse(str(path)).getroot()
    articles = []
    for node in root.iter("article"):
        text = node.findtext("text") or ""
        toponyms = [
            Toponym(
                loc.findtext("name") or "",
                int(loc.findtext("start") or 0),
                int(loc.findtext("end") or 0),
                float(loc.findtext("lat") or "nan"),
                float(loc.findtext("lon") or "nan"),
            )
            for loc in node.iter("location")
        ]
        articles.append(Article(text, toponyms))
    return articles


def distance_km(geo: dict[str, Any] | None, t: Toponym) -> float:
    from nlp.geo import haversine_km

    if geo is None:
        return MISS_KM
    return float(haversine_km(geo["lat"], geo["lon"], t.lat, t.lon))


def gold_errors(articles: Sequence[Article], rules: Any = None) -> list[float]:
    """Per gold toponym, the resolver's error in km given the gold names and spans."""
    from nlp.geo import Place, resolve

    errors: list[float] = []
    for article in articles:
        by_name: dict[str, list[Toponym]] = {}
        for t in article.toponyms:
            by_name.setdefault(t.name, []).append(t)
        places = [Place(name, [(t.start, t.end) for t in ts]) for name, ts in by_name.items()]
        geos = resolve(article.text, places, rules=rules)
        for ts, geo in zip(by_name.values(), geos, strict=True):
            errors.extend(distance_km(dict(geo) if geo else None, t) for t in ts)
    return errors


def summary(errors: Sequence[float]) -> dict[str, float]:
    return {
        "acc161": sum(e <= ACC_KM for e in errors) / len(errors) if errors else 0.0,
        "median_km": statistics.median(errors) if errors else 0.0,
    }


def end_to_end(articles: Sequence[Article], nlp: Any) -> dict[str, Any]:
    from nlp import NlpInput, analyse
    from nlp.geo import GEO_LABELS

    analyses = analyse([NlpInput(a.text, 0, "en") for a in articles], nlp)
    total = found = close = 0
    errors = []
    for article, analysis in zip(articles, analyses, strict=True):
        spans = [
            (s, e, ent.get("geo"))
            for ent in analysis["entities"]
            if ent["label"] in GEO_LABELS
            for s, e in ent["mentions"]
        ]
        for t in article.toponyms:
            total += 1
            hit = next((g for s, e, g in spans if s < t.end and t.start < e), "none")
            if hit == "none":
                continue
            found += 1
            error = distance_km(dict(hit) if hit else None, t)  # type: ignore[arg-type]
            errors.append(error)
            close += error <= ACC_KM
    return {
        "toponyms": total,
        "found": found,
        "recall": found / total if total else 0.0,
        "acc161": close / found if found else 0.0,
        "median_km": statistics.median(errors) if errors else 0.0,
    }


def evaluate_geo(path: Path, nlp: Any) -> dict[str, Any]:
    from nlp.geo import RULES, load_rules

    articles = read_geovirus(path)
    rules = load_rules()
    gold = summary(gold_errors(articles, rules))
    baseline = summary(gold_errors(articles, rules.without(*RULES)))
    ablation = {
        rule: summary(gold_errors(articles, rules.without(rule)))["acc161"]
        for rule in RULES
        if rules.weights.get(rule)
    }
    e2e = end_to_end(articles, nlp) if nlp is not None else None
    return {
        "articles": len(articles),
        "toponyms": sum(len(a.toponyms) for a in articles),
        "gold_acc161": gold["acc161"],
        "gold_median_km": gold["median_km"],
        "baseline_acc161": baseline["acc161"],
        "baseline_median_km": baseline["median_km"],
        "ablation_acc161": ablation,
        **({"e2e_recall": e2e["recall"], "e2e_acc161": e2e["acc161"], "e2e": e2e} if e2e else {}),
    }
