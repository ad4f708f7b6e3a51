"""``enrich_articles``: raw input → validated Article → spaCy enrichment → enriched record
on ``wirestream.enriched`` and on every topic its routes name.

The agent is thin: it batches messages, runs the pure functions below in the worker's NLP
process (or a thread), sends the results and only then lets Faust acknowledge the batch
(at-least-once): a batch whose outputs were not all sent is never acknowledged, and the
worker stops so that it is delivered again. Every output's size is checked before it is
sent (``agents.outputs``). Routing here, rather than in a second agent, keeps input →
routed to one hop; ``wirestream reroute`` (``agents.reroute``) re-routes what is already
enriched.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from faust.types import EventT
from spacy.language import Language
from threadpoolctl import threadpool_limits

import nlp as wsnlp
from agents.deadletter import Received, refuse
from agents.lanes import SlowLane, cost_groups, estimated_tokens
from agents.outputs import Output, check_sizes, dead_letter_output, enriched_outputs
from agents.pool import MEMORY, NlpPool, dead_letter
from agents.routing import Routes, load_routes
from agents.versions import Known, Prepared, finish, prepare
from agents.versions import ids as versioned_ids
from nlp.components import record_fields
from schemas.records import ENRICHED_SCHEMA, Article
from schemas.validation import InvalidArticle, article_text, parse_article
from streams import __version__, metrics
from streams.app import app, settings
from streams.sinks import Sink, extra_sinks, send_to_all
from streams.sinks.kafka import KafkaSink
from streams.topics import ARTICLES, DEADLETTER, ENRICHED, RETRACTIONS, VERSIONS_TABLE
from streams.transactions import TransactionalSender

log = logging.getLogger(__name__)


def decode(
    messages: Sequence[Received], *, max_bytes: int
) -> tuple[list[tuple[Received, Article]], list[tuple[Received, dict[str, Any]]]]:
    """Split a batch into valid articles and dead-letter records (with reasons)."""
    good: list[tuple[Received, Article]] = []
    dead: list[tuple[Received, dict[str, Any]]] = []
    for msg in messages:
        try:
            good.append((msg, parse_article(msg.value, max_bytes=max_bytes)))
        except InvalidArticle as exc:
            dead.append((msg, refuse(msg, exc.code, exc.message)))
    return good, dead


def enrich(
    articles: Sequence[Article], nlp: Language, routes: Routes, *, max_chars: int, batch_size: int
) -> list[dict[str, Any]]:
    """Enriched records (JSON-ready dicts) for valid articles, in input order."""
    inputs = [wsnlp.NlpInput(article_text(a), len(a.headline), a.language) for a in articles]
    analyses = wsnlp.analyse(inputs, nlp, max_chars=max_chars, batch_size=batch_size)
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    records = []
    for article, analysis in zip(articles, analyses, strict=True):
        record: dict[str, Any] = {
            "id": article.id,
            "headline": article.headline,
            "standfirst": article.standfirst,
            "body": article.body,
            "source": article.source,
            "url": article.url,
            "published_at": article.published_at,
            # article/2 identity and version, carried through as given (enriched-article/3)
            "byline": article.byline,
            "guid": article.guid,
            "version": article.version,
            "version_created": article.version_created,
            "status": article.status,
            "provider_subjects": list(article.provider_subjects),
            "language": analysis["language"],
        }
        # The NLP's fields as nlp/components.py declares them (a new component's field
        # arrives here without an edit to this file).
        fields: Mapping[str, Any] = analysis
        record.update((name, fields[name]) for name in record_fields())
        record.update(
            routes=[], pipeline=pipeline_info(nlp), enriched_at=now, truncated=analysis["truncated"]
        )
        if analysis["limits"]:  # only when a cap applied: other records are as before
            record["limits"] = analysis["limits"]
        record["routes"] = routes.match(record)
        records.append(record)
    return records


def pipeline_info(nlp: Language) -> dict[str, str]:
    """Versions that produced a record, so consumers can tell outputs apart."""
    return {
        "schema": ENRICHED_SCHEMA,
        "wirestream": __version__,
        "model": wsnlp.MODEL_NAME,
        "model_version": wsnlp.MODEL_VERSION,
        "ner_model": wsnlp.NER_MODEL,
        "taxonomy": wsnlp.TAXONOMY_VERSION,
    }


@lru_cache(maxsize=1)
def get_nlp() -> Language:
    """The process's spaCy pipeline, loaded once, with numpy's BLAS limited to
    ``WIRESTREAM_NLP_THREADS`` threads in this process."""
    threadpool_limits(limits=settings.nlp_threads, user_api="blas")
    return wsnlp.build_nlp()


@lru_cache(maxsize=1)
def get_routes() -> Routes:
    """The routes file named by the settings, loaded once."""
    return load_routes(settings.routes)


def process_batch(messages: Sequence[Received]) -> list[Output]:
    """The whole stage as one pure-ish step: (topic, key, value) to send, in order.

    Each enriched record goes to ``wirestream.enriched`` and to every topic its routes
    name, as the same bytes. If the NLP fails on a batch, each article is retried alone
    so that only the one that fails is dead-lettered (reason ``enrichment_failed``).
    Every output fits ``WIRESTREAM_MAX_OUTPUT_BYTES``: a larger enriched record is
    shrunk, or dead-lettered (``output_too_large``); see ``agents.outputs``.
    """
    limit = settings.max_output_bytes
    good, dead = decode(messages, max_bytes=settings.max_article_bytes)
    out: list[Output] = [
        dead_letter_output(msg, r["reason"]["code"], r["reason"]["message"], max_bytes=limit)
        for msg, r in dead
    ]
    if not good:
        return out
    nlp, routes = get_nlp(), get_routes()
    options = {"max_chars": settings.max_body_chars, "batch_size": settings.batch_size}
    try:
        pairs = list(zip(good, enrich([a for _, a in good], nlp, routes, **options), strict=True))
    except MemoryError:
        raise  # over the NLP memory limit: agents.pool retries the articles alone
    except Exception:
        log.exception("enrichment failed on a batch of %d; retrying one by one", len(good))
        pairs = []
        for msg, article in good:
            try:
                pairs.append(((msg, article), enrich([article], nlp, routes, **options)[0]))
            except MemoryError:
                raise
            except Exception as exc:
                log.exception("enrichment failed for %s", article.id)
                reason = f"{type(exc).__name__}: {exc}"
                out.append(dead_letter_output(msg, "enrichment_failed", reason, max_bytes=limit))
    for (msg, _), record in pairs:
        out.extend(enriched_outputs(msg, record, max_bytes=limit))
    return out


articles_topic = app.topic(ARTICLES, key_type=bytes, value_type=bytes)
#: Where outputs go: Kafka first, then the extra sinks of ``WIRESTREAM_EXTRA_SINKS``.
extras: list[Sink] = extra_sinks(settings)
sinks: list[Sink] = [KafkaSink(app), *extras]
metrics.install(app)  # /metrics, /healthz, /readyz on the worker's web server


def received(event: EventT) -> Received:
    """Where a Faust event came from, with its raw key and value."""
    message = event.message
    return Received(
        key=message.key,
        value=message.value,
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        timestamp=message.timestamp,
    )


def warm_nlp() -> None:
    """Load the pipeline and the routes and enrich one short article: an NLP process
    measures its idle size (for its memory limit) after this, once lazy allocations
    have happened."""
    get_nlp()
    get_routes()
    sample = b'{"headline": "Talks resume", "body": "The minister met officials in Lisbon."}'
    process_batch([Received(b"warm-up", sample, ARTICLES, 0, 0, None)])


_pool: NlpPool | None = None


def nlp_pool() -> NlpPool | None:
    """The worker's NLP processes (``WIRESTREAM_NLP_PROCESSES``, made on first use, each
    under ``WIRESTREAM_NLP_DEADLINE`` and ``WIRESTREAM_NLP_MEMORY_MB``); None when it is
    0 and the NLP runs in a thread of the worker process, where nothing can bound it."""
    global _pool
    if settings.nlp_processes < 1:
        return None
    if _pool is None:
        _pool = NlpPool(
            settings.nlp_processes,
            warm_nlp,
            process_batch,
            deadline=settings.nlp_deadline,
            memory_mb=settings.nlp_memory_mb,
        )
    return _pool


def reset_nlp_pool() -> None:
    """Stop the NLP processes; the next batch starts new ones."""
    global _pool
    if _pool is not None:
        _pool.close()
        _pool = None


async def start_nlp() -> None:
    """Load the pipeline before the first batch, in every NLP process (or in this one)."""
    pool = nlp_pool()
    if pool is None:
        await asyncio.get_running_loop().run_in_executor(None, get_nlp)
    else:
        await pool.start()


def _in_thread(batch: list[Received]) -> list[Output]:
    """:func:`process_batch` in this process; a MemoryError costs the article that
    raises it alone (``enrichment_memory``), not the batch."""
    try:
        return process_batch(batch)
    except MemoryError:
        log.exception("out of memory on a batch of %d; retrying one by one", len(batch))
    out: list[Output] = []
    for msg in batch:
        try:
            out.extend(process_batch([msg]))
        except MemoryError:
            out.append(dead_letter(msg, MEMORY, "out of memory on this article alone"))
    return out


async def run_nlp(batch: list[Received]) -> list[Output]:
    """:func:`process_batch` off the event loop: in a thread, or split across the NLP
    processes. Outputs keep the input order either way. In NLP processes a batch goes in
    groups of at most ``WIRESTREAM_NLP_BATCH_TOKENS`` estimated tokens, one call each
    (``agents.lanes.cost_groups``).

    In NLP processes (``agents.pool``), an article that alone overruns the deadline or
    the memory limit, or kills its process three times, is dead-lettered
    (``enrichment_timeout``, ``enrichment_memory``, ``enrichment_failed``); the rest of
    its batch is enriched and the worker goes on.
    """
    pool = nlp_pool()
    if pool is None:
        return await asyncio.get_running_loop().run_in_executor(None, _in_thread, batch)
    tokens = [estimated_tokens(msg.value, 0) for msg in batch]
    out: list[Output] = []
    for group in cost_groups(tokens, settings.nlp_batch_tokens):
        out.extend(await pool.run(batch[group.start : group.stop]))
    return out


#: Per article id (raw key): the highest version processed, its status and the topics it
#: went to (``agents.versions.Known`` as bytes). Partitioned like the input (keyed by id,
#: same partition count, the producer's partitioner), kept in a compacted changelog topic.
#: Only with ``WIRESTREAM_VERSIONS=true`` (off by default: see docs/versions.md); without
#: it every version is enriched and routed like any article, as before the table.
versions = (
    app.Table(
        VERSIONS_TABLE,
        key_type=bytes,
        value_type=bytes,
        partitions=settings.partitions,
        use_partitioner=True,
        help="article id -> highest version processed and its topics (agents.versions)",
    )
    if settings.versions
    else None
)
#: Versions dropped because one as new or newer was processed (``agents.versions``).
dropped_versions = 0


def known(batch: Sequence[Received]) -> dict[str, Known]:
    """What the table remembers of the batch's versioned ids."""
    found: dict[str, Known] = {}
    if versions is None:
        return found
    for ident in versioned_ids(batch):
        value = Known.decode(versions.get(ident.encode()))
        if value is not None:
            found[ident] = value
    return found


async def enrich_versions(
    batch: Sequence[Received], nlp: Callable[[list[Received]], Awaitable[list[Output]]]
) -> tuple[list[Output], dict[str, Known]]:
    """The outputs of a batch with its versions applied (``agents.versions``): stale
    versions dropped, tombstones for the topics a story left, retractions for kills; and
    what to remember once they are sent (:func:`remember`)."""
    global dropped_versions
    if versions is None:
        return (await nlp(list(batch)) if batch else []), {}
    prepared: Prepared = prepare(batch, known(batch))
    outputs = await nlp(prepared.to_enrich) if prepared.to_enrich else []
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    out, updates, late = finish(
        prepared, outputs, known(batch),
        enriched=ENRICHED, deadletter=DEADLETTER, retractions=RETRACTIONS, when=now,
    )  # fmt: skip
    if prepared.dropped + late:
        dropped_versions += prepared.dropped + late
        log.info(
            "dropped %d versions not newer than the one processed (%d in all)",
            prepared.dropped + late,
            dropped_versions,
        )
    return out, updates


def remember(updates: Mapping[str, Known]) -> None:
    """Record the versions whose outputs are on the broker."""
    if versions is None:
        return
    for ident, value in updates.items():
        versions[ident.encode()] = value.encode()


_sender: TransactionalSender | None = None


async def send_outputs(outputs: Sequence[Output], batch: Sequence[Received] = ()) -> None:
    """Send every output to every sink and wait until each has delivered all of them
    (the broker acknowledged them); raise if any is over the size limit (nothing is sent
    then) or any send fails. With exactly_once, the Kafka outputs and the offsets after
    ``batch`` commit in one transaction (``streams.transactions``), then the extra sinks
    get them."""
    check_sizes(list(outputs), settings.max_output_bytes)
    if _sender is not None:
        await _sender.send(outputs, batch)
        await send_to_all(extras, outputs)
        return
    await send_to_all(sinks, outputs)


def hold(events: Sequence[EventT]) -> None:
    """Keep Faust from acknowledging ``events``: ``take_events`` acknowledges a batch's
    events when the agent asks for the next batch, and also when the agent fails (its
    ``finally``), which would commit the offsets of articles that were never sent. An
    extra reference on each message makes that acknowledgement not the last one."""
    for event in events:
        event.message.incref()


def release(events: Sequence[EventT]) -> None:
    """Undo :func:`hold` once every output of the batch is on the broker, so that Faust's
    acknowledgement of the batch is the last one and its offsets can be committed."""
    for event in events:
        event.message.decref()


async def fail_batch(events: Sequence[EventT], exc: BaseException) -> None:
    """A batch failed before all its outputs were sent (a send failed, or the NLP step
    raised): its events stay held (never acknowledged, so no offset is committed at or
    past them) and the worker stops with an error, so that a restarted worker
    (``restart: unless-stopped`` in docker-compose.yml) reads them again."""
    log.error(
        "sending the outputs of a batch of %d failed (%s: %s); its offsets stay uncommitted"
        " and the worker stops so that the batch is delivered again",
        len(events),
        type(exc).__name__,
        exc,
    )
    await app.crash(exc)


@app.agent(articles_topic)
async def enrich_articles(stream: Any) -> Any:
    """Enrich batches of raw articles; refused input goes to the dead-letter topic.

    A batch's offsets are acknowledged only after every output is on the broker; if any
    output cannot be sent, the batch is never acknowledged and the worker stops.
    """
    global _sender
    await start_nlp()
    metrics.nlp_loaded()
    if settings.guarantee == "exactly_once" and _sender is None:
        _sender = TransactionalSender(settings)
        await _sender.start()
    size = settings.batch_size * max(1, settings.nlp_processes)
    pool, threshold = nlp_pool(), settings.nlp_slow_tokens
    # The slow lane acknowledges its articles out of order; a transaction commits the
    # offsets after its whole batch, so with exactly_once every article stays in its batch.
    laned = pool is not None and threshold and _sender is None
    lane: SlowLane[EventT] = SlowLane(enrich_slow, lambda e: e.message.key)
    try:
        async for events in stream.take_events(size, within=settings.batch_wait):
            hold(events)
            if laned:
                slow = [estimated_tokens(e.message.value, threshold) > threshold for e in events]
                try:
                    events = lane.split(events, slow)
                except BaseException as exc:  # the lane failed: the worker is stopping
                    await fail_batch(events, exc)
                    raise
            try:
                batch = [received(e) for e in events]
                if _sender is not None:
                    batch = _sender.unseen(batch)  # committed already, delivered again
                began = time.monotonic()
                outputs, updates = await enrich_versions(batch, run_nlp) if batch else ([], {})
                metrics.nlp_seconds(time.monotonic() - began)
                await send_outputs(outputs, batch)
                remember(updates)
                metrics.batch_sent(batch, outputs)
                metrics.batch_sent(len(events) - len(batch), ())  # skipped: dropped
            except Exception as exc:
                await fail_batch(events, exc)
                raise
            release(events)
            await lane.wait_for_room()
            yield len(outputs)
    finally:
        await lane.close()


async def enrich_slow(event: EventT) -> None:
    """One article of the slow lane (``agents.lanes``): its NLP in the lane's process,
    its outputs sent, then its event acknowledged; the worker stops if that fails.

    The event holds two references (Faust's, which ``take_events`` drops when the agent
    takes its next batch, and :func:`hold`'s): whichever acknowledgement comes last is
    the final one, which lets Faust commit the offset."""
    pool = nlp_pool()
    assert pool is not None  # the lane is used only with NLP processes
    try:
        began, msg = time.monotonic(), received(event)
        outputs, updates = await enrich_versions([msg], pool.run_lane)
        metrics.nlp_seconds(time.monotonic() - began)
        await send_outputs(outputs)
        remember(updates)
        metrics.batch_sent([msg], outputs)
    except Exception as exc:
        await fail_batch([event], exc)
        raise
    event.ack()
