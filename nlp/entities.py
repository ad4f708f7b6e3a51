"""Named entities: clean, canonicalise, merge and group spaCy's ``doc.ents``.

``wirestream_entities`` (after ``ner``) puts the grouped entities on ``doc._.ws_entities``
and the individual mentions (for event actors) on ``doc._.ws_mentions``.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import pycountry
from spacy.language import Language
from spacy.tokens import Doc, Span, Token

from nlp.components import assigns_of, requires_of
from nlp.data import load_toml
from nlp.extensions import register
from nlp.limits import Limits, load_limits, note
from nlp.types import Entity

register()

KEEP_LABELS = (
    "PERSON",
    "ORG",
    "GPE",
    "LOC",
    "NORP",
    "FAC",
    "EVENT",
    "PRODUCT",
    "WORK_OF_ART",
    "LAW",
)
#: Labels whose leading "the" is not part of the name ("the UN", "the Kremlin").
THE_LABELS = frozenset({"ORG", "GPE", "LOC", "NORP", "FAC", "EVENT"})
#: Labels of single-token mentions that may be a surname of a PERSON named in full.
#: (GPE/LOC/NORP only when they are not a known place or nationality.)
SURNAME_LABELS = frozenset({"PERSON", "ORG"})
PLACE_LABELS = frozenset({"GPE", "LOC"})

_QUOTES = "\"'“”‘’«»„‟`´"
_POSSESSIVES = ("'s", "’s", "'S", "’S")
_ARTICLES = frozenset({"the", "a", "an"})
#: Where a name ends: a line break or any bracket ("World Health Organization (WHO)").
_BREAKS = re.compile(r"[\n()\[\]{}]")
_HAS_LETTER = re.compile(r"[^\W\d_]")
_SPACES = re.compile(r"\s+")
#: Labels of a mention that may be the short form of an organisation's name (not places
#: or nationalities: see merge_short_organisations).
_SHORT_ORG_LABELS = frozenset({"ORG", "PERSON", "FAC", "PRODUCT"})
#: Words that are in names of organisations but never of people.
_FUNCTION_WORDS = frozenset({"of", "and", "for", "the", "&", "on", "in"})


class RowRule(NamedTuple):
    """A ``[[rows]]`` entry of aliases.toml: a line shape and the labels it gives."""

    name: str
    shape: re.Pattern[str]
    labels: tuple[str, ...]
    relabel: frozenset[str]  # the labels a mention may have for the rule to change it
    prefix: bool = False  # the shape is the start of the line: labels go to its first mentions
    decides: bool = False  # the label is the name's, in every mention (a dateline's city)

    def matches(self, shape: str, mentions: int) -> bool:
        """Whether a line of this shape (its ``mentions`` as "@") is one this rule labels:
        the whole line with one label per mention, or (``prefix``) its start with at
        least as many mentions as labels."""
        if not self.prefix:
            return mentions == len(self.labels) and bool(self.shape.fullmatch(shape))
        found = self.shape.match(shape)
        return found is not None and found.group().count("@") >= len(self.labels)


@dataclass(frozen=True)
class AliasTables:
    """Lookup tables from ``aliases.toml`` (keys case-folded unless noted)."""

    countries: dict[str, str]
    places: dict[str, str]
    cities: dict[str, str]
    #: pycountry's first-level subdivisions whose name only one country uses ("Nova
    #: Scotia" → CA), with and without accents; below countries and cities.
    regions: dict[str, str]
    demonyms: dict[str, str]
    organisations: dict[str, str]  # case-sensitive keys
    not_entities: frozenset[str]
    honorifics: frozenset[str]
    keep_the: frozenset[str]
    #: (label, first words, last words) per ``[heads.LABEL]`` section, case-sensitive.
    heads: tuple[tuple[str, frozenset[str], frozenset[str]], ...] = ()
    legal_forms: frozenset[str] = frozenset()  # case-sensitive ("Co", "Inc.", ...)
    rows: tuple[RowRule, ...] = ()
    #: Every name in ``[organisations]``, alias or canonical, case-folded.
    organisation_names: frozenset[str] = frozenset()

    def head_label(self, name: str) -> str | None:
        """The label that a multi-word name's first or last word(s) decide, if any (never
        for a known country or place)."""
        words = name.split()
        if len(words) < 2 or self.country_of(name, "GPE") is not None:
            return None
        for label, first, last in self.heads:
            for n in range(1, len(words)):
                if " ".join(words[:n]) in first or " ".join(words[n:]) in last:
                    return label
        return None

    def is_known_place(self, name: str) -> bool:
        """A country, city or region with a code, or a name in ``[places]``."""
        return self.country_of(name, "GPE") is not None or name.casefold() in self.places

    def is_known_organisation(self, name: str) -> bool:
        """A name (alias or canonical) in ``[organisations]``, in any case."""
        return name.casefold() in self.organisation_names

    def country_of(self, name: str, label: str) -> str | None:
        """ISO 3166-1 alpha-2 code for a place or nationality, else None."""
        key = name.casefold()
        if label in PLACE_LABELS:
            return self.countries.get(key) or self.cities.get(key) or self.regions.get(key)
        if label == "NORP":
            found = self.demonyms.get(key) or self.countries.get(key)
            if found is None and key.endswith("s"):
                found = self.demonyms.get(key[:-1])
            return found
        return None


def _pycountry_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for country in pycountry.countries:
        for attr in ("name", "official_name", "common_name"):
            value = getattr(country, attr, None)
            if isinstance(value, str):
                names.setdefault(value.casefold(), str(country.alpha_2))
    return names


def _without_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _pycountry_regions(exclude: Iterable[str]) -> dict[str, str]:
    """First-level subdivisions (states, provinces, regions) whose name belongs to one
    country only, except the names in ``exclude``: "Gaza" (Mozambique, Palestine) or
    "Central" (eight countries) are left out."""
    skip = {_without_accents(name).casefold() for name in exclude}
    countries: dict[str, set[str]] = {}
    for region in pycountry.subdivisions:
        if getattr(region, "parent_code", None) is None:
            name = str(region.name)
            for key in {name.casefold(), _without_accents(name).casefold()}:
                countries.setdefault(key, set()).add(str(region.country_code))
    return {
        key: codes.pop()
        for key, codes in countries.items()
        if len(codes) == 1 and _without_accents(key) not in skip
    }


@lru_cache(maxsize=8)
def load_aliases(name: str = "aliases.toml") -> AliasTables:
    """The alias tables, with pycountry's country names under the data file's and its
    regions."""
    data = load_toml(name)

    def folded(table: str) -> dict[str, str]:
        return {str(k).casefold(): str(v) for k, v in data.get(table, {}).items()}

    countries = _pycountry_names()
    countries.update(folded("countries"))
    organisations = {str(k): str(v) for k, v in data.get("organisations", {}).items()}
    return AliasTables(
        countries=countries,
        places=folded("places"),
        cities=folded("cities"),
        regions=_pycountry_regions(data.get("regions", {}).get("exclude", [])),
        demonyms=folded("demonyms"),
        organisations=organisations,
        not_entities=frozenset(n.casefold() for n in data["not_entities"]["names"]),
        honorifics=frozenset(n.casefold() for n in data["honorifics"]["names"]),
        keep_the=frozenset(n.casefold() for n in data["keep_the"]["names"]),
        heads=tuple(
            (str(label), frozenset(spec.get("first", [])), frozenset(spec.get("last", [])))
            for label, spec in data.get("heads", {}).items()
        ),
        legal_forms=frozenset(str(n) for n in data.get("legal_forms", {}).get("names", [])),
        organisation_names=frozenset(n.casefold() for pair in organisations.items() for n in pair),
        rows=tuple(
            RowRule(
                str(row["name"]),
                re.compile(str(row["shape"])),
                tuple(str(label) for label in row["labels"]),
                frozenset(str(label) for label in row["from"]),
                bool(row.get("prefix", False)),
                bool(row.get("decides", False)),
            )
            for row in data.get("rows", [])
        ),
    )


class Mention(NamedTuple):
    """One cleaned mention: ``text[start:end] == surface``."""

    start: int
    end: int
    surface: str
    canonical: str
    label: str
    fixed: bool = False  # canonical/label come from an alias table: never merged
    role: bool = False  # label given by its line's shape (a table row): not in the vote
    decides: bool = False  # label given by a line shape that names the place (a dateline)


class MentionRef(NamedTuple):
    """A mention after grouping, as events see it (label and country of its entity)."""

    start: int
    end: int
    canonical: str
    label: str
    country: str | None


def trim(text: str, start: int, label: str, tables: AliasTables) -> tuple[int, int] | None:
    """Offsets (relative to ``start``) of the name inside a raw entity span's text.

    Drops surrounding space and quotes, a trailing possessive, a leading lower-case
    article ("the", "a", "an"), a leading "The" on ORG/GPE/LOC/NORP/FAC/EVENT (unless
    the name keeps it, "The Hague") and a PERSON's honorific ("Mr Greenspan").
    """
    s, e = 0, len(text)
    changed = True
    while changed and s < e:
        changed = False
        while s < e and (text[s].isspace() or text[s] in _QUOTES):
            s, changed = s + 1, True
        while s < e and (text[e - 1].isspace() or text[e - 1] in _QUOTES):
            e, changed = e - 1, True
        for suffix in _POSSESSIVES:
            if text.endswith(suffix, s, e) and e - s > len(suffix):
                e, changed = e - len(suffix), True
        first, space, rest = text[s:e].partition(" ")
        if not (space and rest.strip()):
            continue
        if _droppable_first_word(first, text[s:e], label, tables):
            s, changed = s + len(first) + 1, True
    if s >= e or not _HAS_LETTER.search(text, s, e) or text[s:e].islower():
        return None  # no letters, or no capital: not a name ("'s", "2019")
    return start + s, start + e


def _droppable_first_word(first: str, name: str, label: str, tables: AliasTables) -> bool:
    if first in _ARTICLES:
        return True
    if first == "The":
        return label in THE_LABELS and name.casefold() not in tables.keep_the
    return label == "PERSON" and first.casefold() in tables.honorifics


def clean_mention(text: str, start: int, label: str, tables: AliasTables) -> Mention | None:
    """A :class:`Mention` for one line's worth of an entity span, or None to drop it.

    ``text`` is the span's text (no line break in it), ``start`` its offset in the doc.
    """
    span = trim(text, start, label, tables)
    if span is None:
        return None
    s, e = span
    surface = text[s - start : e - start]
    canonical = _SPACES.sub(" ", surface)
    if canonical.casefold() in tables.not_entities:
        return None
    org = tables.organisations.get(canonical)
    if org is not None:
        return Mention(s, e, surface, org, "ORG", True)
    label = tables.head_label(canonical) or label
    if label in PLACE_LABELS:
        canonical = tables.places.get(canonical.casefold(), canonical)
    return Mention(s, e, surface, canonical, label, False)


def split_pieces(text: str, start: int) -> Iterable[tuple[str, int]]:
    """The pieces of a span's text between line breaks and brackets, with their
    offsets: a name never runs across a line, and "World Health Organization (WHO"
    gives the name and the acronym (so no name holds a bracket, balanced or not)."""
    offset = start
    for piece in _BREAKS.split(text):
        if piece.strip():
            yield piece, offset
        offset += len(piece) + 1


def mentions_from_spans(
    spans: Iterable[tuple[str, int, str]], tables: AliasTables, labels: frozenset[str]
) -> list[Mention]:
    """Cleaned mentions from (text, start_char, label) entity spans, in text order."""
    out: list[Mention] = []
    for text, start, label in spans:
        if label not in labels:
            continue
        for piece, offset in split_pieces(text, start):
            mention = clean_mention(piece, offset, label, tables)
            if mention is not None:
                out.append(mention)
    return out


def merge_case_variants(mentions: Sequence[Mention], tables: AliasTables) -> list[Mention]:
    """An all-capitals word (a dateline, "LUSAKA, Aug 12 -") is the same name as its
    title-case form: a known place (GPE), else that form's mention in the article."""
    by_name = {m.canonical: m for m in mentions if not m.canonical.isupper()}
    out: list[Mention] = []
    for m in mentions:
        name = m.canonical
        if m.fixed or not (name.isupper() and len(name) > 3 and name.isalpha()):
            out.append(m)
            continue
        title = name.title()
        same = by_name.get(title)
        if tables.country_of(title, "GPE") is not None:
            out.append(m._replace(canonical=title, label="GPE"))
        elif same is not None:
            out.append(m._replace(canonical=same.canonical, label=same.label))
        else:
            out.append(m)
    return out


def merge_surnames(mentions: Sequence[Mention], tables: AliasTables) -> list[Mention]:
    """Map a mention to the one multi-word PERSON whose last word(s) it is.

    "Zarif" → "Javad Zarif" (relabelled PERSON, even when spaCy said ORG), "De Vries" →
    "Anouk de Vries", "Novotna" → "Hana Novotná" (first letter case and accents aside).
    A surname shared by two full names in the article ("Ed Miliband", "David Miliband")
    stays as is. Without such a PERSON, PERSON mentions that end the one multi-word ORG
    of the article that could be a person's name join it, and all their mentions take
    the label that has more of them, PERSON on a tie: news names a person in full and
    then by surname, rarely an organisation by its last word (spaCy tagged "Lydia
    Chelagat" ORG and "Chelagat" PERSON: a person; "Morgan" PERSON once against "JP
    Morgan" ORG three times: an organisation).
    """
    people: dict[str, set[str]] = {}
    others: dict[str, set[str]] = {}
    for m in mentions:
        if m.label == "PERSON" and " " in m.canonical:
            index = people
        elif m.label == "ORG" and _may_be_person_name(m.canonical, tables):
            index = others
        else:
            continue
        for tail in _tails(m.canonical):
            index.setdefault(tail, set()).add(m.canonical)
    out: list[Mention] = []
    joined: dict[str, int] = {}  # ORG name → PERSON mentions that joined it
    for m in mentions:
        key = _name_key(m.canonical)
        full = people.get(key) if not m.fixed else None
        other = others.get(key) if not m.fixed and m.label == "PERSON" else None
        if full is not None and len(full) == 1 and _may_be_surname(m, tables):
            (name,) = full
            out.append(m._replace(canonical=name, label="PERSON"))
        elif full is None and other is not None and len(other) == 1:
            (name,) = other
            joined[name] = joined.get(name, 0) + 1
            out.append(m._replace(canonical=name))
        else:
            out.append(m)
    if joined:  # (one pass over the mentions, however many names were joined)
        sizes = Counter(m.canonical for m in out if m.canonical in joined)
        labels = {
            name: "PERSON" if 2 * people_count >= sizes[name] else "ORG"
            for name, people_count in joined.items()
        }
        out = [m._replace(label=labels[m.canonical]) if m.canonical in labels else m for m in out]
    return out


def merge_short_organisations(mentions: Sequence[Mention], tables: AliasTables) -> list[Mention]:
    """Map a mention to the one multi-word ORG whose first word(s) it is: "Magna" →
    "Magna International Inc", "Meridian Retail" (tagged PERSON) → "Meridian Retail
    Group", labelled ORG. Not for places or nationalities ("Chicago" is not short for
    "Chicago Board of Trade", "Islamic" not for "Islamic Group"), a name that starts two
    organisations of the article, or an ORG of several words unless only legal-form
    words are missing ("Dow Chemical" → "Dow Chemical Co", but "United Nations" stays)."""
    starts: dict[str, set[str]] = {}
    for m in mentions:
        if m.label == "ORG" and " " in m.canonical:
            words = m.canonical.split()
            for n in range(1, len(words)):
                starts.setdefault(_name_key(" ".join(words[:n])), set()).add(m.canonical)
    out: list[Mention] = []
    for m in mentions:
        full = starts.get(_name_key(m.canonical), set()) if not m.fixed else set()
        name = next(iter(full)) if len(full) == 1 else None
        if (
            name is not None
            and m.label in _SHORT_ORG_LABELS
            and tables.country_of(m.canonical, "GPE") is None
            and _short_form_of(m, name, tables)
        ):
            out.append(m._replace(canonical=name, label="ORG"))
        else:
            out.append(m)
    return out


def _short_form_of(m: Mention, name: str, tables: AliasTables) -> bool:
    if m.label != "ORG" or " " not in m.canonical:
        return True
    missing = name.split()[len(m.canonical.split()) :]
    return all(word in tables.legal_forms for word in missing)


def _may_be_person_name(name: str, tables: AliasTables) -> bool:
    """Several words, none of them "of", "and", ... and no head word of an organisation
    ("Ministry of Hajj" is not a person named Hajj)."""
    words = name.split()
    return len(words) > 1 and _FUNCTION_WORDS.isdisjoint(words) and tables.head_label(name) is None


def _name_key(name: str) -> str:
    """The name with its first letter capitalised and accents dropped, for matching a
    surname ("de Vries", "Novotna") with the end of a full name ("Anouk de Vries", "Hana
    Novotná")."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    return plain[:1].upper() + plain[1:]


def _tails(name: str) -> list[str]:
    """Keys (:func:`_name_key`) of the name's last word, last two words, ... (not the
    whole name)."""
    words = name.split()
    return [_name_key(" ".join(words[i:])) for i in range(1, len(words))]


def _may_be_surname(m: Mention, tables: AliasTables) -> bool:
    if m.label in SURNAME_LABELS:
        return True
    return m.label in PLACE_LABELS | {"NORP"} and tables.country_of(m.canonical, m.label) is None


def table_roles(text: str, mentions: Sequence[Mention], tables: AliasTables) -> list[Mention]:
    """Mentions in a line whose shape a ``[[rows]]`` rule knows ("Chicago 4 HOUSTON 3")
    take the rule's label when theirs is in its ``from``. A place's name (known, or
    labelled a place by the NER or by the rule) is then marked ``role``: the team
    "Chicago" is not the city (see :func:`group_mentions`); other names ("Lotte 5
    Haitai 2", tagged PERSON) stay one entity with their mentions in prose."""
    out = list(mentions)
    if not tables.rows:
        return out
    lines: dict[int, list[int]] = {}  # line start -> indices of its mentions
    line_start = searched = 0  # (mentions are in text order: each stretch is searched once)
    for i, m in enumerate(mentions):
        if m.start < searched:
            line_start = searched = 0
        newline = text.rfind("\n", searched, m.start)
        if newline >= 0:
            line_start = newline + 1
        searched = max(searched, m.start)
        lines.setdefault(line_start, []).append(i)
    for start, found in lines.items():
        end = text.find("\n", start)
        parts, cursor = [], start
        for i in found:
            parts += [text[cursor : mentions[i].start], "@"]
            cursor = mentions[i].end
        parts.append(text[cursor : len(text) if end < 0 else end])
        shape = "".join(parts).strip()
        rule = next((r for r in tables.rows if r.matches(shape, len(found))), None)
        if rule is None:
            continue
        for i, label in zip(found, rule.labels, strict=False):
            m = out[i]
            if m.label != label and m.label not in rule.relabel:
                continue
            if m.label == "ORG" and tables.is_known_organisation(m.canonical):
                continue  # "UNITED NATIONS, Nov 28 (Reuters) -"
            if rule.decides:
                out[i] = m._replace(label=label, decides=True)
                continue
            place = (
                m.label in PLACE_LABELS
                or label in PLACE_LABELS
                or tables.is_known_place(m.canonical)
            )
            out[i] = m._replace(label=label, role=place)
    return out


def group_mentions(
    mentions: Sequence[Mention], headline_chars: int, tables: AliasTables
) -> tuple[list[Entity], list[MentionRef]]:
    """Entities (one per canonical name, sorted by count desc then first mention) and
    every mention with its entity's label and country, in text order.

    Mentions with a table ``role`` do not vote: they join their name's entity when they
    have its label, else they make an entity of their own with that label (the team
    "Chicago", ORG, beside the city, GPE). A mention that ``decides`` (a dateline's city)
    gives its label to its name's entity, whatever the vote."""
    label_of: dict[str, str] = {}  # the label of each name's entity (by vote)
    groups: dict[tuple[str, str | None], list[Mention]] = {}

    def key(m: Mention) -> tuple[str, str | None]:
        """(name, None) for the name's entity; (name, label) for a team beside a city."""
        return (m.canonical, m.label if m.role and label_of[m.canonical] != m.label else None)

    for m in mentions:
        if not m.role:
            groups.setdefault((m.canonical, None), []).append(m)
    for (canonical, _), group in groups.items():
        decided = [m.label for m in group if m.decides]
        label_of[canonical] = decided[0] if decided else vote_label(group)
    for m in mentions:
        if m.role:
            label_of.setdefault(m.canonical, m.label)
            groups.setdefault(key(m), []).append(m)
    entities: list[Entity] = []
    resolved: dict[tuple[str, str | None], tuple[str, str | None]] = {}
    for (canonical, own_label), group in groups.items():
        group.sort(key=lambda m: m.start)
        label = own_label or label_of[canonical]
        country = tables.country_of(canonical, label)
        if country is None and label in PLACE_LABELS | {"NORP"}:
            country = tables.country_of(group[0].surface, label)
        resolved[canonical, own_label] = (label, country)
        entities.append(
            Entity(
                text=group[0].surface,
                canonical=canonical,
                label=label,
                mentions=[[m.start, m.end] for m in group],
                count=len(group),
                in_headline=any(m.start < headline_chars for m in group),
                country=country,
            )
        )
    entities.sort(key=lambda ent: (-ent["count"], ent["mentions"][0][0]))
    refs = [MentionRef(m.start, m.end, m.canonical, *resolved[key(m)]) for m in mentions]
    return entities, refs


def vote_label(group: Sequence[Mention]) -> str:
    """The most frequent label; a tie goes to the label of the longest mention."""
    votes = Counter(m.label for m in group)
    top = max(votes.values())
    tied = {label for label, n in votes.items() if n == top}
    if len(tied) == 1:
        return next(iter(tied))
    longest = max((m for m in group if m.label in tied), key=lambda m: (m.end - m.start, -m.start))
    return longest.label


def sentence_initial(token: Token) -> bool:
    """Whether only punctuation or space stands between the sentence start and ``token``
    (its capital letter then says nothing about it being a name)."""
    i = token.i
    while not token.doc[i].is_sent_start:
        i -= 1
        previous = token.doc[i]
        if not (previous.is_punct or previous.is_space or previous.is_quote):
            return False
    return True


def capitalised_inside(doc: Doc) -> set[str]:
    """Title-case words that also appear inside a sentence (where a capital marks a name)."""
    return {t.text for t in doc if t.text[:1].isupper() and not sentence_initial(t)}


def is_common_word(ent: Span, words: frozenset[str], inside: set[str], tables: AliasTables) -> bool:
    """A one-word, sentence-initial, title-case entity followed by running text (see
    ``_prose_follows``: not "Essex 320", a table row), whose
    word is an ordinary English word (the lemmatizer's word list) that the article never
    capitalises inside a sentence and no alias table knows: "Terrorism is ...",
    "Landslides blocked ..." are not names."""
    if len(ent) != 1 or not words:
        return False
    text = ent.text
    if not (text.istitle() and text.isalpha()) or text in inside:
        return False
    if not _prose_follows(ent.doc, ent.end):
        return False
    if not sentence_initial(ent[0]):
        return False
    key = text.casefold()
    if key in tables.organisations or text in tables.organisations:
        return False
    if tables.is_known_place(text) or tables.country_of(text, "NORP"):
        return False
    return is_word(text, words)


def _prose_follows(doc: Doc, i: int) -> bool:
    """Whether token ``i`` starts running text: a lower-case word or a comma, or a number
    followed by one ("Magnitude 7.1 earthquake"), not a table row's figures ("Essex 320")."""
    if i < len(doc) and doc[i].like_num:
        i += 1
    return i < len(doc) and (doc[i].is_lower or doc[i].text == ",")


def is_word(text: str, words: frozenset[str]) -> bool:
    """Whether ``text``, case-folded and maybe a regular plural, is in ``words``."""
    key = text.casefold()
    forms = {key, key.removesuffix("s"), key.removesuffix("es")}
    if key.endswith("ies"):
        forms.add(key[:-3] + "y")
    return bool(forms & words)


#: Lower-case words found inside names ("Bank of England", "Group on Vaccine Provision").
_JOINING_WORDS = frozenset({"of", "on", "for", "and", "the", "de", "du", "la", "le", "van", "von"})


def joined_spans(
    ents: Sequence[Span],
    tables: AliasTables | None = None,
    words: frozenset[str] = frozenset(),
    max_tokens: int | None = None,
) -> list[tuple[str, int, str]]:
    """(text, start char, label) of the entities, with a name the NER cut in two put back
    together:

    - at a joining word it left at the end of the first part, when both parts have one
      label, or the first is an ORG and the second no place that ``tables`` knows
      ("International Coordinating Group on" + "Vaccine Provision"; "Ministry of Hajj
      and" + "Umrah", a PERSON; not "Kia Motor Corp of" + "South Korea");
    - at an "and" between them, when the whole name has an organisation's head word
      (``tables``) and the other part, which the NER did not call an ORG, is only
      capitalised ordinary words (``words``): "Ministry of Disaster Management" and
      "Relief" (a PERSON), "Children" (a LOC) and "Families Agency".

    A joining word left dangling at the end of a span is dropped. With ``max_tokens``, no
    joined name grows past that many tokens."""
    out: list[tuple[str, int, str]] = []
    previous: Span | None = None
    text = ents[0].doc.text if ents else ""  # (Doc.text joins every token: once only)
    first = 0  # the first token of the name out[-1]
    for ent in ents:
        joined = None if previous is None else _joined_label(previous, ent, tables, words)
        if joined is not None and max_tokens is not None and ent.end - first > max_tokens:
            joined = None
        if joined is not None:
            start = out[-1][1]  # previous's name, which may already join an earlier part
            out[-1] = (text[start : ent.end_char], start, joined)
        else:
            out.append((ent.text, ent.start_char, ent.label_))
            first = ent.start
        previous = ent
    fixed: list[tuple[str, int, str]] = []
    for text, start, label in out:
        head, _, last = text.rpartition(" ")
        if head and last in _JOINING_WORDS:
            text = head
        fixed.append((text, start, label))
    return fixed


def _joined_label(
    previous: Span, ent: Span, tables: AliasTables | None, words: frozenset[str]
) -> str | None:
    """The label of ``previous`` and ``ent`` as one name, when ``ent`` is the rest of the
    name ``previous`` starts (see joined_spans), else None."""
    if previous.end == ent.start and previous[-1].text in _JOINING_WORDS:
        if previous.label_ == ent.label_:
            return ent.label_
        # an organisation's name goes on, unless into a place: "Kia Motor Corp of" + "South Korea"
        if previous.label_ == "ORG" and tables is not None and not tables.is_known_place(ent.text):
            return "ORG"
        return None
    if tables is None or not words or ent.start != previous.end + 1:
        return None
    if ent.doc[previous.end].text != "and":  # (a line break would be a token of its own)
        return None
    if tables.head_label(previous.text) == "ORG":
        other = ent  # "Ministry of Trade" and "Industry"
    elif tables.head_label(ent.text) == "ORG":
        other = previous  # "Children" and "Families Agency"
    else:
        return None
    if other.label_ == "ORG":
        return None  # an organisation of its own: "Ministry of Defence" and "Foreign Office"
    if all(w.istitle() and is_word(w, words) for w in other.text.split()):
        return "ORG"
    return None


def extract_entities(
    doc: Doc,
    tables: AliasTables,
    labels: frozenset[str],
    headline_chars: int,
    words: frozenset[str] = frozenset(),
    limits: Limits | None = None,
) -> tuple[list[Entity], list[MentionRef]]:
    """The whole entity step on a processed Doc (``words``: ordinary English words, for
    dropping capitalised sentence-initial common words the NER took for names).

    With ``limits``: entity spans of more than ``max_entity_tokens`` tokens are dropped
    (no joined name grows past it either), and only the ``max_entities`` first entities
    (the most mentioned) are kept; the mentions of every entity stay in the refs (for
    event actors). Each cap that applies is noted on the doc."""
    ents: Sequence[Span] = doc.ents
    max_tokens = None if limits is None else limits.max_entity_tokens
    if max_tokens is not None and any(len(e) > max_tokens for e in ents):
        ents = [e for e in ents if len(e) <= max_tokens]
        note(doc, "max_entity_tokens")
    if words:
        inside = capitalised_inside(doc)
        ents = [e for e in ents if not is_common_word(e, words, inside, tables)]
    spans = joined_spans(ents, tables, words, max_tokens)
    mentions = mentions_from_spans(spans, tables, labels)
    mentions = merge_surnames(merge_case_variants(mentions, tables), tables)
    mentions = merge_short_organisations(mentions, tables)
    mentions = table_roles(doc.text, mentions, tables)
    entities, refs = group_mentions(mentions, headline_chars, tables)
    if limits is not None and len(entities) > limits.max_entities:
        entities = entities[: limits.max_entities]
        note(doc, "max_entities")
    return entities, refs


def lemmatizer_words(nlp: Language) -> frozenset[str]:
    """The lower-case English words the pipeline's rule lemmatizer knows: its
    ``lemma_index`` table (WordNet's lemmas) and the irregular forms of its ``lemma_exc``
    table ("children", "went"); empty when there is no such table."""
    if "lemmatizer" not in nlp.component_names:
        return frozenset()
    lookups = getattr(nlp.get_pipe("lemmatizer"), "lookups", None)
    if lookups is None or not lookups.has_table("lemma_index"):
        return frozenset()
    index = lookups.get_table("lemma_index")
    found = {w for pos in index.values() for w in pos}
    if lookups.has_table("lemma_exc"):
        found.update(w for pos in lookups.get_table("lemma_exc").values() for w in pos)
    return frozenset(found)


class EntityComponent:
    """spaCy component: ``doc._.ws_entities`` and ``doc._.ws_mentions``."""

    def __init__(
        self, nlp: Language, aliases: str, labels: Sequence[str], limits: str = "limits.toml"
    ) -> None:
        self.nlp = nlp
        self.tables = load_aliases(aliases)
        self.labels = frozenset(labels)
        self.limits = load_limits(limits)
        self._words: frozenset[str] | None = None

    @property
    def words(self) -> frozenset[str]:
        """Read from the lemmatizer on first use (its tables load after this is built)."""
        if self._words is None:
            self._words = lemmatizer_words(self.nlp)
        return self._words

    def __call__(self, doc: Doc) -> Doc:
        entities, refs = extract_entities(
            doc, self.tables, self.labels, doc._.ws_headline_chars, self.words, self.limits
        )
        doc._.ws_entities = entities
        doc._.ws_mentions = refs
        return doc


@Language.factory(
    "wirestream_entities",
    default_config={
        "aliases": "aliases.toml",
        "labels": list(KEEP_LABELS),
        "limits": "limits.toml",
    },
    requires=requires_of("wirestream_entities"),
    assigns=assigns_of("wirestream_entities"),
)
def make_entities(
    nlp: Language, name: str, aliases: str, labels: list[str], limits: str
) -> EntityComponent:
    return EntityComponent(nlp, aliases, labels, limits)
