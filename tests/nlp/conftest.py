"""Shared fixtures: one spaCy pipeline per test session, the seed article and its analysis."""

from __future__ import annotations

from pathlib import Path

import pytest
from spacy.language import Language

from nlp import Analysis, NlpInput, analyse, build_nlp

SEED = Path(__file__).resolve().parents[2] / "seeds" / "000_22ed915bf0ed7153.txt"


def seed_path() -> Path:
    """The seed article (the repo's byte-identical copy of the specification seed)."""
    return SEED


def input_from_lines(raw: str) -> NlpInput:
    """First line headline, second standfirst, the rest body (lines joined with "\\n")."""
    lines = raw.split("\n")
    headline, standfirst, body = lines[0], lines[1], "\n".join(lines[2:])
    text = "\n\n".join(part for part in (headline, standfirst, body) if part)
    return NlpInput(text, len(headline), None)


@pytest.fixture(scope="session")
def nlp() -> Language:
    return build_nlp()


@pytest.fixture(scope="session")
def seed_input() -> NlpInput:
    return input_from_lines(seed_path().read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def seed_analysis(seed_input: NlpInput, nlp: Language) -> Analysis:
    [analysis] = analyse([seed_input], nlp)
    return analysis
