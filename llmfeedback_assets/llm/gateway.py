"""The one gateway for every model call.

Looks each request up in the journal first (a rerun pays for nothing twice), then sends what is missing
concurrently under per-model limits: a concurrency cap and token buckets for requests, input tokens and
output tokens per minute. Retries 429/5xx/timeouts/dropped connections/malformed bodies with capped,
jittered exponential backoff, waiting exactly what Retry-After says when the server says it; fails fast on
errors that retrying cannot fix (bad key, unknown model, no quota). Every answer is journaled the moment it
arrives. Models configured with `batch: true` go through the provider's batch API instead (half price).
Concurrent runs never pay twice for one request: each claims what it sends and waits for what another live
run is sending (claims.py).
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable

from ..config import Config, ConfigError, ModelSpec
from ..warehouse import Warehouse
from .batch import BatchRunner
from .claims import LEASE_S, Claims, RunGuard, RunOrphaned, wait_for_claimed
from .cost import average_output_tokens, estimate_cost, model_estimate
from .journal import Journal
from .limits import ModelLimiter
from .pool import run_pool
from .providers import Provider, make_provider
from .ratecontrol import budget_exhausted
from .reachability import Reachability
from .run import Run, RunStats, cost_of, estimate_input_tokens, request_key_for, sampling
from .types import ChatRequest, ChatResult, FatalModelError, ProviderError

log = logging.getLogger("llmfeedback.gateway")

# A 429 is the server asking for patience, so it gets a larger retry budget than real failures.
RATE_LIMIT_RETRIES = 5


class Gateway:
    """Send chat requests for configured models; see the module docstring for the guarantees.

    progress: called with the RunStats every `progress_every_s` seconds and once at the end (a Dagster
      asset passes `lambda s: context.log.info(s.line())`).
    progress_bar: show a tqdm bar on stderr (command-line runs).
    journal_flush_s: how often answers are merged from the spool into DuckDB.
    batch_poll_s / batch_wait_s: batch-mode polling interval, and how long one run waits for batch jobs
      before raising BatchPending (None: until they end; a rerun resumes them either way).
    bad_request_limit: stop a model whose first N answers are all non-retryable request errors (HTTP 400):
      the configuration is wrong, not the requests.
    claim_lease_s: claims (claims.py) of a run whose heartbeat is older than this are taken over (None: no
      claims; concurrent runs may then pay twice). claim_label names this run in other runs' messages;
      claim_poll_s is how often a run waiting for another run's answers looks for them.
    parent_pid: stop sending (RunOrphaned) once this process's parent is no longer this pid: the process
      that started it (a Dagster run worker) died. on_orphaned is then called with the message.
    """

    def __init__(self, config: Config, warehouse: Warehouse,
                 progress: Callable[[RunStats], None] | None = None, progress_every_s: float = 10.0,
                 backoff_base_s: float = 0.5, backoff_cap_s: float = 30.0, *,
                 progress_bar: bool = False, journal_flush_s: float = 2.0, batch_poll_s: float = 30.0,
                 batch_wait_s: float | None = None, bad_request_limit: int = 10,
                 claim_lease_s: float | None = LEASE_S, claim_label: str = "", claim_poll_s: float = 1.0,
                 parent_pid: int | None = None, on_orphaned: Callable[[str], None] | None = None):
        self.config = config
        self.warehouse = warehouse
        self.progress = progress
        self.progress_every_s = progress_every_s
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.progress_bar = progress_bar
        self.journal_flush_s = journal_flush_s
        self.batch_poll_s = batch_poll_s
        self.batch_wait_s = batch_wait_s
        self.bad_request_limit = bad_request_limit
        self.claim_lease_s = claim_lease_s
        self.claim_label = claim_label
        self.claim_poll_s = claim_poll_s
        self.parent_pid = parent_pid
        self.on_orphaned = on_orphaned
        self._providers: dict[str, Provider] = {}

    # -- public ----------------------------------------------------------------------------------------
    def check(self, models: Iterable[str]) -> dict[str, ModelSpec]:
        """The specs of these models, or a ConfigError if one is unknown or misses its API key.

        The one place API keys are checked: every run checks the models it asks for before it sends anything;
        a caller about to make several runs may check all their models up front."""
        specs = {name: self.config.model(name) for name in dict.fromkeys(models)}
        self.config.check_secrets(list(specs))
        return specs

    def key_for(self, req: ChatRequest) -> str:
        return request_key_for(self.config.model(req.model), req)

    def estimate(self, requests: Iterable[ChatRequest]):
        """Dry-run cost estimate of these requests (journal hits cost nothing); see `cost.estimate_cost`."""
        return estimate_cost(self.config, self.warehouse, list(requests))

    def run(self, requests: Iterable[ChatRequest]) -> tuple[list[ChatResult], RunStats]:
        """Answer every request (from the journal or the provider), in order."""
        requests = list(requests)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.arun(requests))
        # Called from inside an event loop (a notebook): run on a private loop in a helper thread.
        box: dict = {}

        def target() -> None:
            try:
                box["value"] = asyncio.run(self.arun(requests))
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                box["error"] = exc

        t = threading.Thread(target=target, name="llm-gateway")
        t.start()
        t.join()
        if "error" in box:
            raise box["error"]
        return box["value"]

    async def arun(self, requests: Iterable[ChatRequest]) -> tuple[list[ChatResult], RunStats]:
        try:
            return await self._arun(list(requests))
        except RunOrphaned as exc:
            if self.on_orphaned is not None:
                try:
                    await asyncio.to_thread(self.on_orphaned, str(exc))
                except Exception as cb_exc:  # noqa: BLE001 - the orphan error is what the caller must see
                    log.warning("could not report the orphaned run: %s", cb_exc)
            raise

    async def _arun(self, requests: list[ChatRequest]) -> tuple[list[ChatResult], RunStats]:
        specs = self.check(r.model for r in requests)  # before anything is looked up or sent
        guard = RunGuard(self.parent_pid)
        guard.check()  # a step whose run process is already gone sends nothing
        providers = {name: guard.wrap(self._provider(spec)) for name, spec in specs.items()}
        stats = RunStats(total=len(requests))
        keys = [request_key_for(specs[r.model], r) for r in requests]
        occurrences = Counter(keys)
        journal = await asyncio.to_thread(Journal, self.warehouse, self.journal_flush_s)
        claims = Claims(self.warehouse, self.claim_lease_s, self.claim_label) if self.claim_lease_s else None
        guard.claims = claims
        bar = None
        try:
            hits = await asyncio.to_thread(journal.lookup, keys)
            wanted = {k: r for k, r in zip(keys, requests, strict=True) if k not in hits}
            waiting: dict[str, ChatRequest] = {}
            holders: dict = {}
            if wanted and claims is not None:
                journal.claims = claims  # each flush releases the claims of the answers it writes
                mine, holders = await asyncio.to_thread(claims.claim, list(wanted))
                # answered between the lookup and the claim, or spooled by a claimant that died
                hits.update(await asyncio.to_thread(claims.lookup, journal, list(wanted)))
                waiting = {k: r for k, r in wanted.items() if k not in mine and k not in hits}
                wanted = {k: r for k, r in wanted.items() if k in mine and k not in hits}
            stats.cache_hits = sum(occurrences[k] for k in hits)
            stats.done = stats.cache_hits
            todo: dict[str, dict[str, ChatRequest]] = {}
            for key, req in wanted.items():
                todo.setdefault(req.model, {})[key] = req
            if todo:
                stats.estimated_usd = await asyncio.to_thread(self._estimate, specs, todo)
            bar = self._make_bar(stats) if self.progress_bar else None
            run = Run(journal, stats, occurrences, bar)
            run.results.update({k: _from_row(row) for k, row in hits.items()})
            jobs = self._jobs(specs, providers, todo, run)
            if self.progress and (todo or waiting):
                self.progress(stats)  # the plan: how much is cached, what the rest should cost

            def answered(rows: dict[str, dict]) -> None:  # another run's answers: cache hits
                for key, row in rows.items():
                    if key not in run.results:
                        run.results[key] = _from_row(row)
                        stats.cache_hits += occurrences[key]
                        stats.done += occurrences[key]
                        if bar is not None:
                            bar.update(occurrences[key])

            async def take_over(items: dict[str, ChatRequest]) -> None:
                by_model: dict[str, dict[str, ChatRequest]] = {}
                for key, req in items.items():
                    by_model.setdefault(req.model, {})[key] = req
                await _all_or_nothing(self._jobs(specs, providers, by_model, run))

            stopper = asyncio.Event()

            async def work() -> None:
                try:
                    await _all_or_nothing(jobs)
                    if waiting:
                        await wait_for_claimed(claims, journal, waiting, holders, answered=answered,
                                               send=take_over, poll_s=self.claim_poll_s)
                finally:
                    stopper.set()

            try:
                await _all_or_nothing([work(), self._tick(run, stopper, guard)])
            finally:
                await self._close_providers()
            self._report(run)
            return [run.results[k] for k in keys], stats
        finally:
            if bar is not None:
                bar.close()
            await asyncio.to_thread(journal.close if claims is None else lambda: claims.finish(journal))

    def _jobs(self, specs: dict[str, ModelSpec], providers: dict, todo: dict[str, dict[str, ChatRequest]],
              run: Run) -> list[Awaitable]:
        """One job per model: its provider's batch API (batch: true) or streamed requests."""
        jobs = []
        for model, items in todo.items():
            spec, provider = specs[model], providers[model]
            if spec.batch and provider.supports_batch:
                runner = BatchRunner(spec, provider, run, poll_s=self.batch_poll_s,
                                     wait_s=self.batch_wait_s, backoff=self.backoff)
                jobs.append(runner.run(items))
            else:
                if spec.batch:
                    log.info("model %s: provider %s has no batch API; sending requests directly",
                             spec.name, spec.provider)
                jobs.append(self._stream(spec, provider, items, run))
        return jobs

    # -- internals -------------------------------------------------------------------------------------
    def _estimate(self, specs: dict[str, ModelSpec], todo: dict[str, dict[str, ChatRequest]]) -> float:
        averages = average_output_tokens(self.warehouse, list(todo))
        return sum(model_estimate(specs[m], list(items.values()), len(items), averages.get(m)).est_usd
                   for m, items in todo.items())

    def _provider(self, spec: ModelSpec) -> Provider:
        if spec.provider not in self._providers:
            try:
                self._providers[spec.provider] = make_provider(spec.provider)
            except ValueError as exc:
                raise ConfigError(f"model {spec.name}: {exc}") from None
        return self._providers[spec.provider]

    async def _close_providers(self) -> None:
        for p in self._providers.values():
            await p.aclose()
        self._providers.clear()  # clients hold loop-bound connections

    def _make_bar(self, stats: RunStats):
        from tqdm.auto import tqdm

        return tqdm(total=stats.total, initial=stats.cache_hits, desc="llm requests", unit="req",
                    dynamic_ncols=True, mininterval=0.5, smoothing=0.1, file=sys.stderr)

    def _report(self, run: Run) -> None:
        if run.bar is not None:
            st = run.stats
            run.bar.set_postfix_str(f"hits {st.cache_hits} failed {st.failed} 429s {st.rate_limited} "
                                    f"tok {st.input_tokens}+{st.output_tokens} ${st.cost_usd:.4f}",
                                    refresh=True)
        if self.progress:
            self.progress(run.stats)

    async def _tick(self, run: Run, stopper: asyncio.Event, guard: RunGuard | None = None) -> None:
        """Flush the journal, keep the claims' heartbeat and report progress at a steady cadence, not per
        request; raise when the guard stops the run. Warehouse chores run in a background thread so a
        contended file never delays the guard."""
        guard = guard or RunGuard()
        last = time.monotonic()
        chores: asyncio.Future | None = None
        try:
            while not stopper.is_set():
                try:
                    await asyncio.wait_for(stopper.wait(), timeout=0.05 if guard.stopping else 0.5)
                except TimeoutError:
                    pass
                guard.check()
                if (chores is None or chores.done()) and guard.chores_due(run.journal):
                    chores = asyncio.ensure_future(asyncio.to_thread(guard.chores, run.journal))
                if run.bar is not None:
                    st = run.stats
                    run.bar.set_postfix_str(f"hits {st.cache_hits} failed {st.failed} 429s {st.rate_limited} "
                                            f"${st.cost_usd:.4f}", refresh=False)
                if self.progress and time.monotonic() - last >= self.progress_every_s:
                    self.progress(run.stats)
                    last = time.monotonic()
        finally:
            if chores is not None:
                await asyncio.gather(chores, return_exceptions=True)

    def backoff(self, attempt: int) -> float:
        """Capped exponential backoff with full jitter around the nominal wait (0.5x .. 1.5x)."""
        return min(self.backoff_cap_s, self.backoff_base_s * 2 ** (attempt - 1)) * (0.5 + random.random())

    async def _stream(self, spec: ModelSpec, provider: Provider, items: dict[str, ChatRequest],
                      run: Run) -> None:
        """Send one model's requests with a pool of workers that grows with the in-flight window.

        Twice as many workers as the window (limits.py: Little's law on the measured latency, capped by
        max_concurrency): a request sleeping in backoff or a pause holds a worker but not a slot, so the
        slots stay busy. Workers (not one task per request) keep memory flat at 100k requests.
        """
        limiter = None if provider.local else ModelLimiter.from_spec(spec)
        url = spec.base_url or f"the {spec.provider} API"
        reach = None if provider.local else Reachability(spec.name, url)
        queue = deque(items.items())
        guard = _BadRequestGuard(spec.name, self.bad_request_limit)

        def target() -> int:
            if limiter is None:
                return spec.max_concurrency
            return min(2 * spec.max_concurrency, 2 * limiter.window_size() + 2)

        async def worker() -> None:
            while queue:
                key, req = queue.popleft()
                res = await self._one(key, req, spec, provider, limiter, run.stats, reach)
                guard.observe(res)
                run.finish(res, spec)

        await run_pool(worker, target, lambda: len(queue))

    async def _one(self, key: str, req: ChatRequest, spec: ModelSpec, provider: Provider,
                   limiter: ModelLimiter | None, stats: RunStats, reach: Reachability | None = None
                   ) -> ChatResult:
        temperature, max_tokens = sampling(spec, req)
        est_in = estimate_input_tokens(req)
        attempts = 0  # every call
        failures = 0  # failures other than 429, which count against max_retries
        limited = 0  # 429s: the server asked us to wait, which is not the request's fault
        t0 = time.monotonic()
        while True:
            attempts += 1
            err: ProviderError | None = None
            charge = None
            try:
                if limiter is None:
                    reply = await provider.complete(spec, req, temperature, max_tokens)
                else:
                    async with limiter.slot(est_in, max_tokens) as charge:
                        try:
                            reply = await provider.complete(spec, req, temperature, max_tokens)
                        except BaseException:
                            charge.settle(est_in, 0)
                            raise
                        charge.settle(reply.input_tokens, reply.output_tokens)
            except ProviderError as exc:
                err = exc
            except Exception as exc:  # noqa: BLE001 - nothing a provider raises may crash a long run
                err = ProviderError(f"model {spec.name}: unexpected {type(exc).__name__}: {exc}",
                                    retryable=True)
            if reach is not None:
                reach.observe(err)  # a streak of connection failures stops the model (FatalModelError)
            if err is None:
                cost = cost_of(spec, reply.input_tokens, reply.output_tokens)
                return ChatResult(key, spec.name, "ok", reply.text, reply.input_tokens, reply.output_tokens,
                                  cost, time.monotonic() - t0, attempts)
            if err.fatal:
                raise FatalModelError(str(err))
            if err.status == 429:
                stats.rate_limited += 1
                limited += 1
                if charge is not None:  # a pause for the announced wait; a cut only if 429s follow the rate
                    limiter.rate_limited(charge.seq, err.retry_after_s, budget_exhausted(err))
            else:
                failures += 1
            if not err.retryable or failures > spec.max_retries or limited > RATE_LIMIT_RETRIES * (
                    spec.max_retries + 1):
                error = str(err) if not err.retryable else f"gave up after {attempts} attempts: {err}"
                return ChatResult(key, spec.name, "failed", None, attempts=attempts, error=error,
                                  latency_s=time.monotonic() - t0)
            stats.retries += 1
            nth = limited if err.status == 429 else failures
            await asyncio.sleep(err.retry_after_s if err.retry_after_s is not None else self.backoff(nth))


class _BadRequestGuard:
    """Stops a model whose first answers are all request errors: every request will fail the same way."""

    def __init__(self, model: str, limit: int):
        self.model, self.limit = model, limit
        self.ok = 0
        self.bad = 0

    def observe(self, res: ChatResult) -> None:
        if res.ok:
            self.ok += 1
        elif self.ok == 0 and res.attempts == 1 and self.limit > 0:
            self.bad += 1
            if self.bad >= self.limit:
                raise FatalModelError(f"model {self.model}: the first {self.bad} requests were all rejected "
                                      f"without an answer; last error: {res.error}")


async def _all_or_nothing(coros: list[Awaitable]) -> None:
    """Run coroutines concurrently; on the first error cancel the rest and raise that error."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    if not tasks:
        return
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    for t in pending:
        t.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
    for t in tasks:
        if t.done() and not t.cancelled() and t.exception() is not None:
            raise t.exception()


def _from_row(row: dict) -> ChatResult:
    return ChatResult(
        request_key=row["request_key"], model=row["model"], status=row["status"], text=row["text"],
        input_tokens=int(row["input_tokens"] or 0), output_tokens=int(row["output_tokens"] or 0),
        cost_usd=float(row["cost_usd"] or 0.0), latency_s=float(row["latency_s"] or 0.0),
        attempts=int(row["attempts"] or 0), error=row["error"], cached=True,
    )
