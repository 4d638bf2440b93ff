"""The one gateway for every model call.

Looks each request up in the journal first (a rerun pays for nothing twice), then sends what is missing
concurrently under per-model limits: a concurrency cap and token buckets for requests, input tokens and
output tokens per minute. Retries 429/5xx/timeouts/malformed bodies with capped, jittered exponential
backoff, waiting exactly what Retry-After says when the server says it; fails fast on errors that
retrying cannot fix. Every answer is journaled the moment it arrives.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..config import Config, ConfigError, ModelSpec
from ..warehouse import Warehouse
from .journal import Journal
from .limits import ModelLimiter
from .providers import make_provider
from .types import ChatRequest, ChatResult, FatalModelError, ProviderError, request_key

log = logging.getLogger("llmfeedback.gateway")

# A request whose failure means the whole run is misconfigured (bad key, no such model, no quota).
FATAL_RUN_STATUSES = {401, 403, 404}


def estimate_input_tokens(req: ChatRequest) -> int:
    return max(1, sum(len(c) for _, c in req.messages) // 4)


@dataclass
class RunStats:
    total: int = 0
    done: int = 0
    cache_hits: int = 0
    sent: int = 0
    failed: int = 0
    retries: int = 0
    rate_limited: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def line(self) -> str:
        rate = self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        return (f"{self.done}/{self.total} done, {rate:.1f}/s, ETA {eta:.0f}s, cache hits {self.cache_hits}, "
                f"failed {self.failed}, retries {self.retries}, tokens {self.input_tokens}+{self.output_tokens}, "
                f"${self.cost_usd:.4f}")

    def as_metadata(self) -> dict:
        return {"requests": self.total, "cache_hits": self.cache_hits, "sent": self.sent, "failed": self.failed,
                "retries": self.retries, "rate_limited_429": self.rate_limited,
                "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "cost_usd": round(self.cost_usd, 6), "wall_s": round(self.elapsed_s, 3)}


def cost_of(spec: ModelSpec, input_tokens: int, output_tokens: int, batch: bool = False) -> float:
    cost = (input_tokens * spec.price_input_per_mtok + output_tokens * spec.price_output_per_mtok) / 1e6
    return cost * (0.5 if batch else 1.0)


class Gateway:
    """Send chat requests for configured models; see the module docstring for the guarantees."""

    def __init__(self, config: Config, warehouse: Warehouse, progress: Callable[[RunStats], None] | None = None,
                 progress_every_s: float = 10.0, backoff_base_s: float = 0.5, backoff_cap_s: float = 30.0):
        self.config = config
        self.warehouse = warehouse
        self.progress = progress
        self.progress_every_s = progress_every_s
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self._providers: dict = {}
        self._limiters: dict[str, ModelLimiter] = {}

    # -- public ----------------------------------------------------------------------------------------
    def key_for(self, req: ChatRequest) -> str:
        spec = self.config.model(req.model)
        return request_key(spec.provider, spec.model_id, req, *self._sampling(spec, req))

    def run(self, requests: Iterable[ChatRequest]) -> tuple[list[ChatResult], RunStats]:
        """Answer every request (from the journal or the provider), in order."""
        return asyncio.run(self.arun(list(requests)))

    async def arun(self, requests: list[ChatRequest]) -> tuple[list[ChatResult], RunStats]:
        specs = {r.model: self.config.model(r.model) for r in requests}
        self.config.check_secrets(list(specs))
        stats = RunStats(total=len(requests))
        keys = [self.key_for(r) for r in requests]
        journal = Journal(self.warehouse)
        try:
            hits = journal.lookup(keys)
            results: dict[str, ChatResult] = {}
            todo: dict[str, ChatRequest] = {}
            for key, req in zip(keys, requests, strict=True):
                if key in hits:
                    results[key] = _from_row(hits[key])
                elif key not in todo:
                    todo[key] = req
            stats.cache_hits = sum(1 for k in keys if k in hits)
            stats.done = stats.cache_hits
            stopper = asyncio.Event()
            ticker = asyncio.create_task(self._tick(stats, journal, stopper))
            try:
                tasks = [asyncio.create_task(self._one(key, req, specs[req.model], journal, stats))
                         for key, req in todo.items()]
                for fut in asyncio.as_completed(tasks):
                    res = await fut
                    results[res.request_key] = res
            except BaseException:
                for t in tasks:
                    t.cancel()
                raise
            finally:
                stopper.set()
                await ticker
                await self._close_providers()
            if self.progress:
                self.progress(stats)
            return [results[k] for k in keys], stats
        finally:
            await asyncio.to_thread(journal.close)

    # -- internals -------------------------------------------------------------------------------------
    def _sampling(self, spec: ModelSpec, req: ChatRequest) -> tuple[float, int]:
        temperature = spec.temperature if req.temperature is None else req.temperature
        max_tokens = spec.max_tokens if req.max_tokens is None else req.max_tokens
        return float(temperature), int(max_tokens)

    def _provider(self, spec: ModelSpec):
        if spec.provider not in self._providers:
            try:
                self._providers[spec.provider] = make_provider(spec.provider)
            except ValueError as exc:
                raise ConfigError(f"model {spec.name}: {exc}") from None
        return self._providers[spec.provider]

    def _limiter(self, spec: ModelSpec) -> ModelLimiter:
        if spec.name not in self._limiters:
            self._limiters[spec.name] = ModelLimiter.from_spec(spec)
        return self._limiters[spec.name]

    async def _close_providers(self) -> None:
        for p in self._providers.values():
            await p.aclose()
        self._providers.clear()
        self._limiters.clear()  # limiters hold loop-bound primitives

    async def _tick(self, stats: RunStats, journal: Journal, stopper: asyncio.Event) -> None:
        last = time.monotonic()
        while not stopper.is_set():
            try:
                await asyncio.wait_for(stopper.wait(), timeout=0.5)
            except TimeoutError:
                pass
            if journal.due():
                await asyncio.to_thread(journal.flush)
            if self.progress and time.monotonic() - last >= self.progress_every_s:
                self.progress(stats)
                last = time.monotonic()

    async def _one(self, key: str, req: ChatRequest, spec: ModelSpec, journal: Journal, stats: RunStats) -> ChatResult:
        provider = self._provider(spec)
        limiter = self._limiter(spec)
        temperature, max_tokens = self._sampling(spec, req)
        est_in = estimate_input_tokens(req)
        attempts = 0
        t0 = time.monotonic()
        last_error = ""
        while True:
            attempts += 1
            async with limiter.slot(est_in, max_tokens, unlimited=spec.is_simulated) as charge:
                try:
                    reply = await provider.complete(spec, req, temperature, max_tokens)
                    charge.settle(reply.input_tokens, reply.output_tokens)
                except ProviderError as exc:
                    charge.settle(est_in, 0)
                    err = exc
                else:
                    err = None
            if err is None:
                cost = cost_of(spec, reply.input_tokens, reply.output_tokens)
                res = ChatResult(key, spec.name, "ok", reply.text, reply.input_tokens, reply.output_tokens, cost,
                                 time.monotonic() - t0, attempts)
                stats.sent += 1
                stats.input_tokens += reply.input_tokens
                stats.output_tokens += reply.output_tokens
                stats.cost_usd += cost
                break
            last_error = str(err)
            if err.status == 429:
                stats.rate_limited += 1
            if not err.retryable:
                if err.status in FATAL_RUN_STATUSES or "insufficient quota" in last_error:
                    raise FatalModelError(last_error)
                res = ChatResult(key, spec.name, "failed", None, attempts=attempts, error=last_error,
                                 latency_s=time.monotonic() - t0)
                break
            if attempts > spec.max_retries:
                res = ChatResult(key, spec.name, "failed", None, attempts=attempts,
                                 error=f"gave up after {attempts} attempts: {last_error}",
                                 latency_s=time.monotonic() - t0)
                break
            stats.retries += 1
            if err.retry_after_s is not None:
                wait = err.retry_after_s
                if err.status == 429:
                    limiter.pause(wait)  # the whole model waits, not just this request
            else:
                wait = min(self.backoff_cap_s, self.backoff_base_s * 2 ** (attempts - 1)) * (0.5 + random.random())
            await asyncio.sleep(wait)
        if res.status != "ok":
            stats.failed += 1
            log.warning("request %s to %s failed: %s", key[:12], spec.name, res.error)
        journal.record(res, provider=spec.provider)
        stats.done += 1
        return res


def _from_row(row: dict) -> ChatResult:
    return ChatResult(
        request_key=row["request_key"], model=row["model"], status=row["status"], text=row["text"],
        input_tokens=int(row["input_tokens"] or 0), output_tokens=int(row["output_tokens"] or 0),
        cost_usd=float(row["cost_usd"] or 0.0), latency_s=float(row["latency_s"] or 0.0),
        attempts=int(row["attempts"] or 0), error=row["error"], cached=True,
    )
