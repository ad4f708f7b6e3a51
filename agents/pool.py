"""The worker's NLP processes, each under a deadline and a memory limit.

A template process (``spawn``-ed, single-threaded) loads the pipeline once; every NLP
process is forked from it, so that it starts in about 0.1 s with the pipeline loaded
and shares the template's pages (copy-on-write). An NLP process runs ``work(batch)``
(``agents.enrich.process_batch``) for each batch the worker sends it over a pipe. The
worker waits for the answer at most ``WIRESTREAM_NLP_DEADLINE`` seconds, not counting
the time the process waited for a CPU (``/proc/PID/schedstat``: on a machine too busy
to run it, an innocent batch is not killed and its work thrown away), and at most
``WALL_DEADLINES`` deadlines of wall-clock time; past that it kills the process
(SIGKILL: spaCy's tokenizer cannot be interrupted from inside) and forks a new one. An
NLP process may grow ``WIRESTREAM_NLP_MEMORY_MB`` above the size it was forked with
(the loaded pipeline, warmed on one short article), enforced twice:

* ``RLIMIT_AS`` in the process, at its address space at fork + the limit: an allocation
  beyond it fails at once with ``MemoryError``, which the process reports for the batch
  before it exits;
* a watchdog in the worker that reads the process's resident size (``/proc/PID/statm``)
  every 0.1 s while it works and kills it past its size at fork + the limit. It catches
  what the address-space limit cannot see: address space mapped before and touched later.

A batch that overruns the deadline or the memory limit, or kills its process, is retried
one article at a time in fresh processes, so that only the article that fails alone is
dead-lettered (``enrichment_timeout``, ``enrichment_memory``, or ``enrichment_failed``
after its process died ``DEATHS_ALONE`` times on it alone: a process killed from
outside while it holds an innocent article does not cost that article). The time a
batch may take is bounded: its attempts may use ``BUDGET`` deadlines; articles are tried
alone only while a full deadline more fits in that budget, and those left are then
tried once more together, and dead-lettered together if that fails too. A batch
therefore holds the worker at most ``(BUDGET + 1)`` deadlines plus process forks
(per chunk: with ``WIRESTREAM_NLP_PROCESSES`` > 1 the chunks run side by side), on a
machine that gives it a CPU; ``WALL_DEADLINES`` times that on one that does not.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import multiprocessing
import os
import resource
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing import reduction
from multiprocessing.connection import Connection
from typing import Any

from agents.deadletter import Received
from streams import metrics

log = logging.getLogger(__name__)

Output = tuple[str, bytes | None, bytes | None]
Work = Callable[[Sequence[Received]], list[Output]]

MIB = 1 << 20
#: An attempt's deadline counts the time its process could run, not the time it waited
#: for a CPU on a busy machine (``run_delay``); this many deadlines of wall-clock time end
#: it in any case. Only an innocent, starved attempt gets that far: at 3, on this 2-core
#: machine at a load average of 32, batches of 15 seed articles had 1.8 to 2.6 s of CPU
#: time in 30 s and were dead-lettered.
WALL_DEADLINES = 10
#: A batch's attempts may take this many deadlines; see the module docstring.
BUDGET = 4
#: Times an article alone may kill its process (not by time or memory) before it is
#: dead-lettered as ``enrichment_failed``.
DEATHS_ALONE = 3
#: Seconds the template process may take to load the pipeline.
START_TIMEOUT = 180.0
#: Seconds a fork may take to answer.
FORK_TIMEOUT = 30.0
#: An attempt that takes this many seconds or more is logged (INFO).
SLOW_ATTEMPT = 1.0
#: Seconds between two reads of a working process's resident size.
WATCH_INTERVAL = 0.1
PR_SET_PDEATHSIG = 1  # linux/prctl.h

TIMEOUT, MEMORY, DIED = "enrichment_timeout", "enrichment_memory", "enrichment_failed"


@dataclass(frozen=True)
class Outcome:
    """What one attempt gave: outputs, or why there are none (``failure`` is a
    dead-letter code) with a one-line explanation; and the seconds it took."""

    outputs: list[Output] | None = None
    failure: str | None = None
    detail: str = ""
    seconds: float = 0.0


# --- the template and the NLP processes it forks ---------------------------------------


def _vm_and_rss() -> tuple[int, int]:
    """This process's address space and resident size in bytes (0, 0 without /proc)."""
    try:
        with open("/proc/self/statm") as statm:
            size, resident = statm.read().split()[:2]
    except OSError:
        return 0, 0
    page = os.sysconf("SC_PAGE_SIZE")
    return int(size) * page, int(resident) * page


def run_delay(pid: int) -> float:
    """Seconds the main thread of ``pid`` has spent runnable but waiting for a CPU
    (``/proc/PID/schedstat``; 0 where the kernel does not keep it)."""
    try:
        with open(f"/proc/{pid}/schedstat") as schedstat:
            return int(schedstat.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


def _trim_heap() -> None:
    """Give freed heap memory back to the system (glibc), so that the resident size
    the worker watches falls back after a large article."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _template_main(
    control: Connection, parent: int, init: Callable[[], None], work: Work, memory_mb: int
) -> None:
    """Body of the template process: Ctrl-C is the worker's to handle; ``init`` loads
    and warms the pipeline; then each request on ``control`` forks an NLP process,
    whose pid and pipe end go back to the worker. Single-threaded, so that forking is
    safe; it exits when the worker (pid ``parent``, passed by the worker: read here it
    could already be whoever adopted the orphan) is gone, even after ``kill -9``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the NLP processes
    loaded = threading.Event()

    def exit_if_orphaned_while_loading() -> None:
        while not loaded.wait(0.5):
            if os.getppid() != parent:
                os._exit(0)

    watch = threading.Thread(target=exit_if_orphaned_while_loading, name="orphan-watch")
    watch.start()
    init()
    loaded.set()
    watch.join()  # single-threaded from here on: forking is safe
    _trim_heap()
    gc.collect()
    gc.freeze()  # objects the forks share: the collector never writes to their pages
    control.send(("ready", os.getpid()))
    while os.getppid() == parent:
        try:
            if not control.poll(1.0):
                continue
            control.recv()
        except (EOFError, OSError):
            break
        ours, theirs = multiprocessing.Pipe()
        pid = os.fork()
        if pid == 0:
            control.close()
            theirs.close()
            _serve(ours, os.getppid(), work, memory_mb)  # never returns
        ours.close()
        control.send(pid)
        reduction.send_handle(control, theirs.fileno(), parent)
        theirs.close()
    os._exit(0)


def _serve(conn: Connection, template: int, work: Work, memory_mb: int) -> None:
    """Body of a forked NLP process: it exits when its template is gone or the worker
    closes the pipe; the memory limit is set from the size it was forked with; each
    batch received is answered with ``("ok", outputs, resident bytes)``, ``("memory",
    message)`` (then it exits) or ``("error", message)``."""

    def exit_when_orphaned() -> None:
        while os.getppid() == template:
            time.sleep(1.0)
        os._exit(0)

    try:
        # Killed with the template, even while a C loop holds the GIL (Linux; the template
        # forks from its only thread, whose end is the template's end).
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != template:
            os._exit(0)
        threading.Thread(target=exit_when_orphaned, name="orphan-watch", daemon=True).start()
        idle_vm, idle_rss = _vm_and_rss()
        if memory_mb and idle_vm:
            hard = resource.getrlimit(resource.RLIMIT_AS)[1]
            with contextlib.suppress(ValueError, OSError):  # e.g. a lower hard limit
                resource.setrlimit(resource.RLIMIT_AS, (idle_vm + memory_mb * MIB, hard))
        conn.send(("ready", idle_vm, idle_rss))
        while True:
            batch = conn.recv()
            try:
                reply: tuple[Any, ...] = ("ok", work(batch))
            except MemoryError:
                conn.send(("memory", f"over the NLP memory limit ({memory_mb} MB above idle)"))
                break
            except Exception as exc:  # work() dead-letters what it can; the rest is a bug
                reply = ("error", f"{type(exc).__name__}: {exc}")
            del batch
            if _vm_and_rss()[1] > idle_rss + 32 * MIB:
                _trim_heap()
            conn.send((*reply, _vm_and_rss()[1]))
            del reply
    finally:
        os._exit(0)


class NlpTemplate:
    """The template process (``spawn``-ed: never fork a process that has threads, as
    the worker does), seen from the worker."""

    def __init__(self, init: Callable[[], None], work: Work, *, memory_mb: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.control, child_end = context.Pipe()
        self.lock = threading.Lock()
        self.process = context.Process(
            target=_template_main,
            args=(child_end, os.getpid(), init, work, memory_mb),
            name="nlp-template",
            daemon=True,
        )
        self.process.start()
        child_end.close()
        self.memory_mb = memory_mb

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Block until the template has loaded the pipeline (RuntimeError if it cannot)."""
        with contextlib.suppress(EOFError, OSError):
            if self.control.poll(timeout):
                self.control.recv()
                return
        self.kill()
        raise RuntimeError(
            f"the NLP template process did not start within {timeout:.0f} s"
            f" (exit status {self.process.exitcode})"
        )

    def fork(self) -> NlpProcess:
        """A new NLP process (OSError or EOFError when the template is gone)."""
        with self.lock:
            self.control.send("fork")
            if not self.control.poll(FORK_TIMEOUT):
                raise OSError(f"the NLP template did not fork within {FORK_TIMEOUT:.0f} s")
            pid = self.control.recv()
            fd = reduction.recv_handle(self.control)
        return NlpProcess(pid, Connection(fd), self.process.pid or 0, self.memory_mb)

    def alive(self) -> bool:
        return self.process.is_alive()

    def kill(self) -> None:
        if self.process.is_alive():
            with contextlib.suppress(OSError):
                self.process.kill()
        self.process.join(timeout=10)
        self.control.close()


class NlpProcess:
    """One forked NLP process and the worker's end of its pipe."""

    def __init__(self, pid: int, conn: Connection, template: int, memory_mb: int) -> None:
        self.pid, self.conn, self.template, self.memory_mb = pid, conn, template, memory_mb
        self.idle_rss = 0
        self.ready = False
        self.dead = False

    def wait_ready(self, timeout: float = FORK_TIMEOUT) -> None:
        """Block until the process answers (OSError if it does not)."""
        with contextlib.suppress(EOFError, OSError):
            if self.conn.poll(timeout):
                _, _, self.idle_rss = self.conn.recv()
                self.ready = True
                return
        self.kill()
        raise OSError(f"the NLP process {self.pid} did not start within {timeout:.0f} s")

    def resident(self) -> int:
        """The process's resident size in bytes (0 when it cannot be read)."""
        try:
            with open(f"/proc/{self.pid}/statm") as statm:
                return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            return 0

    def run(self, batch: Sequence[Received], deadline: float) -> Outcome:
        """Send ``batch`` and wait for its outputs at most ``deadline`` seconds, watching
        the process's memory; the process is killed on a timeout or over the limit, and
        replaced after one that left its heap large (blocking: call it from a thread)."""
        began = time.monotonic()
        waited = run_delay(self.pid)
        try:
            self.conn.send(list(batch))
        except (OSError, ValueError):
            return self._died(began)
        hard_end = began + WALL_DEADLINES * deadline
        limit = self.idle_rss + self.memory_mb * MIB if self.memory_mb and self.idle_rss else 0
        while True:
            now = time.monotonic()
            # Time the process could run: not the time it waited for a CPU.
            used = now - began - max(0.0, run_delay(self.pid) - waited)
            if used >= deadline or now >= hard_end:
                self.kill()
                detail = f"the NLP took over {deadline:g} s"
                if used < deadline:
                    detail = (
                        f"the NLP took over {WALL_DEADLINES * deadline:g} s of wall-clock time"
                        f" ({used:.1f} s without its waits for a CPU)"
                    )
                return Outcome(failure=TIMEOUT, detail=detail, seconds=now - began)
            if self.conn.poll(min(deadline - used, hard_end - now, WATCH_INTERVAL)):
                break
            if limit and (rss := self.resident()) > limit:
                self.kill()
                return Outcome(
                    failure=MEMORY,
                    detail=f"the NLP process grew to {rss // MIB} MB, over its limit"
                    f" ({self.memory_mb} MB above idle)",
                    seconds=time.monotonic() - began,
                )
        try:
            kind, value, *rest = self.conn.recv()
        except (EOFError, OSError):
            return self._died(began)
        seconds = time.monotonic() - began
        if kind == "memory":
            self.kill()
            return Outcome(failure=MEMORY, detail=value, seconds=seconds)
        if rest and limit and rest[0] > self.idle_rss + self.memory_mb * MIB // 2:
            self.kill()  # what it kept would eat the next batch's share: a fresh one next
        if kind == "ok":
            return Outcome(outputs=value, seconds=seconds)
        return Outcome(failure=DIED, detail=value, seconds=seconds)  # an exception

    def _died(self, began: float) -> Outcome:
        self.kill()
        return Outcome(
            failure=DIED, detail="the NLP process died", seconds=time.monotonic() - began
        )

    def alive(self) -> bool:
        return self.ready and not self.dead

    def kill(self) -> None:
        """SIGKILL the process (idempotent; only while it is still the template's child,
        so that a reused pid is never hit)."""
        if not self.dead:
            self.dead = True
            try:
                with open(f"/proc/{self.pid}/stat") as stat:
                    ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                ppid = -1
            if ppid == self.template:
                with contextlib.suppress(OSError):
                    os.kill(self.pid, signal.SIGKILL)
            self.conn.close()


# --- the worker's processes and the retry policy ---------------------------------------


class NlpPool:
    """``processes`` NLP processes under a per-attempt ``deadline`` (s) and a memory
    limit of ``memory_mb`` above their size at fork (0: none). The template starts on
    first use (and again if it dies); NLP processes are forked on first use and after
    every failure; a batch is split into contiguous chunks (key order kept), one per
    process. One more process, forked on first use, is the slow lane's
    (:meth:`run_lane`, ``agents.lanes``): it works beside the others."""

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
        self.processes = processes
        #: The batch processes, then the slow lane's.
        self.slots: list[NlpProcess | None] = [None] * (processes + 1)
        self.template: NlpTemplate | None = None
        self.lock = threading.Lock()
        #: Seconds each NLP process took from the fork request to ready, in order.
        self.starts: list[float] = []

    def _template(self) -> NlpTemplate:
        with self.lock:
            if self.template is None or not self.template.alive():
                if self.template is not None:
                    log.error("the NLP template process died; starting a new one")
                    self.template.kill()
                began = time.monotonic()
                self.template = NlpTemplate(self.init, self.work, memory_mb=self.memory_mb)
                self.template.wait_ready()
                log.info(
                    "NLP template process %s ready in %.1f s",
                    self.template.process.pid,
                    time.monotonic() - began,
                )
            return self.template

    def _process(self, slot: int) -> NlpProcess:
        """The live process of ``slot``, forked if needed (blocking)."""
        current = self.slots[slot]
        if current is not None and current.alive():
            return current
        if current is not None:
            current.kill()
            if slot < self.processes:  # the slow lane's process is stopped after each use
                metrics.nlp_restarted()
        began = time.monotonic()
        try:
            fresh = self._template().fork()
            fresh.wait_ready()
        except (EOFError, OSError):  # once more, with a new template if it is gone
            log.exception("could not fork an NLP process; trying again")
            if self.template is not None and not self.template.alive():
                self.template.kill()
            fresh = self._template().fork()
            fresh.wait_ready()
        self.slots[slot] = fresh
        self.starts.append(time.monotonic() - began)
        log.debug("NLP process %s ready in %.2f s", fresh.pid, self.starts[-1])
        return fresh

    async def start(self) -> None:
        """Start the template and every NLP process; wait until each is ready."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._template)
        await asyncio.gather(
            *(loop.run_in_executor(None, self._process, i) for i in range(self.processes))
        )

    def close(self) -> None:
        for process in self.slots:
            if process is not None:
                process.kill()
        self.slots = [None] * len(self.slots)
        if self.template is not None:
            self.template.kill()
            self.template = None

    def pids(self) -> list[int]:
        """Pids of the live NLP processes (not the template's)."""
        return [p.pid for p in self.slots if p is not None and p.alive()]

    async def _attempt(self, slot: int, batch: Sequence[Received], deadline: float) -> Outcome:
        loop = asyncio.get_running_loop()

        def attempt() -> Outcome:
            return self._process(slot).run(batch, deadline)

        outcome = await loop.run_in_executor(None, attempt)
        if outcome.seconds >= SLOW_ATTEMPT or outcome.failure:
            log.info(
                "NLP %s: %d article(s) in %.2f s%s",
                "slow lane" if slot == self.processes else f"process {slot}",
                len(batch),
                outcome.seconds,
                f" ({outcome.failure})" if outcome.failure else "",
            )
        return outcome

    async def run(self, batch: Sequence[Received]) -> list[Output]:
        """Outputs for ``batch`` in input order; see the module docstring for failures."""
        step = -(-len(batch) // self.processes)  # contiguous chunks keep key order
        chunks = [batch[i : i + step] for i in range(0, len(batch), step)]
        parts = await asyncio.gather(*(self._run_chunk(i, c) for i, c in enumerate(chunks)))
        return [out for part in parts for out in part]

    async def run_lane(self, batch: Sequence[Received]) -> list[Output]:
        """Outputs for ``batch`` in the slow lane's process (under the same deadline,
        memory limit and retries), which may work while :meth:`run` does. The process is
        stopped afterwards (slow articles are rare; a fork takes about 0.1 s), so that
        what it kept of a large article does not count against the worker's memory."""
        try:
            return await self._run_chunk(self.processes, batch)
        finally:
            lane = self.slots[self.processes]
            if lane is not None:
                lane.kill()

    async def _run_chunk(self, slot: int, chunk: Sequence[Received]) -> list[Output]:
        spent = [0.0]  # seconds of NLP attempts on this chunk so far
        if len(chunk) > 1:
            first = await self._attempt(slot, chunk, self.deadline)
            if first.outputs is not None:
                return first.outputs
            spent[0] += first.seconds
            log.error(
                "NLP failed on a batch of %d (%s: %s); retrying one by one",
                len(chunk),
                first.failure,
                first.detail,
            )
        out: list[Output] = []
        for i, msg in enumerate(chunk):
            rest = chunk[i:]
            if len(rest) > 1 and spent[0] + self.deadline > BUDGET * self.deadline:
                out.extend(await self._together(slot, rest, spent[0]))
                break
            out.extend(await self._alone(slot, msg, spent))
        return out

    async def _alone(self, slot: int, msg: Received, spent: list[float]) -> list[Output]:
        """Outputs for one article tried alone: its records, or its dead letter. Adds
        the attempts' seconds to ``spent[0]``."""
        deaths = 0
        while True:
            outcome = await self._attempt(slot, [msg], self.deadline)
            spent[0] += outcome.seconds
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
    """The dead-letter output for ``msg``, within the output size limit."""
    from agents.outputs import dead_letter_output
    from streams.settings import get_settings

    return dead_letter_output(msg, code, detail, max_bytes=get_settings().max_output_bytes)
