"""Every change Wirestream makes to Faust or aiokafka internals, in one module, fenced.

Two kinds:

* **Subclasses registered through Faust's own transport registry** (no library code is
  replaced): :class:`Transport` is Faust's aiokafka transport with a consumer thread that
  (1) bounds the broker's fetch wait (:data:`fetch_max_wait_ms`, set by
  ``streams.app.configure_for_broker``; Tansu only by default) and (2) rewinds
  partitions without a commit to their beginning. The app's consumer URL uses the
  :data:`TRANSPORT_SCHEME` scheme, which :func:`register_transport` maps to it.
* **Replaced functions** (:data:`PATCHES`): aiokafka's group commit refused while the
  consumer is not a group member, and metadata requests that never make the broker
  auto-create a topic (Wirestream's clients only).

:func:`apply_patches` runs once at worker start (``wirestream worker``), never at
import: it refuses to start on a faust-streaming or aiokafka version other than the
pinned ones (:data:`PINNED`) with one line naming the patch, unless
``WIRESTREAM_ALLOW_UNPINNED_PATCHES=true``, and always when a patched name is missing.
Every other client built from ``streams.settings.kafka_options`` applies the
no-auto-creation patch itself (idempotent). docs/patches.md is the table.
"""

from __future__ import annotations

import contextvars
import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka import client as _client
from aiokafka.admin import client as _admin
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.errors import UnknownMemberIdError
from aiokafka.protocol.metadata import MetadataRequest
from faust.transport import drivers as _drivers
from faust.transport.drivers import aiokafka as _driver

from streams.settings import Settings

log = logging.getLogger(__name__)

#: The versions every patch below was written for and tested on (pyproject.toml pins).
PINNED = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}
#: The URL scheme of the worker's consumer transport (:class:`Transport`).
TRANSPORT_SCHEME = "wirestream"
#: Client ids starting with this never make the broker auto-create a topic.
CLIENT_ID_PREFIX = "wirestream"
#: The fetch wait (ms) the worker's consumer asks for; None keeps Faust's 1.5 s.
fetch_max_wait_ms: int | None = None
#: True with WIRESTREAM_GUARANTEE=exactly_once: input offsets are committed only inside the
#: worker's transactions (streams/transactions.py); set by ``configure_for_broker``.
transactional_offsets = False


class PatchError(RuntimeError):
    """A patch cannot be applied safely (one line: the patch and why)."""


# -- the consumer transport (subclasses, registered with Faust) ---------------------------
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


class ConsumerThread(_driver.AIOKafkaConsumerThread):
    """Faust's consumer thread with the fetch wait bounded, the rewind fixed, and (with
    exactly_once) offsets committed only in transactions."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        """Faust hard-codes ``fetch_max_wait_ms=1500`` and the embedded broker holds a
        fetch for the whole wait even when data arrives (measured: a record produced
        0.3 s into a 1 s wait is returned at 1 s), which adds up to that wait to each
        article's latency. Apache Kafka answers as soon as data arrives
        (tests/integration/test_broker_quirks.py on both engines), so there a short wait
        would only mean more fetches while idle, and Faust's wait stays. The value is set
        on the consumer before it starts (aiokafka passes it to its fetcher in start())."""
        consumer = super()._create_worker_consumer(transport)
        if fetch_max_wait_ms is not None:
            consumer._fetch_max_wait_ms = fetch_max_wait_ms
        if transactional_offsets:
            consumer._isolation_level = "read_committed"
        return consumer

    async def _commit(self, offsets: Any) -> bool:
        """With exactly_once, Faust's own offset commits (periodic, on rebalance, at stop)
        are skipped: the offsets are committed in each batch's transaction
        (streams/transactions.py), and a plain commit besides them could land after a
        transaction's and move the group's offset back (records read twice). The skipped
        commit is recorded as done, so Faust's bookkeeping and its "not committed in a
        while" check behave as after a real commit."""
        if not transactional_offsets:
            return bool(await _driver.AIOKafkaConsumerThread._commit(self, offsets))
        now = _driver.monotonic()
        self.tp_last_committed_at.update({tp: now for tp in offsets})
        return True

    async def seek_to_committed(self) -> Any:
        """:func:`seek_to_committed_or_beginning` on the thread's aiokafka consumer."""
        return await self.call_thread(seek_to_committed_or_beginning, self._ensure_consumer())


class Consumer(_driver.Consumer):
    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(_driver.Transport):
    """Faust's aiokafka transport with :class:`ConsumerThread`."""

    Consumer = Consumer


def register_transport() -> None:
    """Make ``wirestream://`` URLs name :class:`Transport` in Faust's transport registry
    (what a ``faust.transports`` entry point does). Adds a name; replaces nothing."""
    _drivers.TRANSPORTS.aliases.setdefault(TRANSPORT_SCHEME, f"{__name__}:Transport")


def consumer_url(broker: str) -> str:
    """The broker URL with the :data:`TRANSPORT_SCHEME` scheme."""
    return f"{TRANSPORT_SCHEME}://{broker.split('://', 1)[-1]}"


# -- replaced functions ---------------------------------------------------------------------
def _replace_once(owner: Any, name: str, make: Callable[[Any], Any]) -> None:
    """Replace ``owner.<name>`` by ``make(original)``, once per process."""
    original = getattr(owner, name)
    if getattr(original, "wirestream_patched", False):
        return
    replacement = make(original)
    replacement.wirestream_patched = True
    setattr(owner, name, replacement)


def commit_only_as_a_group_member() -> None:
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
            # Only a consumer that subscribed (a group member) can be mid-rejoin; one with
            # assign()ed partitions commits with no member id by design (aiokafka sends
            # generation -1), so it is left alone.
            rejoining = self._subscription.partitions_auto_assigned() and not self.member_id
            if offsets and rejoining and self._subscription.subscription is not None:
                log.info(
                    "Commit refused while rejoining group %s: %d offsets",
                    self.group_id,
                    len(offsets),
                )
                raise UnknownMemberIdError("not a group member (rejoining); commit refused")
            await do_commit(self, assignment, offsets)

        return member_commit

    _replace_once(GroupCoordinator, "_do_commit_offsets", wrap)


_FORBID: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "wirestream_forbid_auto_create", default=False
)


class _NoAutoCreateMetadataRequest(MetadataRequest):
    """A metadata request that forbids auto-creation while :data:`_FORBID` is set."""

    def __init__(
        self, topics: list[str] | None = None, allow_auto_topic_creation: bool | None = None
    ) -> None:
        if allow_auto_topic_creation is None and _FORBID.get():
            allow_auto_topic_creation = False
        super().__init__(topics, allow_auto_topic_creation)


def is_wirestream_client(client_id: object) -> bool:
    return str(client_id or "").startswith(CLIENT_ID_PREFIX)


def _forbid_in(owner: Any, name: str, client_id: Callable[[Any], Any]) -> None:
    def wrap(original: Any) -> Any:
        async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            token = _FORBID.set(is_wirestream_client(client_id(self)))
            try:
                return await original(self, *args, **kwargs)
            finally:
                _FORBID.reset(token)

        return wrapper

    _replace_once(owner, name, wrap)


def forbid_topic_auto_creation() -> None:
    """Make Wirestream's aiokafka clients (and Faust's, whose client id is set by the
    app) send metadata requests with ``allow_auto_topic_creation = false``. Idempotent.

    A Kafka metadata request (v4 and later) says whether the broker may create the
    topics it names. aiokafka always says yes, so a consumer subscribed to a misspelt
    topic, or a producer sending to one, made the broker create it. Wirestream creates
    its topics explicitly, so its clients (client id starting with ``wirestream``) say
    no; other aiokafka users in the same process keep the library's default."""
    _client.MetadataRequest = _NoAutoCreateMetadataRequest
    _admin.MetadataRequest = _NoAutoCreateMetadataRequest
    _forbid_in(_client.AIOKafkaClient, "_metadata_update", lambda c: c._client_id)
    _forbid_in(_admin.AIOKafkaAdminClient, "_get_cluster_metadata", lambda a: a._client._client_id)


# -- the table and its fence -----------------------------------------------------------------
@dataclass(frozen=True)
class Patch:
    """One change to library internals: what it touches and how it is applied (None: a
    subclass, in effect wherever the class is used)."""

    name: str
    package: str
    targets: tuple[str, ...]
    brokers: str
    apply: Callable[[], None] | None = None


def _aiokafka_consumer_keeps_fetch_wait() -> bool:
    return "_fetch_max_wait_ms" in AIOKafkaConsumer.__init__.__code__.co_names


PATCHES: tuple[Patch, ...] = (
    Patch(
        "bounded_fetch_wait",
        "faust-streaming",
        (
            "faust.transport.drivers.aiokafka:AIOKafkaConsumerThread._create_worker_consumer",
            "faust.transport.drivers.aiokafka:Consumer._new_consumer_thread",
            "faust.transport.drivers:TRANSPORTS.aliases",
        ),
        "tansu (both with WIRESTREAM_FETCH_MAX_WAIT)",
    ),
    Patch(
        "bounded_fetch_wait",
        "aiokafka",
        ("aiokafka:AIOKafkaConsumer._fetch_max_wait_ms",),
        "tansu (both with WIRESTREAM_FETCH_MAX_WAIT)",
    ),
    Patch(
        "rewind_partitions_without_commits",
        "faust-streaming",
        ("faust.transport.drivers.aiokafka:AIOKafkaConsumerThread.seek_to_committed",),
        "both",
    ),
    Patch(
        "offsets_only_in_transactions",
        "faust-streaming",
        (
            "faust.transport.drivers.aiokafka:AIOKafkaConsumerThread._commit",
            "faust.transport.drivers.aiokafka:monotonic",
        ),
        "kafka (exactly_once only)",
    ),
    Patch(
        "commit_only_as_a_group_member",
        "aiokafka",
        ("aiokafka.consumer.group_coordinator:GroupCoordinator._do_commit_offsets",),
        "both",
        commit_only_as_a_group_member,
    ),
    Patch(
        "no_topic_auto_creation",
        "aiokafka",
        (
            "aiokafka.client:MetadataRequest",
            "aiokafka.client:AIOKafkaClient._metadata_update",
            "aiokafka.admin.client:MetadataRequest",
            "aiokafka.admin.client:AIOKafkaAdminClient._get_cluster_metadata",
        ),
        "both",
        forbid_topic_auto_creation,
    ),
    Patch(
        "bounded_shutdown",
        "faust-streaming",
        ("mode.worker:Worker._schedule_shutdown", "mode.worker:Worker._signal_stop_time"),
        "both",
    ),
)


def installed_version(package: str) -> str:
    return metadata.version(package)


def target_exists(target: str) -> bool:
    """Whether ``module:Attr.attr`` names something that exists."""
    if target == "aiokafka:AIOKafkaConsumer._fetch_max_wait_ms":
        return _aiokafka_consumer_keeps_fetch_wait()
    module_name, _, path = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError:
        return False
    for part in path.split("."):
        if not hasattr(obj, part):
            return False
        obj = getattr(obj, part)
    return True


def check_patches(settings: Settings) -> list[str]:
    """:class:`PatchError` (one line naming the patch) if a patched name is missing, or if
    a library is not at its pinned version and ``allow_unpinned_patches`` is off; the
    warnings to log when it is on."""
    warnings = []
    for patch in PATCHES:
        missing = [t for t in patch.targets if not target_exists(t)]
        found = installed_version(patch.package)
        pinned = PINNED[patch.package]
        if missing:
            raise PatchError(
                f"patch {patch.name}: {missing[0]} does not exist in {patch.package} {found}"
                f" (written for {pinned}); the worker cannot start"
            )
        if found != pinned:
            message = (
                f"patch {patch.name} changes {patch.targets[0]}, written for {patch.package}"
                f" {pinned}, but {found} is installed"
            )
            if not settings.allow_unpinned_patches:
                raise PatchError(
                    f"{message}: set WIRESTREAM_ALLOW_UNPINNED_PATCHES=true to start anyway"
                )
            warnings.append(message)
    return warnings


def apply_patches(settings: Settings) -> list[str]:
    """Check every patch (:func:`check_patches`), then apply the replacing ones and
    register the transport. Idempotent; returns the names applied."""
    for warning in check_patches(settings):
        log.warning("%s (WIRESTREAM_ALLOW_UNPINNED_PATCHES=true)", warning)
    register_transport()
    applied = []
    for patch in PATCHES:
        if patch.apply is not None:
            patch.apply()
            applied.append(patch.name)
    return applied
