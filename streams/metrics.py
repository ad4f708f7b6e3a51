"""The worker's metrics (Prometheus text format) and its health and readiness views.

One registry of our own (:data:`REGISTRY`, never prometheus-client's global one) with the
names of docs/http.md. The counting is done in the worker process, after the broker
acknowledged a batch's outputs (:func:`batch_sent`): the NLP runs in child processes
(``agents.pool``), whose counters nobody would see. Outcomes are read from the outputs
themselves: a dead letter (``wirestream.deadletter``, its ``reason.code``) is
``deadlettered``, a record on ``wirestream.enriched`` is ``enriched``, and an input that
produced neither (skipped: already committed, or a stale version) is ``dropped``.

:func:`install` adds ``GET /metrics``, ``GET /healthz`` and ``GET /readyz`` to the Faust
app's web server (``WIRESTREAM_WEB_HOST``:``WIRESTREAM_WEB_PORT``, 127.0.0.1 by default).
``/readyz`` answers 200 only once the NLP is loaded (:func:`nlp_loaded`; Faust says
"Ready" before that) and the worker holds a partition of its input.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from streams import codecs
from streams.topics import DEADLETTER, ENRICHED

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)
OUTCOMES = ("enriched", "deadlettered", "dropped")

ARTICLES = Counter(
    "wirestream_articles",
    "Input articles by outcome (enriched, deadlettered, dropped)",
    ["outcome"],
    registry=REGISTRY,
)
DEADLETTERS = Counter(
    "wirestream_deadletter",
    "Dead letters sent, by reason code",
    ["code"],
    registry=REGISTRY,
)
ROUTED = Counter(
    "wirestream_routed",
    "Enriched records sent, by output topic (wirestream.enriched included)",
    ["topic"],
    registry=REGISTRY,
)
BATCH_SECONDS = Histogram(
    "wirestream_batch_seconds",
    "NLP time per batch (s)",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120),
    registry=REGISTRY,
)
END_TO_END_SECONDS = Histogram(
    "wirestream_end_to_end_seconds",
    "From the input record's timestamp to the acknowledgement of its outputs (s)",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600),
    registry=REGISTRY,
)
NLP_RESTARTS = Counter(
    "wirestream_nlp_restarts",
    "NLP processes started again after one died or was killed",
    registry=REGISTRY,
)
for _outcome in OUTCOMES:
    ARTICLES.labels(outcome=_outcome)


class Input(Protocol):
    """What :func:`batch_sent` needs of an input message (``agents.deadletter.Received``)."""

    @property
    def timestamp(self) -> float | None: ...


#: (topic, key, value); a None value is a tombstone (issue 19's withdrawals).
Output = tuple[str, bytes | None, bytes | None]


def dead_letter_code(value: bytes) -> str:
    """The ``reason.code`` of a dead-letter record (``unknown`` if it cannot be read)."""
    try:
        return str(codecs.loads(value)["reason"]["code"])
    except (ValueError, KeyError, TypeError):
        return "unknown"


def batch_sent(
    inputs: int | Sequence[Input], outputs: Iterable[Output], *, now: float | None = None
) -> None:
    """Count a batch whose outputs the broker acknowledged: ``inputs`` are the input
    messages (or only their number, when the timestamps are not known). Tombstones are
    not counted; an input with no enriched record and no dead letter is ``dropped``."""
    enriched = deadlettered = 0
    for topic, _key, value in outputs:
        if value is None:
            continue  # a tombstone: neither enriched nor routed
        if topic == DEADLETTER:
            deadlettered += 1
            DEADLETTERS.labels(code=dead_letter_code(value)).inc()
            continue
        if topic == ENRICHED:
            enriched += 1
        ROUTED.labels(topic=topic).inc()
    count = inputs if isinstance(inputs, int) else len(inputs)
    ARTICLES.labels(outcome="enriched").inc(enriched)
    ARTICLES.labels(outcome="deadlettered").inc(deadlettered)
    ARTICLES.labels(outcome="dropped").inc(max(0, count - enriched - deadlettered))
    if not isinstance(inputs, int):
        now = time.time() if now is None else now
        for msg in inputs:
            if msg.timestamp is not None:
                END_TO_END_SECONDS.observe(max(0.0, now - msg.timestamp))


def nlp_seconds(seconds: float) -> None:
    """One batch's NLP time."""
    BATCH_SECONDS.observe(seconds)


def nlp_restarted() -> None:
    """An NLP process was started again (one had died or been killed)."""
    NLP_RESTARTS.inc()


class _State:
    nlp_ready = False
    lag: Callable[[], dict[tuple[str, int], int]] | None = None
    assigned: Callable[[], int] | None = None


state = _State()


def nlp_loaded(ready: bool = True) -> None:
    """The NLP is loaded in every NLP process (or in the worker): ready to enrich."""
    state.nlp_ready = ready


class LagCollector(Collector):
    """``wirestream_consumer_lag{topic,partition}``: the partition's high watermark minus
    the group's committed offset, for each partition the worker holds, read at scrape."""

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "wirestream_consumer_lag",
            "Input records not yet committed, per assigned partition",
            labels=["topic", "partition"],
        )
        try:
            lags = state.lag() if state.lag is not None else {}
        except Exception:  # noqa: BLE001 - a scrape never fails for the lag
            log.debug("consumer lag unavailable", exc_info=True)
            lags = {}
        for (topic, partition), lag in sorted(lags.items()):
            family.add_metric([topic, str(partition)], lag)
        yield family


REGISTRY.register(LagCollector())


def exposition() -> bytes:
    """The registry in the Prometheus text format."""
    return generate_latest(REGISTRY)


def readiness() -> list[str]:
    """Why the worker is not ready (empty: ready)."""
    reasons = []
    if not state.nlp_ready:
        reasons.append("the NLP is not loaded yet")
    try:
        assigned = state.assigned() if state.assigned is not None else 0
    except Exception:  # noqa: BLE001 - no consumer yet
        assigned = 0
    if not assigned:
        reasons.append("the worker holds no partition of its input")
    return reasons


def _faust_lag(app: Any) -> dict[tuple[str, int], int]:
    consumer = app.consumer
    lags = {}
    for tp in consumer.assignment():
        high = consumer.highwater(tp)
        if high is None:
            continue
        committed = consumer._committed_offset.get(tp)  # Faust's record of its commits
        lags[(tp.topic, tp.partition)] = max(0, int(high) - int(committed or 0))
    return lags


STARTED = time.time()


def install(app: Any) -> None:
    """Add ``/metrics``, ``/healthz`` and ``/readyz`` to the Faust app's web server and
    read the lag and the assignment from its consumer."""
    state.lag = lambda: _faust_lag(app)
    state.assigned = lambda: len(app.consumer.assignment())

    @app.page("/metrics")
    async def metrics_view(web: Any, request: Any) -> Any:
        return web.bytes(exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    @app.page("/healthz")
    async def healthz_view(web: Any, request: Any) -> Any:
        # Answering at all shows the process and its event loop are alive.
        return web.json({"status": "alive", "pid": os.getpid(), "uptime": time.time() - STARTED})

    @app.page("/readyz")
    async def readyz_view(web: Any, request: Any) -> Any:
        reasons = readiness()
        if reasons:
            return web.json({"status": "not ready", "reasons": reasons}, status=503)
        return web.json({"status": "ready"})
