"""Keyed updates: what the worker does with each version of a story (pure, no Kafka).

Every output topic holds, per article id (the key), the current version of the story.
The worker remembers per id the highest version it processed and the topics that version
went to (:class:`Known`); :func:`plan` turns a batch of incoming articles and that
memory into decisions, and :func:`settle` turns the routes of the enriched ones into
tombstones and the new memory:

* an article without a version (``article/1`` input) passes as before (:data:`PASS`);
* a version equal to or older than the one processed is dropped and counted
  (:data:`DROP`, not dead-lettered); so is an older version of the same id later in the
  same batch (:data:`SUPERSEDED`: only the highest version of a batch is acted on);
* a newer ``usable`` version is enriched (:data:`ENRICH`); the topics the old version
  went to and the new one does not get a tombstone (key = id, value null);
* a newer ``withheld`` or ``canceled`` version (:data:`RETRACT`) is not enriched: a
  tombstone goes to ``wirestream.enriched`` and to every topic the last usable version
  went to, and a :func:`retraction` record to ``wirestream.retractions``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import orjson

from agents.deadletter import Received

#: (topic, key, value); a value of None is a tombstone.
Output = tuple[str, bytes | None, bytes | None]

USABLE: Final = "usable"
RETRACTED: Final = frozenset({"withheld", "canceled"})
STATUSES: Final = frozenset({USABLE, *RETRACTED})

Action = Literal["pass", "enrich", "retract", "drop", "superseded"]
PASS: Final = "pass"  # noqa: S105 - an action, not a password
ENRICH: Final = "enrich"
RETRACT: Final = "retract"
DROP: Final = "drop"
SUPERSEDED: Final = "superseded"


@dataclass(frozen=True)
class Known:
    """What the worker remembers of one id: the highest version processed, its status,
    and the topics the current (usable) version is on (none after a retraction)."""

    version: int
    status: str
    topics: tuple[str, ...]

    def encode(self) -> bytes:
        """JSON ``[version, status, [topics]]``. The standard library's encoder: a value
        from ``orjson.dumps`` keeps about 4 KB of memory however short it is (measured:
        4,224 bytes of RSS per table entry against 264), and the table keeps every one."""
        return json.dumps(
            [self.version, self.status, list(self.topics)], separators=(",", ":")
        ).encode()

    @classmethod
    def decode(cls, raw: bytes | None) -> Known | None:
        if raw is None:
            return None
        version, status, topics = orjson.loads(raw)
        return cls(int(version), str(status), tuple(topics))


@dataclass(frozen=True)
class Incoming:
    """What :func:`plan` needs of one input article."""

    id: str
    version: int | None
    status: str = USABLE
    guid: str | None = None


def peek(raw: bytes | None) -> Incoming | None:
    """The id, version, status and guid of a raw input article, without validating the
    rest (the NLP step does that); None when it is not a JSON object with a string id
    (such input is dead-lettered as before). A version that is not a positive integer,
    or a status that is not known, makes the article pass as an unversioned one, so that
    the validation refuses it with its reason."""
    try:
        data = orjson.loads(raw or b"")
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
        return None
    version = data.get("version")
    status = data.get("status") or USABLE
    guid = data.get("guid") if isinstance(data.get("guid"), str) else None
    if version is None or isinstance(version, bool) or not isinstance(version, int):
        return Incoming(data["id"], None, USABLE, guid)
    if version < 1 or status not in STATUSES:
        return Incoming(data["id"], None, USABLE, guid)
    return Incoming(data["id"], version, str(status), guid)


def plan(batch: Sequence[Incoming | None], known: Mapping[str, Known]) -> list[Action]:
    """One decision per article of ``batch`` (None: not decodable, it passes)."""
    latest: dict[str, int] = {}  # id -> position of its highest version in the batch
    for n, item in enumerate(batch):
        if item is None or item.version is None:
            continue
        best = latest.get(item.id)
        if best is None or item.version > _version(batch[best]):
            latest[item.id] = n
    actions: list[Action] = []
    for n, item in enumerate(batch):
        if item is None or item.version is None:
            actions.append(PASS)
            continue
        before = known.get(item.id)
        if before is not None and item.version <= before.version:
            actions.append(DROP)
        elif latest[item.id] != n:
            actions.append(SUPERSEDED)
        elif item.status in RETRACTED:
            actions.append(RETRACT)
        else:
            actions.append(ENRICH)
    return actions


def _version(item: Incoming | None) -> int:
    return item.version if item is not None and item.version is not None else 0


def settle(before: Known | None, item: Incoming, topics: Sequence[str]) -> tuple[list[str], Known]:
    """An enriched version went to ``topics``: the topics to tombstone (the previous
    version's that the new one does not go to) and what to remember."""
    now = tuple(dict.fromkeys(topics))
    old = before.topics if before is not None else ()
    gone = [t for t in old if t not in now]
    assert item.version is not None
    return gone, Known(item.version, USABLE, now)


def retract(
    before: Known | None, item: Incoming, enriched: str, when: str
) -> tuple[list[str], dict[str, Any], Known]:
    """A withheld or canceled version: the topics to tombstone (``enriched`` and every
    topic the last usable version went to), the retraction record and what to remember."""
    old = before.topics if before is not None else ()
    topics = list(dict.fromkeys([enriched, *old]))
    assert item.version is not None
    record = retraction(item, topics, when)
    return topics, record, Known(item.version, item.status, ())


def retraction(item: Incoming, topics: Sequence[str], when: str) -> dict[str, Any]:
    """The record on ``wirestream.retractions`` (for consumers that do not read
    tombstones)."""
    return {
        "id": item.id,
        "guid": item.guid,
        "version": item.version,
        "status": item.status,
        "when": when,
        "topics": list(topics),
    }


# -- a batch: before and after the NLP -----------------------------------------------------


@dataclass
class Prepared:
    """A batch sorted by :func:`prepare`: what goes to the NLP, and what is decided."""

    to_enrich: list[Received]  # unversioned and newer usable versions, in input order
    enrich: dict[str, Incoming]  # id -> the version being enriched
    retract: list[Incoming]
    dropped: int  # equal or older versions, and older ones superseded in the batch


def prepare(batch: Sequence[Received], known: Mapping[str, Known]) -> Prepared:
    """Sort a batch of raw input (``known``: what is remembered of its ids)."""
    items = [peek(msg.value) for msg in batch]
    actions = plan(items, known)
    out = Prepared([], {}, [], 0)
    for msg, item, action in zip(batch, items, actions, strict=True):
        if action in (PASS, ENRICH):
            out.to_enrich.append(msg)
            if action == ENRICH and item is not None:
                out.enrich[item.id] = item
        elif action == RETRACT and item is not None:
            out.retract.append(item)
        else:
            out.dropped += 1
    return out


def ids(batch: Sequence[Received]) -> list[str]:
    """The ids of a raw batch's versioned articles (what to look up before :func:`prepare`)."""
    return [i.id for i in map(peek, (m.value for m in batch)) if i and i.version is not None]


def finish(
    prepared: Prepared,
    outputs: Sequence[Output],
    known: Mapping[str, Known],
    *,
    enriched: str,
    deadletter: str,
    retractions: str,
    when: str,
) -> tuple[list[Output], dict[str, Known], int]:
    """The batch's outputs with the tombstones and retraction records added, what to
    remember per id, and how many versions were dropped here: ``known`` is looked up
    again after the NLP, so a version that another path (the slow lane) overtook while
    it was enriched is dropped now (its outputs are not sent)."""
    updates: dict[str, Known] = {}
    dropped = 0
    stale: set[bytes] = set()
    extra: list[Output] = []
    for ident, item in prepared.enrich.items():
        before = known.get(ident)
        key = ident.encode()
        if before is not None and item.version is not None and item.version <= before.version:
            stale.add(key)
            dropped += 1
            continue
        topics = [t for t, k, v in outputs if k == key and t != deadletter and v is not None]
        if not topics:  # dead-lettered: nothing changed on the output topics
            continue
        gone, updates[ident] = settle(before, item, topics)
        extra += [(topic, key, None) for topic in gone]
    for item in prepared.retract:
        before = known.get(item.id)
        if before is not None and item.version is not None and item.version <= before.version:
            dropped += 1
            continue
        key = item.id.encode()
        topics, record, updates[item.id] = retract(before, item, enriched, when)
        extra += [(topic, key, None) for topic in topics]
        extra.append((retractions, key, orjson.dumps(record)))
    kept = [o for o in outputs if not (o[1] in stale and o[0] != deadletter)]
    return kept + extra, updates, dropped
