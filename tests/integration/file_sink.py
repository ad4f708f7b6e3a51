"""A trivial extra sink for tests: each output appended as one JSON line to
``DATA_DIR/sink.jsonl`` (topic, key, value as hex)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import orjson

from streams.settings import Settings
from streams.sinks import Message


class FileSink:
    def __init__(self, path: Path) -> None:
        self.path = path

    async def send(self, messages: Sequence[Message]) -> None:
        lines = [
            orjson.dumps(
                {
                    "topic": t,
                    "key": (k or b"").decode(),
                    "value": v.hex() if v is not None else None,
                }
            )
            for t, k, v in messages
        ]
        with self.path.open("ab") as out:
            out.write(b"".join(line + b"\n" for line in lines))


def make(settings: Settings) -> FileSink:
    return FileSink(Path(settings.data_dir) / "sink.jsonl")
