"""Fault injection for the NLP guard's tests: a process started with this directory
first on PYTHONPATH (the tests' NLP processes and workers, never production) misbehaves
inside the NLP on articles whose text holds a marker:

* ``FAULT:sleep:S``: sleeps S seconds (an article too slow for the deadline);
* ``FAULT:alloc:MB``: allocates MB megabytes at once (beyond the address-space limit);
* ``FAULT:touch:MB``: writes to MB megabytes of address space reserved when the process
  started (``WIRESTREAM_TEST_RESERVE_MB``): resident memory grows while the address
  space does not, which only the worker's watchdog can see;
* ``FAULT:wait:NAME``: waits until a file NAME exists in ``WIRESTREAM_TEST_FAULTS_DIR``
  (an article that takes as long as the test wants);
* ``FAULT:cpu:S``: keeps the CPU busy until the process has used S seconds of it (an
  article that needs S s of CPU, however long it waits for one);
* ``FAULT:spin``: a regular expression that backtracks for ever, holding the GIL (no
  other thread of the process runs meanwhile);
* ``FAULT:die``: the process kills itself (SIGKILL), as a segfault or the OOM killer would;
* ``FAULT:die-once:NAME``: the same, but only the first time: a file NAME in
  ``WIRESTREAM_TEST_FAULTS_DIR`` remembers it across processes (an innocent article
  whose process is killed from outside).

The hook wraps ``nlp.analyse``, which ``agents.enrich.enrich`` looks up at each
call, so the fault happens where a hostile article would hurt: inside the NLP step.
"""

from __future__ import annotations

import mmap
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import nlp as _nlp

MARKER = re.compile(r"FAULT:([a-z-]+)(?::([\w.-]+))?")
MIB = 1 << 20
_reserve_mb = int(os.environ.get("WIRESTREAM_TEST_RESERVE_MB", "0"))
_reserved = mmap.mmap(-1, _reserve_mb * MIB) if _reserve_mb else None
_analyse = _nlp.analyse
_held: list[Any] = []


def _fault(kind: str, arg: str | None) -> None:
    if kind == "sleep":
        time.sleep(float(arg or 60))
    elif kind == "alloc":
        _held.append(bytearray(int(arg or 4096) * MIB))
    elif kind == "touch":
        assert _reserved is not None, "set WIRESTREAM_TEST_RESERVE_MB"
        for offset in range(0, min(int(arg or 0), _reserve_mb) * MIB, mmap.PAGESIZE):
            _reserved[offset] = 1
            if offset % (8 * MIB) == 0:
                time.sleep(0.005)  # about 1.6 GB/s at most: the watchdog reads every 0.1 s
        time.sleep(5)
    elif kind == "wait":
        mark = Path(os.environ["WIRESTREAM_TEST_FAULTS_DIR"]) / str(arg)
        while not mark.exists():
            time.sleep(0.05)
    elif kind == "cpu":
        end = time.process_time() + float(arg or 1)
        while time.process_time() < end:
            pass
    elif kind == "spin":
        re.match(r"(a+)+$", "a" * 64 + "!")
    elif kind == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    elif kind == "die-once":
        mark = Path(os.environ["WIRESTREAM_TEST_FAULTS_DIR"]) / str(arg)
        if not mark.exists():
            mark.touch()
            os.kill(os.getpid(), signal.SIGKILL)


def analyse(items: Any, *args: Any, **kwargs: Any) -> Any:
    for item in items:
        found = MARKER.search(item.text)
        if found:
            _fault(found.group(1), found.group(2))
            break
    return _analyse(items, *args, **kwargs)


_nlp.analyse = analyse  # type: ignore[assignment]
