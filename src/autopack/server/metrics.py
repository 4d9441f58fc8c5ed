"""Prometheus `/metrics`, computed from the store at scrape time.

Counting from the database rather than in process memory makes every server report the same
figures however many workers executed the runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select

from autopack.server.auth import ServerWide
from autopack.server.context import context_of
from autopack.store.engine import Database
from autopack.store.queue import queue_depth
from autopack.store.reports import phases_by_state, runs_by_state
from autopack.store.schema import LlmCallRow, PhaseRow, ProgressEventRow

router = APIRouter(tags=["metrics"])

LATENCY_BUCKETS_MS = (250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 120_000)
CI_BUCKETS_S = (1, 5, 15, 30, 60, 120, 300, 600)


class StoreCollector(Collector):
    def __init__(self, database: Database):
        self.database = database

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily | HistogramMetricFamily]:
        runs = GaugeMetricFamily("autopack_runs", "Runs by state", labels=["state"])
        for state, count in sorted(runs_by_state(self.database).items()):
            runs.add_metric([state], count)
        yield runs
        phases = GaugeMetricFamily("autopack_phases", "Phases by state", labels=["state"])
        for state, count in sorted(phases_by_state(self.database).items()):
            phases.add_metric([state], count)
        yield phases
        yield GaugeMetricFamily(
            "autopack_queue_depth",
            "Runs queued and not yet taken by a worker",
            value=queue_depth(self.database),
        )
        yield from self._spend()
        yield self._latency()
        yield from self._from_progress()

    def _spend(self) -> Iterator[CounterMetricFamily]:
        labels = ["role", "provider", "model", "category"]
        tokens = CounterMetricFamily("autopack_llm_tokens", "Tokens billed", labels=labels)
        usd = CounterMetricFamily("autopack_llm_usd", "US dollars billed", labels=labels)
        calls = CounterMetricFamily(
            "autopack_llm_calls", "Model calls", labels=[*labels, "outcome"]
        )
        category = func.coalesce(PhaseRow.task_category, "none")
        query = (
            select(
                LlmCallRow.role,
                LlmCallRow.provider,
                LlmCallRow.model,
                category,
                LlmCallRow.outcome,
                func.count(LlmCallRow.id),
                func.sum(LlmCallRow.input_tokens + LlmCallRow.output_tokens),
                func.sum(LlmCallRow.usd),
            )
            .outerjoin(
                PhaseRow,
                (PhaseRow.run_id == LlmCallRow.run_id) & (PhaseRow.phase_id == LlmCallRow.phase_id),
            )
            .group_by(
                LlmCallRow.role, LlmCallRow.provider, LlmCallRow.model, category, LlmCallRow.outcome
            )
        )
        with self.database.reading() as session:
            rows = session.execute(query).all()
        for role, provider, model, task_category, outcome, count, token_sum, usd_sum in rows:
            key = [role, provider, model, task_category]
            tokens.add_metric(key, float(token_sum or 0))
            usd.add_metric(key, float(usd_sum or 0))
            calls.add_metric([*key, outcome], float(count))
        yield tokens
        yield usd
        yield calls

    def _latency(self) -> HistogramMetricFamily:
        buckets = [
            func.sum(case((LlmCallRow.latency_ms <= bound, 1), else_=0))
            for bound in LATENCY_BUCKETS_MS
        ]
        with self.database.reading() as session:
            row = session.execute(
                select(
                    func.count(LlmCallRow.id),
                    func.coalesce(func.sum(LlmCallRow.latency_ms), 0),
                    *buckets,
                )
            ).one()
        count, total, *below = row
        histogram = HistogramMetricFamily(
            "autopack_llm_latency_seconds", "Latency of model calls", unit=""
        )
        histogram.add_metric(
            [],
            [(str(b / 1000), float(n or 0)) for b, n in zip(LATENCY_BUCKETS_MS, below, strict=True)]
            + [("+Inf", float(count))],
            float(total) / 1000,
        )
        return histogram

    def _from_progress(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        with self.database.reading() as session:
            rows = session.execute(
                select(ProgressEventRow.kind, ProgressEventRow.payload).where(
                    ProgressEventRow.kind.in_(("llm", "verified"))
                )
            ).all()
        counted: dict[str, int] = {}
        seconds: list[float] = []
        for kind, payload in rows:
            details = json.loads(payload)
            if kind == "llm":
                what = str(details.get("what", "unknown"))
                counted[what] = counted.get(what, 0) + 1
            else:
                seconds.append(float(details.get("seconds", 0)))
        events = CounterMetricFamily(
            "autopack_llm_resilience_events",
            "Retries, rate limits, fallbacks and breaker trips",
            labels=["what"],
        )
        for what, count in sorted(counted.items()):
            events.add_metric([what], count)
        yield events
        histogram = HistogramMetricFamily("autopack_ci_duration_seconds", "Seconds of each CI run")
        histogram.add_metric(
            [],
            [(str(b), float(sum(1 for s in seconds if s <= b))) for b in CI_BUCKETS_S]
            + [("+Inf", float(len(seconds)))],
            sum(seconds),
        )
        yield histogram


@router.get("/metrics", response_class=Response)
def metrics(request: Request, _: ServerWide) -> Response:
    """Prometheus text format: runs, phases, tokens and USD, latency, retries, CI, queue depth."""
    registry = CollectorRegistry()
    registry.register(StoreCollector(context_of(request).database))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
