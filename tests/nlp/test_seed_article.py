"""The whole analysis on the specification seed article, with real values."""

from __future__ import annotations

from spacy.language import Language

from nlp import Analysis, Entity, NlpInput, analyse

PEOPLE = {
    "Recep Tayyip Erdogan",
    "Vladimir Putin",
    "Mevlut Cavusoglu",
    "Javad Zarif",
    "Khalifa Haftar",
}


def by_canonical(analysis: Analysis) -> dict[str, Entity]:
    return {e["canonical"]: e for e in analysis["entities"]}


def test_language_and_flags(seed_analysis: Analysis) -> None:
    assert seed_analysis["language"] == "en"
    assert seed_analysis["truncated"] is False


def test_people_are_exactly_the_five_full_names(seed_analysis: Analysis) -> None:
    people = {e["canonical"] for e in seed_analysis["entities"] if e["label"] == "PERSON"}
    assert people == PEOPLE
    for name in people:
        assert not name.endswith("'s") and not name.endswith("’s")
    entities = by_canonical(seed_analysis)
    for name in PEOPLE:
        assert entities[name]["label"] == "PERSON"


def test_surnames_are_merged_into_full_names(seed_analysis: Analysis, seed_input: NlpInput) -> None:
    entities = by_canonical(seed_analysis)
    zarif = entities["Javad Zarif"]
    assert zarif["count"] >= 4
    surfaces = {seed_input.text[s:e] for s, e in zarif["mentions"]}
    assert surfaces == {"Javad Zarif", "Zarif"}
    # spaCy tags the bare surnames ORG; merged, they are the PERSON's mentions
    assert entities["Khalifa Haftar"]["count"] == 2
    assert entities["Mevlut Cavusoglu"]["count"] == 3
    assert "Zarif" not in entities and "Haftar" not in entities and "Cavusoglu" not in entities


def test_places_and_countries(seed_analysis: Analysis) -> None:
    entities = by_canonical(seed_analysis)
    gpe = {name for name, e in entities.items() if e["label"] == "GPE"}
    assert {"Turkey", "Russia", "Libya", "Iran", "Istanbul"} <= gpe
    countries = {e["country"] for e in seed_analysis["entities"]}
    assert {"TR", "RU", "LY", "IR"} <= countries
    assert entities["Istanbul"]["country"] == "TR"
    assert entities["Turkey"]["country"] == "TR"
    assert entities["Turkish"]["label"] == "NORP"
    assert entities["Turkish"]["country"] == "TR"
    assert entities["Iranian"]["country"] == "IR"
    assert entities["Turkey"]["in_headline"] is True
    assert entities["Istanbul"]["in_headline"] is False


def test_organisations(seed_analysis: Analysis) -> None:
    entities = by_canonical(seed_analysis)
    un = entities["United Nations"]
    assert un["label"] == "ORG"
    assert un["text"] == "UN"
    assert not any(
        e["canonical"] == "COVID-19" and e["label"] == "ORG" for e in seed_analysis["entities"]
    )


def test_entities_sorted_by_count_then_first_mention(seed_analysis: Analysis) -> None:
    keys = [(-e["count"], e["mentions"][0][0]) for e in seed_analysis["entities"]]
    assert keys == sorted(keys)
    assert seed_analysis["entities"][0]["canonical"] == "Turkey"


def test_mentions_point_into_the_text(seed_analysis: Analysis, seed_input: NlpInput) -> None:
    text = seed_input.text
    for entity in seed_analysis["entities"]:
        assert entity["count"] == len(entity["mentions"])
        first_start, first_end = entity["mentions"][0]
        assert text[first_start:first_end] == entity["text"]
        for start, end in entity["mentions"]:
            surface = text[start:end]
            assert surface and surface == surface.strip()
            assert "\n" not in surface
            assert not surface.endswith(("'s", "’s"))
        headline = any(s < seed_input.headline_chars for s, _ in entity["mentions"])
        assert entity["in_headline"] == headline


def test_events(seed_analysis: Analysis, seed_input: NlpInput) -> None:
    events = seed_analysis["events"]
    coded = [e for e in events if e["cameo"] is not None]
    roots = {e["cameo"][:2] for e in coded}
    assert roots & {"03", "04"}
    violent = [e for e in coded if e["cameo"][:2] in ("18", "19")]
    assert any(e["actor1"] == "Khalifa Haftar" for e in violent)
    signed = [e for e in events if e["cameo"] == "057"]
    assert len(signed) == 1 and signed[0]["tag"] == "sign-agreement"
    assert signed[0]["trigger"] == "signed"
    assert (signed[0]["actor1"], signed[0]["actor2"]) == ("TR", "IR")  # "the two top diplomats"
    consult = [e for e in coded if e["cameo"][:2] in ("03", "04")]
    assert any({e["actor1"], e["actor2"]} == {"TR", "RU"} for e in consult)
    for event in events:
        start, end = event["trigger_span"]
        assert seed_input.text[start:end] == event["trigger"]
        assert event["trigger"] in event["sentence_text"]
        if event["cameo"] is None:  # news tags (epidemic...) have no CAMEO code
            assert event["quad_class"] is None and event["goldstein"] is None
        else:
            assert 1 <= event["quad_class"] <= 4
    # the headline is its own sentence: "continue talks" there is an intent to negotiate
    headline = [e for e in events if e["sentence"] == 0]
    assert [e["tag"] for e in headline] == ["intent-to-negotiate"]
    assert headline[0]["sentence_text"] == "Turkey, Russia to continue talks for truce in Libya"
    # country codes for GPE actors; "Turkey, Russia" are coordinated, "in Libya" is a place
    assert (headline[0]["actor1"], headline[0]["actor2"]) == ("TR", "RU")
    # one event per (tag, sentence); sentence by sentence, each sentence's primary event
    # first and the others in text order
    keys = [(e["tag"], e["sentence"]) for e in events]
    assert len(keys) == len(set(keys))
    sentences = [e["sentence"] for e in events]
    assert sentences == sorted(sentences)
    for index in set(sentences):
        rest = [e["trigger_span"][0] for e in events if e["sentence"] == index][1:]
        assert rest == sorted(rest)
    assert seed_analysis["tags"] == list(dict.fromkeys(e["tag"] for e in events))


def test_topics(seed_analysis: Analysis) -> None:
    topics = seed_analysis["topics"]
    assert {t["slug"] for t in topics[:2]} == {"politics", "conflict"}
    assert 1 <= len(topics) <= 3
    scores = [t["score"] for t in topics]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 and round(s, 4) == s for s in scores)
    codes = {t["slug"]: t["code"] for t in topics}
    assert codes["politics"] == "11000000" and codes["conflict"] == "16000000"


def test_sentiment(seed_analysis: Analysis) -> None:
    sentiment = seed_analysis["sentiment"]
    assert -1.0 <= sentiment["compound"] <= 1.0
    assert round(sentiment["compound"], 4) == sentiment["compound"]
    expected = (
        "negative"
        if sentiment["compound"] <= -0.05
        else "positive"
        if sentiment["compound"] >= 0.05
        else "neutral"
    )
    assert sentiment["label"] == expected


def test_same_input_same_output(seed_input: NlpInput, nlp: Language) -> None:
    first = analyse([seed_input], nlp)
    second = analyse([seed_input, seed_input], nlp, batch_size=1)
    assert second == [first[0], first[0]]
