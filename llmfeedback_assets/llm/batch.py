"""Batch mode: OpenAI Batch API and Anthropic Message Batches, at half price, for work that can wait.

Each request travels with its request key as the batch's `custom_id`. A batch id is written to the
`llm_batches` table as soon as the provider accepts it, and every answer is journaled as it is downloaded,
so a run that stops (killed, or out of patience with `batch_wait_s`) is resumed by the next run: open
batches covering the wanted keys are polled and collected instead of resubmitted. Items that expired or
failed with a retryable error are resubmitted in a new batch (at most `max_retries` times); request errors
(HTTP 400) are final; a bad key or unknown model stops the run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Callable

from ..config import ModelSpec
from .providers import BatchItem, Provider
from .run import Run, cost_of, sampling
from .types import BatchPending, ChatRequest, ChatResult, FatalModelError, ProviderError

log = logging.getLogger("llmfeedback.gateway.batch")

# Items per batch job: below both providers' limits (OpenAI 50,000 requests / 200 MB, Anthropic 100,000 /
# 256 MB) with room for long prompts.
MAX_ITEMS = {"openai": 20_000, "anthropic": 20_000}
MAX_BYTES = 100_000_000


_LOST = object()  # a poll answered 404: the batch id means nothing to the provider


class BatchRunner:
    """One model's batch jobs within one gateway run.

    poll_s: how often running jobs are polled; wait_s: how long to wait for them before raising BatchPending
    (None: until they end); backoff: seconds to wait before the nth retry of a failed submission.
    """

    def __init__(self, spec: ModelSpec, provider: Provider, run: Run, *, poll_s: float, wait_s: float | None,
                 backoff: Callable[[int], float]):
        self.spec, self.provider, self.run_state = spec, provider, run
        self.poll_s, self.wait_s, self.backoff = poll_s, wait_s, backoff
        self.journal = run.journal
        self.stats = run.stats
        self.pending: dict[str, ChatRequest] = {}
        self.active: dict[str, set[str]] = {}  # batch id -> request keys
        self.submitted_at: dict[str, float] = {}  # batch id -> wall-clock submission time
        self.attempts: Counter[str] = Counter()
        self.poll_failures: Counter[str] = Counter()

    async def run(self, items: dict[str, ChatRequest]) -> None:
        spec = self.spec
        self.pending = dict(items)
        for b in await asyncio.to_thread(self.journal.open_batches, spec.name):
            keys = set(b["keys"])
            if keys & self.pending.keys():
                self.active[b["batch_id"]] = keys
                ts = b["submitted_at"]
                self.submitted_at[b["batch_id"]] = (
                    ts.replace(tzinfo=dt.UTC).timestamp() if ts is not None else time.time())
                self.stats.batches_resumed += 1
                log.info("model %s: resuming batch %s (%d requests)", spec.name, b["batch_id"], len(keys))
        covered = set().union(*self.active.values()) if self.active else set()
        await self._submit([k for k in self.pending if k not in covered])
        deadline = None if self.wait_s is None else time.monotonic() + self.wait_s
        while self.active:
            for bid in list(self.active):
                await self._check(bid)
            if not self.active:
                break
            if deadline is not None and time.monotonic() >= deadline:
                ids = sorted(self.active)
                raise BatchPending(
                    f"model {spec.name}: {len(ids)} batch job(s) still running after {self.wait_s:.0f}s "
                    f"({', '.join(ids)}); rerun to collect them - nothing will be sent twice", ids)
            await asyncio.sleep(self.poll_s)

    # -- one batch -------------------------------------------------------------------------------------
    async def _check(self, bid: str) -> None:
        spec = self.spec
        state = await self._guarded(bid, self.provider.poll_batch(spec, bid))
        if state is _LOST:  # the provider no longer knows this batch (deleted, other account): send again
            keys = self.active.pop(bid)
            log.warning("model %s: batch %s is unknown to the provider; resubmitting its requests",
                        spec.name, bid)
            await asyncio.to_thread(self.journal.close_batch, bid, "lost", "unknown to the provider")
            await self._retry([k for k in keys if k in self.pending], 0.0)
            return
        if state is None or not state.ended:
            return
        if state.failed:
            await asyncio.to_thread(self.journal.close_batch, bid, "failed", state.detail)
            raise FatalModelError(f"model {spec.name}: batch {bid} was rejected: {state.detail}")
        outcomes = await self._guarded(bid, self.provider.fetch_batch(spec, bid))
        if outcomes is None or outcomes is _LOST:
            return
        keys = self.active.pop(bid)
        latency = max(0.0, time.time() - self.submitted_at.get(bid, time.time()))
        seen: set[str] = set()
        retry: list[str] = []
        for o in outcomes:
            if o.key not in keys or o.key in seen:
                continue
            seen.add(o.key)
            if o.reply is not None:
                self._answer(o.key, o.reply, latency)
            elif o.error.fatal:
                raise FatalModelError(str(o.error))
            elif o.error.retryable:
                retry.append(o.key)
            elif o.key in self.pending:
                self._fail(o.key, str(o.error), latency)
        retry += [k for k in keys if k not in seen]  # never answered at all: resubmit
        await asyncio.to_thread(self.journal.close_batch, bid, "collected", state.detail)
        await self._retry(retry, latency)

    async def _retry(self, keys: list[str], latency: float) -> None:
        """Resubmit expired or failed items, each at most `max_retries` times."""
        spec = self.spec
        again = []
        for k in keys:
            if k not in self.pending:
                continue
            self.attempts[k] += 1
            if self.attempts[k] > spec.max_retries:
                self._fail(k, f"gave up after {self.attempts[k]} batch submissions", latency)
            else:
                again.append(k)
        if again:
            log.info("model %s: resubmitting %d expired or failed batch item(s)", spec.name, len(again))
            self.stats.retries += len(again)
        await self._submit(again)

    async def _guarded(self, bid: str, coro):
        """A poll or download; transient failures are retried at the next poll, a fatal one stops the run."""
        try:
            result = await coro
        except ProviderError as exc:
            if exc.status == 404:
                return _LOST
            if exc.fatal:
                raise FatalModelError(str(exc)) from None
            self.poll_failures[bid] += 1
            if self.poll_failures[bid] > max(3, self.spec.max_retries):
                raise FatalModelError(f"model {self.spec.name}: batch {bid} cannot be read ({exc}); it stays "
                                      f"recorded and the next run will try again") from None
            log.warning("model %s: batch %s not readable yet: %s", self.spec.name, bid, exc)
            return None
        self.poll_failures.pop(bid, None)
        return result

    def _answer(self, key: str, reply, latency: float) -> None:
        spec = self.spec
        cost = cost_of(spec, reply.input_tokens, reply.output_tokens, batch=True)
        res = ChatResult(key, spec.name, "ok", reply.text, reply.input_tokens, reply.output_tokens, cost,
                         latency, self.attempts[key] + 1)
        if key in self.pending:
            del self.pending[key]
            self.run_state.finish(res, spec, batch=True)
        else:  # asked for by an earlier run and paid for: keep it for the run that wants it
            self.journal.record(res, provider=spec.provider, batch=True)

    def _fail(self, key: str, error: str, latency: float) -> None:
        del self.pending[key]
        res = ChatResult(key, self.spec.name, "failed", None, latency_s=latency,
                         attempts=self.attempts[key] + 1, error=error)
        self.run_state.finish(res, self.spec, batch=True)

    # -- submission ------------------------------------------------------------------------------------
    async def _submit(self, keys: list[str]) -> None:
        spec = self.spec
        limit = MAX_ITEMS.get(spec.provider, 20_000)
        chunk: list[BatchItem] = []
        size = 0
        for k in keys:
            req = self.pending[k]
            item = BatchItem(k, req, *sampling(spec, req))
            approx = sum(len(c) for _, c in req.messages) + 300
            if chunk and (len(chunk) >= limit or size + approx > MAX_BYTES):
                await self._submit_chunk(chunk)
                chunk, size = [], 0
            chunk.append(item)
            size += approx
        if chunk:
            await self._submit_chunk(chunk)

    async def _submit_chunk(self, items: list[BatchItem]) -> None:
        spec = self.spec
        attempt = 0
        while True:
            attempt += 1
            try:
                bid = await self.provider.submit_batch(spec, items)
                break
            except ProviderError as exc:
                if exc.fatal:
                    raise FatalModelError(str(exc)) from None
                if exc.status == 429:
                    self.stats.rate_limited += 1
                if not exc.retryable or attempt > spec.max_retries:
                    for it in items:
                        self._fail(it.key, f"batch submission failed: {exc}", 0.0)
                    return
                self.stats.retries += 1
                wait = exc.retry_after_s if exc.retry_after_s is not None else self.backoff(attempt)
                await asyncio.sleep(wait)
        keys = [it.key for it in items]
        await asyncio.to_thread(self.journal.add_batch, bid, spec.provider, spec.name, keys)
        self.active[bid] = set(keys)
        self.submitted_at[bid] = time.time()
        self.stats.batches_submitted += 1
        log.info("model %s: submitted batch %s with %d request(s)", spec.name, bid, len(keys))
