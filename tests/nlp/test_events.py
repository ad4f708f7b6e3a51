"""The event taxonomy file and trigger matching on small texts."""

from __future__ import annotations

import re
import tomllib

import pytest
from spacy.language import Language

from nlp import NlpInput, analyse
from nlp.data import data_path
from nlp.events import (
    DEFAULT_MODEL_DIR,
    TaxonomyError,
    canonical_tags,
    choose_type,
    classify_acled,
    load_taxonomy,
    load_type_model,
    parse_tag,
    parse_trigger,
    primary_first,
    sentence_features,
)
from nlp.subjects import load_lexicon
from nlp.types import Event

CAMEO = re.compile(r"^(0[1-9]|1[0-9]|20)[0-9]{1,2}$")


def events_of(nlp: Language, text: str, headline_chars: int = 0) -> list[Event]:
    [result] = analyse([NlpInput(text, headline_chars, "en")], nlp)
    return result["events"]


def test_taxonomy_file_loads_and_is_valid() -> None:
    with data_path("taxonomy.toml").open("rb") as fh:
        raw = tomllib.load(fh)
    assert raw["version"] == "2"
    taxonomy = load_taxonomy()
    assert taxonomy.version == "2"
    assert len(taxonomy.tags) >= 25
    topics = load_lexicon().topics
    for slug, tag in taxonomy.tags.items():
        assert tag.iptc in topics, slug
        assert tag.name and tag.triggers, slug
        assert set(tag.acled) <= set(taxonomy.acled_types), slug
        assert bool(tag.acled) == (slug in taxonomy.acled_order), slug
        if tag.cameo is None:  # a news tag: no fake code
            assert tag.quad_class is None and tag.goldstein is None, slug
            continue
        assert CAMEO.match(tag.cameo), slug
        assert tag.goldstein is not None and -10.0 <= tag.goldstein <= 10.0, slug
        root = int(tag.cameo[:2])
        expected = 1 if root <= 5 else 2 if root <= 8 else 3 if root <= 13 else 4
        assert tag.quad_class == expected, slug


def test_taxonomy_covers_every_cameo_root_and_the_news_tags() -> None:
    tags = load_taxonomy().tags
    roots = {t.cameo[:2] for t in tags.values() if t.cameo is not None}
    assert roots == {f"{i:02d}" for i in range(1, 21)}
    assert {
        "intent-to-negotiate",
        "sign-agreement",
        "ceasefire",
        "air-strike",
        "armed-clash",
        "artillery",
        "protest",
        "riot",
        "sanctions",
        "arrest",
        "election",
        "natural-disaster",
        "accident",
        "epidemic",
        "strike",
        "court-case",
        "stock-market",
        "interest-rate",
    } <= set(tags)
    assert tags["intent-to-negotiate"].cameo == "036"
    assert tags["sign-agreement"].cameo == "057"
    assert tags["air-strike"].cameo == "195"
    assert tags["armed-clash"].acled == ("ARMED_CLASH",)
    for news in ("election", "natural-disaster", "accident", "epidemic", "stock-market"):
        assert tags[news].cameo is None, news


def test_every_case_2021_type_is_reachable() -> None:
    taxonomy = load_taxonomy()
    case_types = {
        "ABDUCT_DISSAP", "AGREEMENT", "AIR_STRIKE", "ARMED_CLASH", "ARREST",
        "ART_MISS_ATTACK", "ATTACK", "CHANGE_TO_GROUP_ACT", "CHEM_WEAP", "DISR_WEAP",
        "FORCE_AGAINST_PROTEST", "GOV_REGAINS_TERIT", "GRENADE", "HQ_ESTABLISHED",
        "MOB_VIOL", "NON_STATE_ACTOR_OVERTAKES_TER", "NON_VIOL_TERRIT_TRANSFER", "OTHER",
        "PEACE_PROTEST", "PROPERTY_DISTRUCT", "PROTEST_WITH_INTER", "REM_EXPLOS",
        "SEX_VIOL", "SUIC_BOMB", "VIOL_DEMONSTR", "ORG_CRIME", "NATURAL_DISASTER",
        "MAN_MADE_DISASTER", "DIPLO", "ATTRIB",
    }  # fmt: skip
    assert set(taxonomy.acled_types) == case_types
    assert {taxonomy.tags[slug].acled[0] for slug in taxonomy.acled_order} == case_types


def event(tag: str, sentence: int = 0, trigger: str = "x") -> Event:
    return Event(
        tag=tag, cameo=None, name="", quad_class=None, goldstein=None, iptc="",
        trigger=trigger, trigger_span=[0, 1], sentence=sentence, sentence_text="x",
        actor1="A", actor2=None,
    )  # fmt: skip


def test_classify_acled_takes_the_first_tag_in_acled_order_across_sentences() -> None:
    taxonomy = load_taxonomy()
    assert classify_acled([], taxonomy) is None
    assert classify_acled([event("election")], taxonomy) is None  # no acled type
    # a suicide bombing outranks the attack it is part of, whatever the order in the text
    both = [event("attack", 0), event("suicide-bombing", 1)]
    assert classify_acled(both, taxonomy) == "SUIC_BOMB"
    assert (
        classify_acled([event("arrest", 0), event("organised-crime", 1)], taxonomy) == "ORG_CRIME"
    )
    order = taxonomy.acled_order
    assert order.index("suicide-bombing") < order.index("attack")


def test_classify_acled_takes_each_sentences_primary_event() -> None:
    taxonomy = load_taxonomy()
    # within a sentence the first event with a type is the sentence's (the primary one)
    assert classify_acled([event("attack"), event("suicide-bombing")], taxonomy) == "ATTACK"
    assert classify_acled([event("election"), event("arrest")], taxonomy) == "ARREST"
    same = [event("attack", 0), event("suicide-bombing", 0), event("arrest", 1)]
    assert classify_acled(same, taxonomy) == "ATTACK"  # attack outranks arrest


def test_rules_only_primary_event_is_first_in_acled_order() -> None:
    taxonomy = load_taxonomy()
    canonical = canonical_tags(taxonomy)
    events = [event("statement"), event("attack"), event("suicide-bombing")]
    ordered = primary_first(events, None, taxonomy, canonical)
    assert [e["tag"] for e in ordered] == ["suicide-bombing", "statement", "attack"]
    # no event with a type: unchanged
    assert primary_first([event("statement")], None, taxonomy, canonical) == [event("statement")]


def test_model_choice_reorders_or_adds_the_canonical_tag() -> None:
    taxonomy = load_taxonomy()
    canonical = canonical_tags(taxonomy)
    assert set(canonical) == set(taxonomy.acled_types)
    assert canonical["ARMED_CLASH"] == "armed-clash"
    events = [event("statement", trigger="said"), event("attack", trigger="attacked")]
    ordered = primary_first(events, "ATTACK", taxonomy, canonical)
    assert [e["tag"] for e in ordered] == ["attack", "statement"]
    added = primary_first(events, "ARMED_CLASH", taxonomy, canonical)
    assert [e["tag"] for e in added] == ["armed-clash", "statement", "attack"]
    assert added[0]["trigger"] == "said" and added[0]["actor1"] == "A"  # the first trigger
    assert added[0]["cameo"] == taxonomy.tags["armed-clash"].cameo
    assert classify_acled(added, taxonomy) == "ARMED_CLASH"


def test_choose_type_bonus_and_threshold() -> None:
    classes = ["ARMED_CLASH", "ATTACK", "DIPLO"]
    probs = [0.6, 0.1, 0.3]
    assert choose_type(probs, classes, [], bonus=2.0, min_prob=0.5) == "ARMED_CLASH"
    assert choose_type(probs, classes, [], bonus=2.0, min_prob=0.7) is None
    # log(0.1) + 2 > log(0.6): the rules' candidate wins
    assert choose_type(probs, classes, ["ATTACK"], bonus=2.0, min_prob=0.9) == "ATTACK"
    assert choose_type(probs, classes, ["ATTACK"], bonus=1.0, min_prob=0.9) == "ARMED_CLASH"
    assert choose_type(probs, classes, ["ATTACK", "DIPLO"], bonus=5.0, min_prob=0.9) == "DIPLO"


def test_type_model_on_disk_matches_the_taxonomy() -> None:
    assert load_type_model("") is None
    files = list(DEFAULT_MODEL_DIR.iterdir())
    assert {f.name for f in files} == {"weights.npz", "meta.json"}
    assert sum(f.stat().st_size for f in files) < 3_000_000
    type_model = load_type_model()
    assert type_model is not None
    assert sorted(type_model.model.classes) == sorted(load_taxonomy().acled_types)
    assert type_model.bonus > 0 and 0 < type_model.min_prob <= 1
    # the honest estimate is recorded with the weights
    nested = type_model.model.meta["nested_cv"]["heldout_even_ids"]["macro_f1"]
    assert 0.0 < nested < 1.0


def test_sentence_features_use_lemmas_entities_and_tags(nlp: Language) -> None:
    doc = nlp("Rebels attacked the army base in Kandahar.")
    feats = sentence_features(next(iter(doc.sents)), [event("attack", trigger="attacked")])
    assert feats["w=attack"] == 1.0 and feats["b=army_base"] == 1.0
    assert "w=the" not in feats and "w=." not in feats
    assert feats["t=attack"] == 1.0 and feats["g=attacked"] == 1.0 and feats["bias"] == 1.0
    assert "e=GPE" in feats


def test_every_type_the_pipeline_gives_is_a_tag_it_carries(nlp: Language) -> None:
    taxonomy = load_taxonomy()
    texts = [
        "Police fired tear gas at protesters who threw stones in the capital.",
        "Government forces retook the town from the rebels after heavy fighting.",
        "A car bomb exploded near a market, killing five people.",
        "The two ministers met in Ankara and said they would sign a trade deal.",
    ]
    for [result] in ([r] for r in analyse([NlpInput(t, 0, "en") for t in texts], nlp)):
        events = result["events"]
        assert result["tags"] == list(dict.fromkeys(e["tag"] for e in events))
        kind = classify_acled(events, taxonomy)
        assert kind is not None
        assert any(taxonomy.tags[t].acled[:1] == (kind,) for t in result["tags"])
        sentences = [e["sentence"] for e in events]
        assert sentences == sorted(sentences)  # sentence by sentence


def test_news_tags_have_null_codes(nlp: Language) -> None:
    events = events_of(nlp, "A strong earthquake struck central Peru on Sunday.")
    [quake] = [e for e in events if e["tag"] == "natural-disaster"]
    assert (quake["cameo"], quake["quad_class"], quake["goldstein"]) == (None, None, None)
    assert quake["trigger"] == "earthquake"


def test_pair_sentence_gets_the_two_main_country_actors(nlp: Language) -> None:
    events = events_of(
        nlp,
        "Turkey and Iran held talks in Ankara.\n"
        "Turkey said Iran was a partner.\n"
        "The two ministers signed a memorandum of understanding.",
    )
    [signed] = [e for e in events if e["tag"] == "sign-agreement"]
    assert (signed["sentence"], signed["actor1"], signed["actor2"]) == (2, "TR", "IR")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"lemma": "a", "phrase": "a b"}, "exactly one"),
        ({}, "exactly one"),
        ({"lemma": "air strike"}, "use 'phrase'"),
        ({"lemma": "x", "contxt": ["y"]}, "unknown trigger keys"),
        ({"lemma": "x", "context": "y"}, "list of strings"),
    ],
)
def test_bad_triggers_are_refused(spec: dict[str, object], message: str) -> None:
    with pytest.raises(TaxonomyError, match=message):
        parse_trigger(spec, "tag.x.triggers[0]")


def test_bad_tags_are_refused() -> None:
    good = {
        "cameo": "036",
        "name": "n",
        "quad_class": 1,
        "goldstein": 4.0,
        "iptc": "politics",
        "triggers": [{"lemma": "talk"}],
    }
    assert parse_tag("ok", good).cameo == "036"
    with pytest.raises(TaxonomyError, match="CAMEO"):
        parse_tag("x", {**good, "cameo": "21"})
    with pytest.raises(TaxonomyError, match="quad_class"):
        parse_tag("x", {**good, "quad_class": 5})
    with pytest.raises(TaxonomyError, match="goldstein"):
        parse_tag("x", {**good, "goldstein": -11})
    with pytest.raises(TaxonomyError, match="missing 'iptc'"):
        parse_tag("x", {k: v for k, v in good.items() if k != "iptc"})
    with pytest.raises(TaxonomyError, match="all of"):
        parse_tag("x", {k: v for k, v in good.items() if k != "goldstein"})
    with pytest.raises(TaxonomyError, match="unknown keys"):
        parse_tag("x", {**good, "cameo_exact": False})
    news = parse_tag(
        "n", {k: v for k, v in good.items() if k not in ("cameo", "quad_class", "goldstein")}
    )
    assert (news.cameo, news.quad_class, news.goldstein) == (None, None, None)


def test_phrase_and_context_triggers(nlp: Language) -> None:
    events = events_of(
        nlp,
        "Israeli warplanes carried out air strikes on Gaza on Tuesday.\n"
        "The two countries signed a memorandum of understanding on trade.\n"
        "The prime minister will continue talks with Egypt.",
    )
    by_tag = {e["tag"]: e for e in events}
    assert by_tag["air-strike"]["trigger"] == "warplanes"
    assert by_tag["air-strike"]["cameo"] == "195"
    assert by_tag["sign-agreement"]["trigger"] == "signed"
    assert by_tag["sign-agreement"]["sentence"] == 1
    assert by_tag["intent-to-negotiate"]["trigger"] == "talks"
    assert by_tag["intent-to-negotiate"]["actor2"] == "EG"


def test_context_is_required(nlp: Language) -> None:
    friendly = events_of(nlp, "The talks were friendly, he said.")
    assert "intent-to-negotiate" not in {e["tag"] for e in friendly}
    # "sign" needs an agreement-like word in the sentence
    assert not [
        e
        for e in events_of(nlp, "Fans queued for hours to see him sign autographs.")
        if e["tag"] == "sign-agreement"
    ]


def test_exclusions(nlp: Language) -> None:
    tags = {e["tag"] for e in events_of(nlp, "He suffered a heart attack at his home in Leeds.")}
    assert "attack" not in tags


def test_actors_and_passive(nlp: Language) -> None:
    events = events_of(
        nlp,
        "Russian troops attacked Ukrainian positions near Kharkiv on Monday.\n"
        "The convoy came under attack by Taliban fighters in Kandahar.",
    )
    attack = [e for e in events if e["tag"] == "attack"]
    assert [(e["sentence"], e["actor1"], e["actor2"]) for e in attack] == [
        (0, "RU", "UA"),
        (1, "Taliban", None),  # passive: the agent after "by" is actor1
    ]


def test_one_event_per_tag_and_sentence(nlp: Language) -> None:
    events = events_of(nlp, "Rebels attacked the base and then attacked the town, troops said.")
    assert [e["tag"] for e in events].count("attack") == 1
    assert [e for e in events if e["tag"] == "attack"][0]["trigger"] == "attacked"


def test_locations_and_quoted_speakers_are_not_actors(nlp: Language) -> None:
    events = events_of(
        nlp,
        "Turkey, Russia to continue talks for truce in Libya\n"
        "Rebels attacked soldiers in Syria on Monday.\n"
        "\u201cWe will attack the base,\u201d Ahmed Khan told reporters in Kabul.",
    )
    by_sentence = {(e["sentence"], e["tag"]): e for e in events}
    talks = by_sentence[(0, "intent-to-negotiate")]
    assert (talks["actor1"], talks["actor2"]) == ("TR", "RU")  # coordinated, Libya a place
    attack = by_sentence[(1, "attack")]
    assert attack["actor2"] is None  # "in Syria" is where, not whom
    quoted = by_sentence[(2, "attack")]
    assert quoted["actor2"] is None  # the speaker after the quotation is not the target
