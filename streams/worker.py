"""The Faust worker process, with a bounded shutdown.

A Faust worker that receives SIGTERM while the broker is unreachable can wait for ever
(its consumer and producer keep retrying). Here a stop signal also starts a timer: if
the graceful stop has not finished after ``shutdown_timeout`` seconds, the process
exits anyway. Nothing is lost by that: offsets are committed only for articles whose
outputs the broker acknowledged, so anything unfinished is delivered again.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

import faust

log = logging.getLogger(__name__)


class Worker(faust.Worker):
    """``faust.Worker`` whose stop on SIGTERM/SIGINT is bounded in time."""

    def __init__(self, *args: Any, shutdown_timeout: float = 8.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.shutdown_timeout = shutdown_timeout

    def _schedule_shutdown(self, signum: signal.Signals) -> None:
        if not self._signal_stop_time:
            timer = threading.Timer(self.shutdown_timeout, self._force_exit, args=(signum,))
            timer.daemon = True
            timer.start()
        super()._schedule_shutdown(signum)

    def _force_exit(self, signum: signal.Signals) -> None:
        log.warning(
            "graceful stop after %s took over %.0f s; exiting now (uncommitted input will be "
            "delivered again)",
            signum.name,
            self.shutdown_timeout,
        )
        logging.shutdown()
        os._exit(1)
