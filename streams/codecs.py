"""orjson codec, registered with Faust under the name ``orjson``."""

from __future__ import annotations

from typing import Any

import orjson
from faust.serializers import codecs


def _default(obj: Any) -> Any:
    """Serialise Faust records (and anything else with ``to_representation``)."""
    to_repr = getattr(obj, "to_representation", None)
    if to_repr is not None:
        return to_repr()
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def dumps(obj: Any) -> bytes:
    """Encode to JSON bytes with orjson."""
    return orjson.dumps(obj, default=_default)


def loads(data: bytes | str) -> Any:
    """Decode JSON bytes with orjson."""
    return orjson.loads(data)


class OrjsonCodec(codecs.Codec):
    """Faust codec backed by orjson."""

    def _dumps(self, obj: Any) -> bytes:
        return dumps(obj)

    def _loads(self, s: bytes) -> Any:
        return loads(s)


codecs.register("orjson", OrjsonCodec())
