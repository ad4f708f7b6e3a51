"""Fault injection for tests/integration/test_outputs.py: a worker started with this
directory first on PYTHONPATH and ``FAULT_FAIL_SEND_MARKER`` naming an existing file
fails its first send to ``wirestream.enriched`` (as a broker refusing the record would)
and deletes the file, so the failure happens once, whichever process meets it first.
"""

from __future__ import annotations

import os
from typing import Any

MARKER = os.environ.get("FAULT_FAIL_SEND_MARKER", "")

if MARKER:
    from faust.exceptions import ProducerSendError
    from faust.transport.drivers import aiokafka as _driver

    _send = _driver.Producer.send

    async def _failing_send(self: Any, topic: str, *args: Any, **kwargs: Any) -> Any:
        if topic == "wirestream.enriched" and os.path.exists(MARKER):
            os.remove(MARKER)
            raise ProducerSendError("injected fault: the broker refused the record")
        return await _send(self, topic, *args, **kwargs)

    _driver.Producer.send = _failing_send  # type: ignore[method-assign]
