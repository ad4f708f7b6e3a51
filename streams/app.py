"""The Faust app: broker, codec, web server bound to localhost, group settings.

Agents live in ``agents/`` and register themselves on :data:`app` when imported
(``wirestream worker`` imports them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import faust
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.errors import UnknownMemberIdError
from faust.transport.drivers import aiokafka as _driver

from streams import codecs  # noqa: F401  (registers the orjson codec)
from streams.metadata import CLIENT_ID_PREFIX, forbid_topic_auto_creation
from streams.settings import Settings, get_settings

log = logging.getLogger(__name__)

#: What the producer accepts on top of ``WIRESTREAM_MAX_OUTPUT_BYTES`` (key + value):
#: the record's framing (batch header, lengths, headers) is far smaller than this.
RECORD_OVERHEAD = 16_384


def _credentials(settings: Settings) -> Any:
    """Faust broker credentials for TLS and SASL, or None for plaintext."""
    protocol = settings.security_protocol
    ssl_context = None
    if protocol in ("SSL", "SASL_SSL"):
        from aiokafka.helpers import create_ssl_context

        ssl_context = create_ssl_context(
            cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None
        )
        if protocol == "SSL":
            return faust.SSLCredentials(ssl_context)
    if protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=settings.sasl_username,
            password=settings.sasl_password.get_secret_value(),
            mechanism=settings.sasl_mechanism,
            ssl_context=ssl_context,
        )
    return None


def _replace_once(owner: Any, name: str, make: Callable[[Any], Any]) -> None:
    """Replace ``owner.<name>`` by ``make(original)``, once per process (the app module may
    be imported again, and a second wrapper would wrap the first). Two different patches
    (``make`` functions) of one method wrap each other."""
    original = getattr(owner, name)
    applied: frozenset[str] = getattr(original, "wirestream_patches", frozenset())
    if make.__qualname__ in applied:
        return
    replacement = make(original)
    replacement.wirestream_patched = True
    replacement.wirestream_patches = applied | {make.__qualname__}
    setattr(owner, name, replacement)


#: The fetch wait (s) on Tansu unless WIRESTREAM_FETCH_MAX_WAIT says otherwise.
TANSU_FETCH_MAX_WAIT = 0.05
#: The fetch wait (ms) the worker's consumer asks for; None keeps Faust's 1.5 s. Set by
#: :func:`configure_for_broker` (by default on Tansu only).
_fetch_max_wait_ms: int | None = None


def _bounded_fetch_wait() -> None:
    """Make Faust's consumer ask the broker to answer fetches within ``_fetch_max_wait_ms``
    (when set: on the embedded Tansu broker only).

    Faust hard-codes ``fetch_max_wait_ms=1500`` and the embedded broker holds a fetch
    for the whole wait even when data arrives (measured: a record produced 0.3 s into a
    1 s wait is returned at 1 s), which adds up to that wait to each article's latency.
    Apache Kafka answers as soon as data arrives (tests/integration/test_broker_quirks.py
    on both engines), so there a short wait would only mean more fetches while idle, and
    Faust's wait stays. The value is set on the consumer before it starts.
    """

    def wrap(create: Any) -> Any:
        def create_worker_consumer(self: Any, transport: Any) -> Any:
            consumer = create(self, transport)
            if _fetch_max_wait_ms is not None:
                consumer._fetch_max_wait_ms = _fetch_max_wait_ms
            return consumer

        return create_worker_consumer

    _replace_once(_driver.AIOKafkaConsumerThread, "_create_worker_consumer", wrap)


def _commit_only_as_a_group_member() -> None:
    """Make the group consumer refuse to commit offsets while it is not a group member.

    When a heartbeat fails, aiokafka resets the member id and generation and rejoins.
    A commit sent in between goes out with no member and generation -1, which a broker
    stores when the group is empty, as it is on a broker that restarted with no state.
    The records that worker fetched from its old positions then set the committed
    offsets of the new log, and after the rejoin it skips that log's first records
    (seen in the broker-outage soak test, tests/soak/test_outage.py). Refused, the
    commit fails as one after a rebalance does; Faust skips it and the records are read
    again after the rejoin (at-least-once). The check runs right before the request is
    built, so a reset cannot slip in between.
    """

    def wrap(do_commit: Any) -> Any:
        async def member_commit(self: Any, assignment: Any, offsets: Any) -> None:
            if offsets and self._subscription.subscription is not None and not self.member_id:
                log.info(
                    "Commit refused while rejoining group %s: %d offsets",
                    self.group_id,
                    len(offsets),
                )
                raise UnknownMemberIdError("not a group member (rejoining); commit refused")
            await do_commit(self, assignment, offsets)

        return member_commit

    _replace_once(GroupCoordinator, "_do_commit_offsets", wrap)


async def seek_to_committed_or_beginning(consumer: Any) -> dict[Any, int | None]:
    """Seek each assigned partition to its committed offset, and those with none (or 0)
    to the beginning; return the committed offsets (None where there is none).

    aiokafka's ``seek_to_committed`` only moves partitions whose committed offset is
    above 0 and leaves the others where the fetcher got to. Faust relies on it to rewind
    after it throws records away: records fetched while the flow is paused for a
    rebalance are dropped ("getmany called while flow not active"), then it seeks back
    to the committed offsets. For a partition with no commit yet that seek did nothing,
    so the dropped records were never read again (a worker that rejoined after the
    embedded broker restarted empty enriched nothing, in 3 of 49 runs of the outage
    soak test; tests/soak/test_outage.py now forces that race). Going back to the
    beginning is what ``auto_offset_reset="earliest"`` (this app's setting) does for a
    partition with no commit.
    """
    committed: dict[Any, int | None] = await consumer.seek_to_committed()
    fresh = [tp for tp, offset in committed.items() if not offset]
    if fresh:
        await consumer.seek_to_beginning(*fresh)
    return committed


def _rewind_partitions_without_commits() -> None:
    """Make Faust's consumer use :func:`seek_to_committed_or_beginning`."""

    def wrap(_: Any) -> Any:
        async def seek_to_committed(self: Any) -> Any:
            return await self.call_thread(seek_to_committed_or_beginning, self._ensure_consumer())

        return seek_to_committed

    _replace_once(_driver.AIOKafkaConsumerThread, "seek_to_committed", wrap)


#: True with WIRESTREAM_GUARANTEE=exactly_once: input offsets are committed only inside the
#: worker's transactions (streams/transactions.py); set by :func:`configure_for_broker`.
_transactional_offsets = False


def _offsets_only_in_transactions() -> None:
    """With exactly_once, make Faust's consumer skip its own offset commits (periodic,
    on rebalance, at stop) and read its input with ``isolation_level=read_committed``.

    The offsets are committed in each batch's transaction (streams/transactions.py);
    a plain commit of Faust's besides them could land after a transaction's and move the
    group's offset back (records read twice). Faust still tracks acknowledged offsets;
    the skipped commit is recorded as done, so its bookkeeping and its "not committed
    in a while" check behave as after a real commit.
    """

    def wrap_commit(commit: Any) -> Any:
        async def transactional_commit(self: Any, offsets: Any) -> bool:
            if not _transactional_offsets:
                return bool(await commit(self, offsets))
            now = _driver.monotonic()
            self.tp_last_committed_at.update({tp: now for tp in offsets})
            return True

        return transactional_commit

    def wrap_create(create: Any) -> Any:
        def create_worker_consumer(self: Any, transport: Any) -> Any:
            consumer = create(self, transport)
            if _transactional_offsets:
                consumer._isolation_level = "read_committed"
            return consumer

        return create_worker_consumer

    _replace_once(_driver.AIOKafkaConsumerThread, "_commit", wrap_commit)
    _replace_once(_driver.AIOKafkaConsumerThread, "_create_worker_consumer", wrap_create)


def session_timeout(settings: Settings, kind: str) -> float:
    """``WIRESTREAM_SESSION_TIMEOUT``, or by default 5 s on Tansu (whose join waits half
    of it) and 6 s on Apache Kafka: brokers refuse less than their
    ``group.min.session.timeout.ms``, 6 s by default (a 5 s session never joins)."""
    if settings.session_timeout is not None:
        return settings.session_timeout
    return 5.0 if kind == "tansu" else 6.0


def configure_for_broker(app: faust.App, settings: Settings, kind: str) -> str:
    """Fit the app to the broker the worker found (``tansu`` or ``kafka``, from
    :func:`streams.broker.broker_kind`), before the worker starts its consumer.

    Only the fetch wait is Tansu's (WIRESTREAM_FETCH_MAX_WAIT, when set, applies on
    both). The other two patches fix the client (aiokafka and Faust) and apply on both
    brokers: tests/streams/test_app.py shows Apache Kafka storing a commit without
    membership for an empty group, and aiokafka's seek leaving a partition without a
    commit where the fetcher got to, as on Tansu. Returns a line saying what was chosen."""
    global _fetch_max_wait_ms, _transactional_offsets
    _transactional_offsets = settings.guarantee == "exactly_once"
    wait = settings.fetch_max_wait
    if wait is None and kind == "tansu":
        wait = TANSU_FETCH_MAX_WAIT
    _fetch_max_wait_ms = int(wait * 1000) if wait is not None else None
    app.conf.broker_session_timeout = session_timeout(settings, kind)
    broker = "the embedded Tansu" if kind == "tansu" else "Apache Kafka (or compatible)"
    fetch = f"{_fetch_max_wait_ms} ms" if _fetch_max_wait_ms is not None else "Faust's 1500 ms"
    return (
        f"broker is {broker}: fetch wait {fetch}, "
        f"session timeout {app.conf.broker_session_timeout:g} s, {settings.guarantee}"
    )


def create_app(settings: Settings) -> faust.App:
    """Build the Faust app for these settings (for Apache Kafka until
    :func:`configure_for_broker` says otherwise)."""
    _bounded_fetch_wait()
    _commit_only_as_a_group_member()
    _rewind_partitions_without_commits()
    _offsets_only_in_transactions()
    forbid_topic_auto_creation()
    return faust.App(
        settings.app_id,
        broker=settings.broker,
        # A "wirestream" client id: its metadata requests never auto-create a topic
        # (streams/metadata.py); the worker creates its topics before it starts.
        broker_client_id=f"{CLIENT_ID_PREFIX}-worker",
        broker_credentials=_credentials(settings),
        # Tansu makes a group join wait session_timeout / 2, and a restarted worker waits for
        # its dead predecessor to time out: short sessions keep both short (heartbeats
        # every second); see session_timeout().
        broker_session_timeout=session_timeout(settings, "kafka"),
        broker_heartbeat_interval=1.0,
        # Tansu cannot do InitProducerId, so no idempotent producer and no exactly-once:
        # at-least-once with outputs keyed by article id.
        processing_guarantee="at_least_once",
        producer_acks=-1,
        # Every output's size is checked against max_output_bytes before it is sent
        # (agents/outputs.py), so the producer never refuses one for its size.
        producer_max_request_size=settings.max_output_bytes + RECORD_OVERHEAD,
        consumer_auto_offset_reset="earliest",
        consumer_max_fetch_size=max(settings.max_article_bytes * 2, 4_194_304),
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication,
        topic_disable_leader=True,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.web_port,
        # Wirestream keeps no tables: Faust's /router and /table views only look tables
        # up, and answered 500 (KeyError) for names that do not exist (/router/x/). Off,
        # any path they served answers 404.
        web_router_enabled=False,
        web_tables_enabled=False,
        datadir=str(settings.data_dir),
        autodiscover=False,
    )


settings = get_settings()
app = create_app(settings)
