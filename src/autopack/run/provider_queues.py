"""Providers' rate limits kept across every process of one database, on DBOS queues.

A limited provider has a queue `autopack-llm-<provider>` with DBOS's limiter (so many workflows
started in any window, counted in the system database, so across processes and machines). Before
each request to it, a caller enqueues a permit, a workflow that does nothing, and waits until it
has run: DBOS starts it only when the window has room. Every process that launches DBOS with a
limit listens to that provider's queue, so a permit is granted wherever there is room.

Enqueued through DBOS's client: a model request is made inside a workflow's step, where DBOS
forbids starting workflows, and a permit is not part of the run's history anyway (a replayed
step asks for a new one, as its request is sent again).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from dbos import DBOS, DBOSClient, EnqueueOptions, WorkflowHandleAsync

from autopack import __version__
from autopack.config import RateLimit, RuntimeSection
from autopack.llm.aliases import Provider

PERMIT_WORKFLOW = "autopack.llm_permit"
# How soon a permit the window has room for is granted, and its caller hears of it.
PERMIT_POLL_SECONDS = 0.1


@DBOS.workflow(name=PERMIT_WORKFLOW)
async def llm_permit() -> None:
    """Started by DBOS only within its queue's limit: its start is the permit."""


def provider_queue(provider: Provider) -> str:
    return f"autopack-llm-{provider.value}"


def provider_queue_names(runtime: RuntimeSection) -> list[str]:
    """The queues a process with these settings listens to (before DBOS launches)."""
    return [provider_queue(provider) for provider in sorted(runtime.rate_limits)]


class QueuePermits:
    """Permits from the providers' queues on one DBOS system database."""

    def __init__(
        self, system_database_url: str, app_name: str, limits: Mapping[Provider, RateLimit]
    ):
        self.system_database_url = system_database_url
        self.app_name = app_name
        self.rate_limits = dict(limits)
        self._client: DBOSClient | None = None
        self._lock = threading.Lock()

    def limits(self, provider: Provider) -> bool:
        return provider in self.rate_limits

    async def acquire(self, provider: Provider) -> None:
        if provider not in self.rate_limits:
            return
        options: EnqueueOptions = {
            "workflow_name": PERMIT_WORKFLOW,
            "queue_name": provider_queue(provider),
            # Granted only by processes of this version, which know the permit workflow.
            "app_version": __version__,
        }
        handle: WorkflowHandleAsync[None] = await self._client_now().enqueue_async(options)
        await handle.get_result(polling_interval_sec=PERMIT_POLL_SECONDS)

    def register(self) -> None:
        """The queues with this process's limits, after DBOS launched; stored in DBOS's database,
        so the last process to start sets them for all."""
        for provider, limit in self.rate_limits.items():
            DBOS.register_queue(
                provider_queue(provider),
                limiter={"limit": limit.requests, "period": limit.seconds},
                polling_interval_sec=PERMIT_POLL_SECONDS,
                on_conflict="always_update",
            )

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.destroy()
                self._client = None

    def _client_now(self) -> DBOSClient:
        with self._lock:
            if self._client is None:
                self._client = DBOSClient(
                    system_database_url=self.system_database_url, application_name=self.app_name
                )
            return self._client


_SERVING: QueuePermits | None = None


@contextmanager
def serving_permits(permits: QueuePermits) -> Iterator[QueuePermits]:
    """This process's permits while DBOS is launched and listens to their queues."""
    global _SERVING
    permits.register()
    _SERVING = permits
    try:
        yield permits
    finally:
        _SERVING = None
        permits.close()


def process_permits() -> QueuePermits | None:
    """The permits of this process's DBOS, if it keeps any provider's limit."""
    return _SERVING
