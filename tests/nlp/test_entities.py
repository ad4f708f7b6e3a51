"""Entity canonicalisation, merging, grouping and country lookup (no model needed)."""

from __future__ import annotations

import pytest
import spacy
from spacy.tokens import Doc, Span

from nlp.entities import (
    Mention,
    capitalised_inside,
    clean_mention,
    extract_entities,
    group_mentions,
    is_common_word,
    joined_spans,
    load_aliases,
    mentions_from_spans,
    merge_case_variants,
    merge_short_organisations,
    merge_surnames,
    table_roles,
    vote_label,
)

TABLES = load_aliases()
ALL = frozenset({"PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "EVENT", "PRODUCT"})


def canonical(text: str, label: str) -> str | None:
    mention = clean_mention(text, 100, label, TABLES)
    return None if mention is None else mention.canonical


@pytest.mark.parametrize(
    ("text", "label", "expected"),
    [
        ("Khalifa Haftar's", "PERSON", "Khalifa Haftar"),
        ("Zarif’s", "PERSON", "Zarif"),
        ("the Taliban", "ORG", "Taliban"),
        ("The Kremlin", "ORG", "Kremlin"),
        ("The Hague", "GPE", "The Hague"),
        ("The Aviator", "WORK_OF_ART", "The Aviator"),
        ("the Beatles'", "PERSON", "Beatles"),
        ('"Baghdad Blogger', "PERSON", "Baghdad Blogger"),
        ('the "Axis of Evil"', "EVENT", "Axis of Evil"),
        ("Mr Greenspan", "PERSON", "Greenspan"),
        ("UN", "ORG", "United Nations"),
        ("UN", "GPE", "United Nations"),
        ("WHO", "ORG", "World Health Organization"),
        ("EU", "ORG", "European Union"),
        ("Nato", "ORG", "NATO"),
        ("U.S.", "GPE", "United States"),
        ("Britain", "GPE", "United Kingdom"),
        ("Türkiye", "GPE", "Turkey"),
        ("Recep  Tayyip Erdogan", "PERSON", "Recep Tayyip Erdogan"),
    ],
)
def test_canonical_names(text: str, label: str, expected: str) -> None:
    assert canonical(text, label) == expected


@pytest.mark.parametrize(
    ("text", "label"), [("COVID-19", "ORG"), ("Ebola", "PERSON"), ("'s", "ORG"), ("2019", "GPE")]
)
def test_dropped(text: str, label: str) -> None:
    assert canonical(text, label) is None


def test_offsets_cover_the_cleaned_surface() -> None:
    text = "xx “the Kremlin’s” yy"
    mention = clean_mention(text[3:18], 3, "ORG", TABLES)
    assert mention is not None
    assert text[mention.start : mention.end] == mention.surface == "Kremlin"


def test_acronym_alias_is_fixed_org() -> None:
    mention = clean_mention("UN", 0, "GPE", TABLES)
    assert mention == Mention(0, 2, "UN", "United Nations", "ORG", True)


def test_spans_never_cross_line_breaks_or_parentheses() -> None:
    text = "Libya\n\nTurkish forces and World Health Organization (WHO"
    spans = [(text[0:14], 0, "GPE"), (text[26:], 26, "ORG")]
    mentions = mentions_from_spans(spans, TABLES, ALL)
    assert [(m.canonical, text[m.start : m.end]) for m in mentions] == [
        ("Libya", "Libya"),
        ("Turkish", "Turkish"),
        ("World Health Organization", "World Health Organization"),
        ("World Health Organization", "WHO"),
    ]
    assert all("\n" not in text[m.start : m.end] for m in mentions)


@pytest.mark.parametrize(
    "raw",
    [
        "World Health Organization (WHO",
        "World Health Organization (WHO)",
        "The World Health Organization [WHO]",
        "World Health Organization {WHO",
        "WHO) said",
    ],
)
def test_canonical_names_never_hold_brackets(raw: str) -> None:
    mentions = mentions_from_spans([(raw, 10, "ORG")], TABLES, ALL)
    assert mentions
    assert {m.canonical for m in mentions} == {"World Health Organization"}
    for mention in mentions:
        assert not set("()[]{}") & set(mention.canonical + mention.surface)
        assert raw[mention.start - 10 : mention.end - 10] == mention.surface


def test_news_agency_in_dateline_is_an_org() -> None:
    mention = clean_mention("Wirestream", 20, "GPE", TABLES)
    assert mention == Mention(20, 30, "Wirestream", "Wirestream", "ORG", True)


def m(start: int, text: str, label: str) -> Mention:
    return Mention(start, start + len(text), text, text, label)


def test_surname_merges_into_the_one_full_name() -> None:
    mentions = [
        m(0, "Javad Zarif", "PERSON"),
        m(20, "Zarif", "PERSON"),
        m(30, "Haftar", "ORG"),
        m(40, "Khalifa Haftar", "PERSON"),
        m(60, "Cavusoglu", "ORG"),
    ]
    merged = merge_surnames(mentions, TABLES)
    assert [(x.canonical, x.label) for x in merged] == [
        ("Javad Zarif", "PERSON"),
        ("Javad Zarif", "PERSON"),
        ("Khalifa Haftar", "PERSON"),
        ("Khalifa Haftar", "PERSON"),
        ("Cavusoglu", "ORG"),  # no full name in the article
    ]


def test_ambiguous_surname_and_known_places_are_not_merged() -> None:
    mentions = [
        m(0, "Ed Miliband", "PERSON"),
        m(20, "David Miliband", "PERSON"),
        m(40, "Miliband", "PERSON"),
        m(60, "George Washington", "PERSON"),
        m(80, "Washington", "GPE"),
    ]
    merged = merge_surnames(mentions, TABLES)
    assert merged[2].canonical == "Miliband"
    assert merged[4].canonical == "Washington" and merged[4].label == "GPE"


def test_surnames_of_more_words_and_lower_case_particles() -> None:
    mentions = [m(0, "Anouk de Vries", "PERSON"), m(30, "De Vries", "PERSON")]
    merged = merge_surnames(mentions, TABLES)
    assert [(x.canonical, x.label) for x in merged] == [("Anouk de Vries", "PERSON")] * 2


def test_a_person_surname_decides_a_full_name_tagged_org_by_vote() -> None:
    """spaCy tags an unfamiliar full name ORG and the bare surname PERSON: a person (a
    tie goes to PERSON). Against more ORG mentions the surname becomes the organisation."""
    person = [m(0, "Lydia Chelagat", "ORG"), m(40, "Chelagat", "PERSON")]
    assert [(x.canonical, x.label) for x in merge_surnames(person, TABLES)] == [
        ("Lydia Chelagat", "PERSON"),
        ("Lydia Chelagat", "PERSON"),
    ]
    bank = [
        m(0, "JP Morgan", "ORG"),
        m(20, "Morgan", "PERSON"),
        m(40, "JP Morgan", "ORG"),
        m(60, "JP Morgan", "ORG"),
    ]
    assert [(x.canonical, x.label) for x in merge_surnames(bank, TABLES)] == [
        ("JP Morgan", "ORG")
    ] * 4
    # An all-capitals dateline word is not a surname of a name in title case.
    dateline = [m(0, "BEOGRAD", "PERSON"), m(20, "Trofej Beograd", "ORG")]
    assert merge_surnames(dateline, TABLES) == dateline


def test_head_words_decide_the_label() -> None:
    """A multi-word name's first or last words (``[heads]`` in aliases.toml) override the
    NER's label, except for known places."""
    assert TABLES.head_label("Storm Hollis") == "EVENT"
    assert TABLES.head_label("Valencia Marathon") == "EVENT"
    assert TABLES.head_label("Network Rail") == "ORG"
    assert TABLES.head_label("Ministry of Hajj") == "ORG"
    assert TABLES.head_label("Primeira Liga") == "ORG"
    assert TABLES.head_label("FC Ribeira") == "ORG"  # football clubs
    assert TABLES.head_label("Braga Atletico") == "ORG"
    assert TABLES.head_label("West Bank") is None  # a known place
    assert TABLES.head_label("Rail") is None  # one word
    assert TABLES.head_label("Helena Brandt") is None
    storm = clean_mention("Storm Hollis", 10, "PERSON", TABLES)
    assert storm is not None and (storm.canonical, storm.label) == ("Storm Hollis", "EVENT")


def test_accented_surnames_and_organisation_names_that_are_no_person() -> None:
    accented = [m(0, "Hana Novotná", "PERSON"), m(20, "Novotna", "ORG")]
    assert [x.canonical for x in merge_surnames(accented, TABLES)] == ["Hana Novotná"] * 2
    # "Hajj" tagged PERSON does not turn the ministry into a person.
    ministry = [m(0, "Ministry of Hajj", "ORG"), m(30, "Hajj", "PERSON"), m(40, "Hajj", "PERSON")]
    assert merge_surnames(ministry, TABLES) == ministry


def test_short_forms_join_their_organisation() -> None:
    mentions = [
        m(0, "Meridian Retail Group", "ORG"),
        m(30, "Meridian Retail", "PERSON"),  # the NER's guess for an unknown name
        m(50, "Magna International Inc", "ORG"),
        m(80, "Magna", "PERSON"),
        m(90, "Dow Chemical Co", "ORG"),
        m(110, "Dow Chemical", "ORG"),
    ]
    assert [(x.canonical, x.label) for x in merge_short_organisations(mentions, TABLES)] == [
        ("Meridian Retail Group", "ORG"),
        ("Meridian Retail Group", "ORG"),
        ("Magna International Inc", "ORG"),
        ("Magna International Inc", "ORG"),
        ("Dow Chemical Co", "ORG"),
        ("Dow Chemical Co", "ORG"),
    ]


def test_places_nationalities_and_other_organisations_are_not_short_forms() -> None:
    mentions = [
        m(0, "United Nations Security Council", "ORG"),
        m(40, "United Nations", "ORG"),  # an organisation of its own
        m(60, "Chicago Board of Trade", "ORG"),
        m(90, "Chicago", "GPE"),
        m(100, "Islamic Group", "ORG"),
        m(120, "Islamic", "NORP"),
        m(130, "Apex Mining Ltd", "ORG"),
        m(150, "Apex Bank", "ORG"),
        m(170, "Apex", "ORG"),  # starts two organisations
    ]
    assert merge_short_organisations(mentions, TABLES) == mentions


def test_dateline_capitals_join_the_place() -> None:
    mentions = [
        m(0, "ISTANBUL", "ORG"),
        m(30, "BBC", "ORG"),
        m(40, "BUNIA", "ORG"),
        m(50, "Bunia", "GPE"),
    ]
    merged = merge_case_variants(mentions, TABLES)
    assert [(x.canonical, x.label) for x in merged] == [
        ("Istanbul", "GPE"),
        ("BBC", "ORG"),
        ("Bunia", "GPE"),
        ("Bunia", "GPE"),
    ]


def test_label_vote_and_tie_break() -> None:
    chelsea = [m(0, "Chelsea", "ORG"), m(9, "Chelsea", "ORG"), m(20, "Chelsea", "GPE")]
    assert vote_label(chelsea) == "ORG"
    assert vote_label([m(0, "Jordan", "GPE"), m(9, "Jordan Valley", "LOC")]) == "LOC"


def test_grouping() -> None:
    mentions = [
        m(0, "Turkey", "GPE"),
        m(10, "Istanbul", "GPE"),
        m(20, "Turkey", "GPE"),
        m(30, "Turkish", "NORP"),
        m(40, "Russians", "NORP"),
        m(50, "Istanbul", "GPE"),
    ]
    entities, refs = group_mentions(mentions, 15, TABLES)
    assert [(e["canonical"], e["count"], e["country"], e["in_headline"]) for e in entities] == [
        ("Turkey", 2, "TR", True),
        ("Istanbul", 2, "TR", True),
        ("Turkish", 1, "TR", False),
        ("Russians", 1, "RU", False),
    ]
    assert entities[0]["mentions"] == [[0, 6], [20, 26]]
    assert [r.country for r in refs] == ["TR", "TR", "TR", "TR", "RU", "TR"]


@pytest.mark.parametrize(
    ("name", "label", "code"),
    [
        ("Russia", "GPE", "RU"),
        ("Iran", "GPE", "IR"),
        ("Turkey", "GPE", "TR"),
        ("Türkiye", "GPE", "TR"),
        ("UK", "GPE", "GB"),
        ("Britain", "GPE", "GB"),
        ("US", "GPE", "US"),
        ("United States", "GPE", "US"),
        ("France", "GPE", "FR"),  # from pycountry
        ("Bolivia", "GPE", "BO"),
        ("Istanbul", "GPE", "TR"),
        ("Washington", "GPE", "US"),
        ("Turkish", "NORP", "TR"),
        ("Russian", "NORP", "RU"),
        ("Israelis", "NORP", "IL"),
        ("Tony Blair", "PERSON", None),
        ("Muslim", "NORP", None),
        ("Atlantis", "GPE", None),
    ],
)
def test_country_lookup(name: str, label: str, code: str | None) -> None:
    assert TABLES.country_of(name, label) == code


def test_alias_tables_are_big_enough() -> None:
    assert len(TABLES.cities) >= 150
    assert len(set(TABLES.demonyms.values())) >= 100
    for table in (TABLES.cities, TABLES.demonyms):
        for code in table.values():
            assert len(code) == 2 and code.isupper()


VOCAB = spacy.blank("en").vocab


def doc_with_ents(words: list[str], sent_starts: list[int], ents: list[tuple[int, str]]) -> Doc:
    starts = [i in sent_starts for i in range(len(words))]
    doc = Doc(VOCAB, words=words, sent_starts=starts)
    doc.ents = [Span(doc, i, i + 1, label=label) for i, label in ents]
    return doc


WORDS = frozenset({"terrorism", "landslide", "ortega", "paris"})


def test_sentence_initial_common_words_are_not_names() -> None:
    words = [
        "Terrorism",
        "is",
        "the",
        "enemy",
        ".",
        "“",
        "Landslides",
        "blocked",
        "roads",
        ",",
        "Ortega",
        "said",
        ".",
    ]
    doc = doc_with_ents(words, [0, 5], [(0, "PERSON"), (6, "PERSON"), (10, "PERSON")])
    inside = capitalised_inside(doc)
    assert inside == {"Ortega"}
    kept = [e.text for e in doc.ents if not is_common_word(e, WORDS, inside, TABLES)]
    assert kept == ["Ortega"]
    entities, _ = extract_entities(doc, TABLES, ALL, 0, WORDS)
    assert [e["canonical"] for e in entities] == ["Ortega"]
    # without a word list nothing is dropped
    entities, _ = extract_entities(doc, TABLES, ALL, 0)
    assert [e["canonical"] for e in entities] == ["Terrorism", "Landslides", "Ortega"]


def test_a_common_word_before_a_figure_in_running_text_is_not_a_name() -> None:
    # "Magnitude 7.1 earthquake ..." is prose; "Landslides 3 1" is a table row
    words = ["Magnitude", "7.1", "earthquake", "kills", "38", ".", "Landslides", "3", "1"]
    doc = doc_with_ents(words, [0, 6], [(0, "ORG"), (6, "ORG")])
    inside = capitalised_inside(doc)
    assert [
        e.text for e in doc.ents if is_common_word(e, WORDS | {"magnitude"}, inside, TABLES)
    ] == ["Magnitude"]


def test_names_that_are_also_words_are_kept() -> None:
    # a known place; a word the article capitalises inside a sentence; a table row
    words = [
        "Paris",
        "said",
        "no",
        ".",
        "Ortega",
        "won",
        ".",
        "Coach",
        "Ortega",
        "smiled",
        ".",
        "Terrorism",
        "3",
        "Landslides",
        "1",
    ]
    doc = doc_with_ents(
        words,
        [0, 4, 7, 11],
        [(0, "GPE"), (4, "PERSON"), (9, "PERSON"), (11, "ORG"), (13, "ORG")],
    )
    inside = capitalised_inside(doc)
    assert not [e.text for e in doc.ents if is_common_word(e, WORDS, inside, TABLES)]


def test_a_name_cut_at_a_joining_word_is_put_back_together() -> None:
    words = ["the", "Group", "on", "Vaccine", "Provision", "and", "Bank", "of", "said"]
    doc = Doc(VOCAB, words=words)
    doc.ents = [
        Span(doc, 1, 3, label="ORG"),
        Span(doc, 3, 5, label="ORG"),
        Span(doc, 6, 8, label="ORG"),
    ]
    assert joined_spans(doc.ents) == [
        ("Group on Vaccine Provision", 4, "ORG"),
        ("Bank", 35, "ORG"),
    ]
    # an organisation's name goes on whatever the NER called the rest, but not into a place
    doc.ents = [Span(doc, 1, 3, label="ORG"), Span(doc, 3, 5, label="PERSON")]
    assert joined_spans(doc.ents, TABLES) == [("Group on Vaccine Provision", 4, "ORG")]
    korea = Doc(VOCAB, words=["Kia", "Motor", "Corp", "of", "South", "Korea", "said"])
    korea.ents = [Span(korea, 0, 4, label="ORG"), Span(korea, 4, 6, label="GPE")]
    assert joined_spans(korea.ents, TABLES) == [
        ("Kia Motor Corp", 0, "ORG"),
        ("South Korea", 18, "GPE"),
    ]
    # another label before the joining word, or not next to each other: left apart
    doc.ents = [Span(doc, 1, 3, label="PERSON"), Span(doc, 3, 5, label="ORG")]
    assert [text for text, _, _ in joined_spans(doc.ents)] == ["Group", "Vaccine Provision"]
    doc.ents = [Span(doc, 1, 2, label="ORG"), Span(doc, 3, 5, label="ORG")]
    assert [text for text, _, _ in joined_spans(doc.ents)] == ["Group", "Vaccine Provision"]


def test_a_name_cut_at_and_is_put_back_together_when_it_has_an_organisation_head() -> None:
    text = (
        "the Ministry of Trade and Industry , the Children and Families Agency , "
        "the Ministry of Defence and Foreign Office , Google and Harvard University"
    )
    doc = Doc(VOCAB, words=text.split())
    ents = [(1, 4, "ORG"), (5, 6, "PERSON"), (8, 9, "LOC"), (10, 12, "ORG")]
    ents += [(14, 17, "ORG"), (18, 20, "ORG"), (21, 22, "ORG"), (23, 25, "ORG")]
    doc.ents = [Span(doc, a, b, label=label) for a, b, label in ents]
    words = frozenset({"industry", "child", "children", "foreign", "office", "google"})
    assert [(t, label) for t, _, label in joined_spans(doc.ents, TABLES, words)] == [
        ("Ministry of Trade and Industry", "ORG"),
        ("Children and Families Agency", "ORG"),
        # the other part is an organisation of its own, or the name has no head word
        ("Ministry of Defence", "ORG"),
        ("Foreign Office", "ORG"),
        ("Google", "ORG"),
        ("Harvard University", "ORG"),
    ]
    # three parts, each ending in a joining word
    words = ["the", "Bank", "of", "Tokyo", "and", "Mitsubishi", "said"]
    bank = Doc(VOCAB, words=words)
    bank.ents = [
        Span(bank, 1, 3, label="ORG"),
        Span(bank, 3, 5, label="ORG"),
        Span(bank, 5, 6, label="PERSON"),
    ]
    assert joined_spans(bank.ents, TABLES) == [("Bank of Tokyo and Mitsubishi", 4, "ORG")]
    # without the word list, or words that are not ordinary ones, nothing is joined
    assert len(joined_spans(doc.ents, TABLES)) == 8
    assert len(joined_spans(doc.ents, TABLES, frozenset({"foreign"}))) == 8


def mentions_in(text: str, names: list[tuple[str, str]]) -> list[Mention]:
    """Mentions of each (name, label) at its next occurrence in ``text``, in order."""
    out, cursor = [], 0
    for name, label in names:
        start = text.index(name, cursor)
        out.append(Mention(start, start + len(name), name, name.title(), label))
        cursor = start + len(name)
    return out


def test_table_rows_decide_labels() -> None:
    text = (
        "Chicago 4 HOUSTON 3\n"  # score line: two teams
        "HOUSTON AT PITTSBURGH\n"  # fixture: team at a city
        "CHICAGO 72 64 .529 9\n"  # standings row: a team
        "Woods 68 70 .500\n"  # a person in a standings-like row stays one
        "NEW YORK 1996-08-30\n"  # dateline: a city
        "UNITED NATIONS 1996-08-29\n"  # ... but an organisation stays one
        "Ajax 4 3 1 0 10 2 10\n"  # league table row
        "Chicago 4 and Houston 3 were the scores ."  # prose: untouched
    )
    names = [
        ("Chicago", "GPE"), ("HOUSTON", "GPE"),
        ("HOUSTON", "GPE"), ("PITTSBURGH", "ORG"),
        ("CHICAGO", "GPE"),
        ("Woods", "PERSON"),
        ("NEW YORK", "LOC"),
        ("UNITED NATIONS", "ORG"),
        ("Ajax", "PERSON"),
        ("Chicago", "GPE"), ("Houston", "GPE"),
    ]  # fmt: skip
    found = table_roles(text, mentions_in(text, names), TABLES)
    assert [(x.label, x.role) for x in found] == [
        ("ORG", True), ("ORG", True),
        ("ORG", True), ("GPE", True),
        ("ORG", True),
        ("PERSON", False),
        ("GPE", True),
        ("ORG", False),
        ("ORG", False),  # a PERSON tag on a team: not a place, so it still votes
        ("GPE", False), ("GPE", False),
    ]  # fmt: skip


def test_a_team_named_after_a_city_is_its_own_entity() -> None:
    text = (
        "CHICAGO 1996-08-30\nChicago 4 Houston 3\nChicago 5 Houston 1\n"
        "Lotte 5 Haitai 2\nLotte won ."
    )
    names = [
        ("CHICAGO", "GPE"),
        ("Chicago", "GPE"), ("Houston", "GPE"),
        ("Chicago", "GPE"), ("Houston", "GPE"),
        ("Lotte", "PERSON"), ("Haitai", "ORG"),
        ("Lotte", "PERSON"),
    ]  # fmt: skip
    mentions = table_roles(text, mentions_in(text, names), TABLES)
    entities, refs = group_mentions(mentions, 0, TABLES)
    assert [(e["canonical"], e["label"], e["count"], e["country"]) for e in entities] == [
        ("Chicago", "ORG", 2, None),  # the team, in the two score lines
        ("Houston", "ORG", 2, None),
        ("Lotte", "ORG", 2, None),  # table rows vote: the prose "Lotte" is the team too
        ("Chicago", "GPE", 1, "US"),  # the city, in the dateline
        ("Haitai", "ORG", 1, None),
    ]
    assert entities[0]["mentions"] == [[19, 26], [39, 46]]
    assert [(r.canonical, r.label) for r in refs] == [
        ("Chicago", "GPE"),
        ("Chicago", "ORG"), ("Houston", "ORG"),
        ("Chicago", "ORG"), ("Houston", "ORG"),
        ("Lotte", "ORG"), ("Haitai", "ORG"),
        ("Lotte", "ORG"),
    ]  # fmt: skip


def test_wire_dateline_names_its_city_and_region() -> None:
    text = (
        "Quake hits Peru\n\n"
        "AREQUIPA, Peru, Aug 5 (Wirestream) - A quake struck Arequipa, where Arequipa "
        "officials said Quispe was safe.\n\n"
        "HALIFAX, Nova Scotia, Aug. 5 - It was found on a beach.\n\n"
        "UNITED NATIONS, Nov 28 (Reuters) - The Security Council met.\n\n"
        "Later, Arequipa said (in a statement) - nothing."
    )
    names = [
        ("Peru", "GPE"),
        ("AREQUIPA", "ORG"), ("Peru", "GPE"), ("Wirestream", "ORG"),
        ("Arequipa", "ORG"), ("Arequipa", "ORG"), ("Quispe", "PERSON"),
        ("HALIFAX", "ORG"), ("Nova Scotia", "PERSON"),
        ("UNITED NATIONS", "ORG"), ("Security Council", "ORG"),
        ("Arequipa", "ORG"),
    ]  # fmt: skip
    mentions = table_roles(text, mentions_in(text, names), TABLES)
    assert [(x.label, x.decides) for x in mentions] == [
        ("GPE", False),
        ("GPE", True), ("GPE", True), ("ORG", False),  # the agency keeps its label
        ("ORG", False), ("ORG", False), ("PERSON", False),  # prose is not a dateline
        ("GPE", True), ("GPE", True),
        ("ORG", False), ("ORG", False),  # a known organisation is never relabelled
        ("ORG", False),  # no month and day: not a dateline
    ]  # fmt: skip
    entities, _ = group_mentions(mentions, 15, TABLES)
    labels = {e["canonical"]: (e["label"], e["count"], e["country"]) for e in entities}
    # Four ORG mentions in the text are outvoted by the dateline: the city is a place.
    assert labels["Arequipa"] == ("GPE", 4, "PE")  # a region of Peru (pycountry)
    assert labels["Halifax"] == ("GPE", 1, None)  # no table knows the city
    assert labels["Nova Scotia"] == ("GPE", 1, "CA")
    assert labels["Peru"] == ("GPE", 2, "PE")
    assert labels["United Nations"] == ("ORG", 1, None)
    assert labels["Wirestream"] == ("ORG", 1, None)


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Nova Scotia", "CA"),
        ("Meghalaya", "IN"),  # pycountry spells it with an accent
        ("Île-de-France", "FR"),
        ("Ile-de-France", "FR"),
        ("Limpopo", "ZA"),
        ("Georgia", "GE"),  # the country comes first
        ("Punjab", None),  # India and Pakistan
        ("Central", None),  # eight countries
        ("North", None),  # an ordinary word ([regions] exclude)
        ("Victoria", None),  # the state, a city, a lake, a name
    ],
)
def test_regions_give_their_country(name: str, code: str | None) -> None:
    assert TABLES.country_of(name, "GPE") == code
    assert TABLES.country_of(name, "PERSON") is None
