"""Reading CoNLL-2003 files (``word POS chunk NER`` per line, IOB2 tags)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DOCSTART = "-DOCSTART-"


@dataclass(frozen=True)
class Sentence:
    """One sentence: its words and their IOB2 tags ("B-PER", "I-PER", "O")."""

    words: tuple[str, ...]
    tags: tuple[str, ...]


@dataclass(frozen=True)
class ConllDoc:
    """One CoNLL document (the sentences between two ``-DOCSTART-`` lines)."""

    sentences: tuple[Sentence, ...]


def read_conll(path: Path) -> list[ConllDoc]:
    """The documents of a CoNLL-2003 file, in file order (empty documents dropped)."""
    docs: list[ConllDoc] = []
    sentences: list[Sentence] = []
    words: list[str] = []
    tags: list[str] = []

    def end_sentence() -> None:
        if words:
            sentences.append(Sentence(tuple(words), tuple(tags)))
        words.clear()
        tags.clear()

    def end_doc() -> None:
        end_sentence()
        if sentences:
            docs.append(ConllDoc(tuple(sentences)))
        sentences.clear()

    with path.open(encoding="utf-8") as fh:
        for raw in fh:
            line = raw.strip()
            if not line:
                end_sentence()
                continue
            parts = line.split()
            if parts[0] == DOCSTART:
                end_doc()
                continue
            words.append(parts[0])
            tags.append(parts[-1])
    end_doc()
    return docs


def iob_spans(tags: tuple[str, ...]) -> Iterator[tuple[int, int, str]]:
    """(first word, end word, label) of each entity in an IOB2 (or IOB1) tag sequence."""
    start: int | None = None
    label = ""
    for i, tag in enumerate((*tags, "O")):
        prefix, _, kind = tag.partition("-")
        continues = prefix == "I" and kind == label and start is not None
        if start is not None and not continues:
            yield start, i, label
            start = None
        if prefix in ("B", "I") and not continues:
            start, label = i, kind


def doc_text(doc: ConllDoc, joiner: str = "\n") -> tuple[str, list[tuple[int, int, str]]]:
    """The document as one text (words joined by a space, sentences by ``joiner``) and
    its gold entities as (start char, end char, CoNLL label)."""
    pieces: list[str] = []
    spans: list[tuple[int, int, str]] = []
    offset = 0
    for sentence in doc.sentences:
        starts: list[int] = []
        for n, word in enumerate(sentence.words):
            if pieces:
                gap = " " if n else joiner
                pieces.append(gap)
                offset += len(gap)
            starts.append(offset)
            pieces.append(word)
            offset += len(word)
        for first, end, label in iob_spans(sentence.tags):
            spans.append((starts[first], starts[end - 1] + len(sentence.words[end - 1]), label))
    return "".join(pieces), spans
