"""The worker's NLP processes, each under a deadline and a memory limit.

Each NLP process is a ``spawn``-ed child that loads the pipeline once, then runs
``work(batch)`` (``agents.enrich.process_batch``) for every batch the worker sends it
over a pipe. The worker waits for the answer at most ``WIRESTREAM_NLP_DEADLINE``
seconds; past that it kills the child (SIGKILL: spaCy's tokenizer cannot be interrupted
from inside) and starts a new one. The child may grow ``WIRESTREAM_NLP_MEMORY_MB``
above its idle size (measured after loading the pipeline and enriching one short
article), enforced twice:

* ``RLIMIT_AS`` in the child, at its idle address space + the limit: an allocation
  beyond it fails at once with ``MemoryError``, which the child reports for the batch
  before it exits (a fresh child takes the next attempt);
* a watchdog in the worker that reads the child's resident size (``/proc/PID/statm``)
  every 0.1 s while it works and kills it past idle + the limit. It catches what the
  address-space limit cannot see: address space reserved while idle and touched later.

A batch that overruns the deadline, the memory limit, or kills its process, is retried
one article at a time in a fresh process, so that only the article that fails alone is
dead-lettered (``enrichment_timeout``, ``enrichment_memory``, or ``enrichment_failed``
after its process died ``DEATHS_ALONE`` times on it alone: a process killed from
outside while it holds an innocent article does not cost that article). The time a
batch may take is bounded: articles are tried alone only while the batch's time, with
that attempt's full deadline, stays within ``BUDGET`` deadlines; the rest are then
tried once more together, and dead-lettered together if that fails too. A batch
therefore holds the worker at most ``(BUDGET + 1) x deadline`` plus two process starts
(each chunk, when ``WIRESTREAM_NLP_PROCESSES`` > 1: they run side by side).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import os
import resource
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from agents.deadletter import Received, refuse
from streams import codecs
from streams.topics import DEADLETTER

log = logging.getLogger(__name__)

Output = tuple[str, bytes | None, bytes]
Work = Callable[[Sequence[Received]], list[Output]]

MIB = 1 << 20
#: A batch's attempts may take this many deadlines; see the module docstring.
BUDGET = 4
#: Times an article alone may kill its process (not by time or memory) before it is
#: dead-lettered as ``enrichment_failed``.
DEATHS_ALONE = 3
#: Seconds a new NLP process may take to load the pipeline.
START_TIMEOUT = 180.0
#: Seconds between two reads of a working child's resident size.
WATCH_INTERVAL = 0.1
#: Exit status of a child whose ``MemoryError`` could not even be reported.
MEMORY_EXIT = 86

TIMEOUT, MEMORY, DIED = "enrichment_timeout", "enrichment_memory", "enrichment_failed"


@dataclass(frozen=True)
class Outcome:
    """What one attempt gave: outputs, or why there are none (``failure`` is a
    dead-letter code) with a one-line explanation."""

    outputs: list[Output] | None = None
    failure: str | None = None
    detail: str = ""


# --- the child ------------------------------------------------------------------------


def _vm_and_rss() -> tuple[int, int]:
    """This process's address space and resident size in bytes (0, 0 without /proc)."""
    try:
        with open("/proc/self/statm") as statm:
            size, resident = statm.read().split()[:2]
    except OSError:
        return 0, 0
    page = os.sysconf("SC_PAGE_SIZE")
    return int(size) * page, int(resident) * page


def _trim_heap() -> None:
    """Give freed heap memory back to the system (glibc), so that the resident size
    the worker watches falls back after a large article."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _child_main(
    conn: Connection, parent: int, init: Callable[[], None], work: Work, memory_mb: int
) -> None:
    """Body of an NLP process: Ctrl-C is the worker's to handle, the process exits when
    the worker (pid ``parent``) is gone (even after ``kill -9``) or closes the pipe;
    ``init`` loads and warms the pipeline, then the memory limit is set from the idle
    size and each batch received is answered with ``("ok", outputs)``, ``("memory",
    message)`` (then the process exits) or ``("error", message)``. The worker's pid
    comes from the worker: read here, it could already be that of whoever adopted the
    orphan."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def exit_when_orphaned() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=exit_when_orphaned, name="orphan-watch", daemon=True).start()
    init()
    _trim_heap()
    idle_vm, idle_rss = _vm_and_rss()
    if memory_mb and idle_vm:
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        with contextlib.suppress(ValueError, OSError):  # e.g. a lower hard limit
            resource.setrlimit(resource.RLIMIT_AS, (idle_vm + memory_mb * MIB, hard))
    conn.send(("ready", idle_vm, idle_rss))
    while True:
        try:
            batch = conn.recv()
        except (EOFError, OSError):
            os._exit(0)
        try:
            reply: tuple[str, Any] = ("ok", work(batch))
        except MemoryError as exc:
            del exc
            try:
                conn.send(("memory", f"over the NLP memory limit ({memory_mb} MB above idle)"))
            finally:
                os._exit(MEMORY_EXIT)
        except Exception as exc:  # work() dead-letters what it can; anything else is a bug
            reply = ("error", f"{type(exc).__name__}: {exc}")
        try:
            conn.send(reply)
        except MemoryError:
            os._exit(MEMORY_EXIT)
        del reply
        if _vm_and_rss()[1] > idle_rss + 32 * MIB:
            _trim_heap()


# --- one child, seen from the worker ---------------------------------------------------


class NlpProcess:
    """One NLP child process and the worker's end of its pipe."""

    def __init__(
        self, init: Callable[[], None], work: Work, *, memory_mb: int, name: str = "nlp"
    ) -> None:
        context = multiprocessing.get_context("spawn")  # never fork a process that has threads
        self.conn, child_end = context.Pipe()
        self.memory_mb = memory_mb
        self.process = context.Process(
            target=_child_main,
            args=(child_end, os.getpid(), init, work, memory_mb),
            name=name,
            daemon=True,
        )
        self.process.start()
        child_end.close()
        self.idle_rss = 0
        self.ready = False

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Block until the child has loaded the pipeline (RuntimeError if it cannot)."""
        try:
            if self.conn.poll(timeout):
                _, _, self.idle_rss = self.conn.recv()
                self.ready = True
                return
        except (EOFError, OSError):
            pass
        self.kill()
        raise RuntimeError(
            f"the NLP process did not start within {timeout:.0f} s"
            f" (exit status {self.process.exitcode})"
        )

    def resident(self) -> int:
        """The child's resident size in bytes (0 when it cannot be read)."""
        try:
            with open(f"/proc/{self.pid}/statm") as statm:
                return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            return 0

    def run(self, batch: Sequence[Received], deadline: float) -> Outcome:
        """Send ``batch`` and wait for its outputs at most ``deadline`` seconds, watching
        the child's memory; the child is killed on any failure (blocking: call it from
        a thread)."""
        try:
            self.conn.send(list(batch))
        except (OSError, ValueError):
            return self._died()
        end = time.monotonic() + deadline
        limit = self.idle_rss + self.memory_mb * MIB if self.memory_mb and self.idle_rss else 0
        while True:
            remaining = end - time.monotonic()
            if remaining <= 0:
                self.kill()
                return Outcome(failure=TIMEOUT, detail=f"the NLP took over {deadline:g} s")
            if self.conn.poll(min(remaining, WATCH_INTERVAL)):
                break
            if limit and (rss := self.resident()) > limit:
                self.kill()
                return Outcome(
                    failure=MEMORY,
                    detail=f"the NLP process grew to {rss // MIB} MB, over its limit"
                    f" ({self.memory_mb} MB above idle)",
                )
        try:
            kind, value = self.conn.recv()
        except (EOFError, OSError):
            return self._died()
        if kind == "ok":
            return Outcome(outputs=value)
        if kind == "memory":
            self.kill()
            return Outcome(failure=MEMORY, detail=value)
        return Outcome(failure=DIED, detail=value)  # an exception: the child carries on

    def _died(self) -> Outcome:
        self.process.join(timeout=5)
        code = self.process.exitcode
        self.kill()
        if code == MEMORY_EXIT:
            return Outcome(
                failure=MEMORY, detail=f"over the NLP memory limit ({self.memory_mb} MB above idle)"
            )
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit {code}"
        return Outcome(failure=DIED, detail=f"the NLP process died ({how})")

    def alive(self) -> bool:
        return self.process.is_alive()

    def kill(self) -> None:
        """SIGKILL the child and reap it (idempotent)."""
        if self.process.is_alive():
            with contextlib.suppress(OSError):
                self.process.kill()
        self.process.join(timeout=10)
        self.conn.close()
        self.ready = False


# --- the worker's processes and the retry policy ---------------------------------------


class NlpPool:
    """``processes`` NLP processes under a per-attempt ``deadline`` (s) and a memory
    limit of ``memory_mb`` above their idle size (0: none). Processes start on first use
    and after every failure; a batch is split into contiguous chunks (key order kept),
    one per process."""

    def __init__(
        self,
        processes: int,
        init: Callable[[], None],
        work: Work,
        *,
        deadline: float,
        memory_mb: int,
    ) -> None:
        self.init, self.work = init, work
        self.deadline, self.memory_mb = deadline, memory_mb
        self.slots: list[NlpProcess | None] = [None] * processes
        #: Seconds each process start took, first starts included, in order.
        self.starts: list[float] = []

    def _process(self, slot: int) -> NlpProcess:
        """The live process of ``slot``, started if needed (blocking)."""
        current = self.slots[slot]
        if current is not None and current.ready and current.alive():
            return current
        if current is not None:
            current.kill()
        began = time.monotonic()
        fresh = NlpProcess(self.init, self.work, memory_mb=self.memory_mb, name=f"nlp-{slot}")
        self.slots[slot] = fresh
        fresh.wait_ready()
        self.starts.append(time.monotonic() - began)
        log.info("NLP process %s ready in %.1f s", fresh.pid, self.starts[-1])
        return fresh

    async def start(self) -> None:
        """Start every process and wait until each has loaded the pipeline."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(loop.run_in_executor(None, self._process, i) for i in range(len(self.slots)))
        )

    def close(self) -> None:
        for process in self.slots:
            if process is not None:
                process.kill()
        self.slots = [None] * len(self.slots)

    def pids(self) -> list[int]:
        return [p.pid for p in self.slots if p is not None and p.pid is not None and p.alive()]

    async def _attempt(self, slot: int, batch: Sequence[Received], deadline: float) -> Outcome:
        loop = asyncio.get_running_loop()

        def attempt() -> Outcome:
            return self._process(slot).run(batch, deadline)

        return await loop.run_in_executor(None, attempt)

    async def run(self, batch: Sequence[Received]) -> list[Output]:
        """Outputs for ``batch`` in input order; see the module docstring for failures."""
        step = -(-len(batch) // len(self.slots))  # contiguous chunks keep key order
        chunks = [batch[i : i + step] for i in range(0, len(batch), step)]
        parts = await asyncio.gather(*(self._run_chunk(i, c) for i, c in enumerate(chunks)))
        return [out for part in parts for out in part]

    async def _run_chunk(self, slot: int, chunk: Sequence[Received]) -> list[Output]:
        started = time.monotonic()
        if len(chunk) > 1:
            first = await self._attempt(slot, chunk, self.deadline)
            if first.outputs is not None:
                return first.outputs
            log.error(
                "NLP failed on a batch of %d (%s: %s); retrying one by one",
                len(chunk),
                first.failure,
                first.detail,
            )
        out: list[Output] = []
        for i, msg in enumerate(chunk):
            spent = time.monotonic() - started
            rest = chunk[i:]
            if len(rest) > 1 and spent + self.deadline > BUDGET * self.deadline:
                out.extend(await self._together(slot, rest, spent))
                break
            out.extend(await self._alone(slot, msg))
        return out

    async def _alone(self, slot: int, msg: Received) -> list[Output]:
        """Outputs for one article tried alone: its records, or its dead letter."""
        deaths = 0
        while True:
            outcome = await self._attempt(slot, [msg], self.deadline)
            if outcome.outputs is not None:
                return outcome.outputs
            where = f"{msg.topic}/{msg.partition}@{msg.offset}"
            if outcome.failure == DIED:
                deaths += 1
                if deaths < DEATHS_ALONE:
                    log.warning("%s on %s alone; trying it again", outcome.detail, where)
                    continue
                detail = f"{outcome.detail}: {deaths} times on this article alone"
            else:
                detail = f"{outcome.detail} on this article alone"
            log.error("dead-lettered %s: %s (%s)", where, outcome.failure, detail)
            return [dead_letter(msg, outcome.failure or DIED, detail)]

    async def _together(self, slot: int, rest: Sequence[Received], spent: float) -> list[Output]:
        """The articles left when the batch's time is spent, tried once more together."""
        outcome = await self._attempt(slot, rest, self.deadline)
        if outcome.outputs is not None:
            return outcome.outputs
        detail = (
            f"{outcome.detail} on the {len(rest)} articles left of a batch that had spent"
            f" {spent:.0f} s of its {BUDGET * self.deadline:g} s of NLP time;"
            " not tried alone"
        )
        log.error("dead-lettered %d articles: %s (%s)", len(rest), outcome.failure, detail)
        return [dead_letter(msg, outcome.failure or DIED, detail) for msg in rest]


def dead_letter(msg: Received, code: str, detail: str) -> Output:
    """The dead-letter output for ``msg``."""
    return (DEADLETTER, msg.key, codecs.dumps(refuse(msg, code, detail)))
