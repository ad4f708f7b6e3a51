"""A tokenizer whose cost is linear in the text and bounded per article.

spaCy's tokenizer strips prefixes and suffixes one at a time, re-examining what is left
of a whitespace-delimited chunk each time: on a run of punctuation (``"(" * 16_000``) that
is quadratic. :class:`BoundedTokenizer` wraps it:

- a run of more than ``max_word_chars`` non-space characters is tokenised in pieces of
  that many characters (limit ``max_word_chars``);
- the text is tokenised a segment at a time, and reading stops after ``max_tokens``
  tokens: the doc is then the text's first ``max_tokens`` tokens (limit ``max_tokens``).

A doc's text is always a prefix of the text it was given, so character offsets stay
valid. Text with no such run and no more tokens than the budget gets exactly the tokens
(and token norms) that spaCy's tokenizer gives it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import numpy as np
from spacy.attrs import NORM
from spacy.tokens import Doc
from spacy.vocab import Vocab

from nlp.extensions import register
from nlp.limits import note

register()

#: Characters per segment handed to spaCy's tokenizer at a time (a segment ends where a
#: non-space character follows whitespace, so it holds whole whitespace-delimited chunks).
SEGMENT_CHARS = 2000
#: A text up to this long (and no longer than the token budget) with no over-long run goes
#: to spaCy's tokenizer in one call (most articles: no segments to join).
DIRECT_CHARS = 4000
_BOUNDARY = re.compile(r"\s(?=\S)")


class BoundedTokenizer:
    """``nlp.tokenizer`` replacement: spaCy's ``tokenizer`` within the two caps."""

    def __init__(
        self,
        tokenizer: Callable[[str], Doc],
        vocab: Vocab,
        *,
        max_tokens: int,
        max_word_chars: int,
        segment_chars: int = SEGMENT_CHARS,
        direct_chars: int = DIRECT_CHARS,
    ) -> None:
        if min(max_tokens, max_word_chars, segment_chars) < 1:
            raise ValueError("tokenizer limits must be at least 1")
        self.tokenizer = tokenizer
        self.vocab = vocab
        self.max_tokens = max_tokens
        self.max_word_chars = max_word_chars
        self.segment_chars = segment_chars
        self.direct_chars = min(direct_chars, max_tokens)
        self._long_run = re.compile(rf"\S{{{max_word_chars + 1},}}")

    def __call__(self, text: str) -> Doc:
        # Every token has at least one character: a short text is within the budget.
        if len(text) <= self.direct_chars and not self._long_run.search(text):
            return self.tokenizer(text)
        docs: list[Doc] = []
        count = 0
        split = cut = False
        for piece, is_run in self._pieces(text):
            split = split or is_run
            doc = self.tokenizer(piece)
            if count + len(doc) > self.max_tokens:
                docs.append(doc)
                cut = True
                break
            docs.append(doc)
            count += len(doc)
        if len(docs) == 1 and not cut:
            doc = docs[0]
        else:
            doc = concatenate(self.vocab, docs, self.max_tokens)
        if split:
            note(doc, "max_word_chars")
        if cut:
            note(doc, "max_tokens")
        return doc

    def _pieces(self, text: str) -> Iterator[tuple[str, bool]]:
        """The text in consecutive pieces: segments of whole whitespace-delimited chunks
        (about ``segment_chars`` long), and the pieces of each over-long run (flagged;
        a single space after a run goes with its last piece, as spaCy attaches it to the
        token before it)."""
        n = len(text)
        pos = 0
        while pos < n:
            run = self._long_run.search(text, pos)
            stop = n if run is None else run.start()
            while pos < stop:  # ordinary text up to the run
                end = stop
                if end - pos > self.segment_chars:
                    found = _BOUNDARY.search(text, pos + self.segment_chars, stop)
                    end = found.end() if found is not None else stop
                yield text[pos:end], False
                pos = end
            if run is None:
                return
            end = run.end() + (1 if text[run.end() : run.end() + 1] == " " else 0)
            step = self.max_word_chars
            while pos < run.end():
                nxt = min(pos + step, run.end())
                yield text[pos : end if nxt == run.end() else nxt], True
                pos = nxt
            pos = end


def concatenate(vocab: Vocab, docs: list[Doc], max_tokens: int) -> Doc:
    """One doc of the docs' first ``max_tokens`` tokens, with their whitespace and norms
    (what a tokenizer sets): its text is the docs' texts joined, cut after the last
    token kept."""
    tokens = [t for d in docs for t in d][:max_tokens]
    words = [t.text for t in tokens]
    spaces = [bool(t.whitespace_) for t in tokens]
    doc = Doc(vocab, words=words, spaces=spaces)
    if tokens:
        norms = np.fromiter((t.norm for t in tokens), dtype=np.uint64, count=len(tokens))
        doc.from_array([NORM], norms.reshape(-1, 1))  # type: ignore[arg-type]
    return doc
