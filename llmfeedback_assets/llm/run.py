"""The state of one gateway run, shared by the streaming path (gateway.py), batch mode (batch.py) and the
dry-run estimate (cost.py): request keys, sampling parameters, prices, token estimates, and the run's
counters (`RunStats`) and results (`Run`)."""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field

from ..config import ModelSpec
from .journal import Journal
from .types import ChatRequest, ChatResult, request_key

log = logging.getLogger("llmfeedback.gateway")

MAX_FAILURE_LOGS = 20


def sampling(spec: ModelSpec, req: ChatRequest) -> tuple[float, int]:
    """The temperature and max_tokens a request is sent with: its own, else the model's defaults."""
    temperature = spec.temperature if req.temperature is None else req.temperature
    max_tokens = spec.max_tokens if req.max_tokens is None else req.max_tokens
    return float(temperature), int(max_tokens)


def request_key_for(spec: ModelSpec, req: ChatRequest) -> str:
    """The request key of `req` sent to `spec` (what the journal is keyed by)."""
    return request_key(spec.provider, spec.model_id, req, *sampling(spec, req))


def estimate_input_tokens(req: ChatRequest) -> int:
    """A cheap, tokenizer-free estimate (~4 characters per token plus a few per message)."""
    return max(1, sum(len(c) for _, c in req.messages) // 4 + 4 * len(req.messages))


def cost_of(spec: ModelSpec, input_tokens: int, output_tokens: int, batch: bool = False) -> float:
    cost = (input_tokens * spec.price_input_per_mtok + output_tokens * spec.price_output_per_mtok) / 1e6
    return cost * (0.5 if batch else 1.0)


@dataclass
class RunStats:
    total: int = 0  # requests asked for (duplicates included)
    done: int = 0  # of those, answered (from the journal or the provider) or failed for good
    cache_hits: int = 0  # answered from the journal
    sent: int = 0  # distinct requests sent to a provider in this run
    failed: int = 0  # distinct requests that failed for good
    retries: int = 0  # extra attempts after a retryable failure
    rate_limited: int = 0  # 429 answers received
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    batches_submitted: int = 0
    batches_resumed: int = 0  # batch jobs of an earlier run collected by this one
    estimated_usd: float = 0.0  # dry-run estimate of what this run sends, made before sending
    simulated_usd: float = 0.0  # the part of cost_usd priced on simulator models: nobody was billed
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        """Requests answered by a provider per second (journal hits are not work)."""
        return (self.done - self.cache_hits) / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def line(self) -> str:
        rate = self.rate
        left = self.total - self.done
        eta = f"{left / rate:.0f}s" if rate > 0 else ("0s" if left == 0 else "?")
        return (f"{self.done}/{self.total} done, {rate:.1f}/s, ETA {eta}, cache hits {self.cache_hits}, "
                f"failed {self.failed}, retries {self.retries}, 429s {self.rate_limited}, "
                f"tokens {self.input_tokens}+{self.output_tokens}, "
                f"${self.cost_usd:.4f}{self._simulated_part()}"
                + (f" (estimate ${self.estimated_usd:.4f})" if self.estimated_usd else ""))

    def _simulated_part(self) -> str:
        """The log says what the metadata's cost_kind says: simulator dollars are never billed."""
        if self.simulated_usd <= 0:
            return ""
        if self.simulated_usd >= self.cost_usd:
            return " simulated, not billed"
        return f" (of which ${self.simulated_usd:.4f} simulated, not billed)"

    def as_metadata(self) -> dict:
        return {"requests": self.total, "cache_hits": self.cache_hits, "sent": self.sent,
                "failed": self.failed, "retries": self.retries, "rate_limited_429": self.rate_limited,
                "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "cost_usd": round(self.cost_usd, 6), "wall_s": round(self.elapsed_s, 3),
                "batches_submitted": self.batches_submitted, "batches_resumed": self.batches_resumed,
                "est_cost_usd": round(self.estimated_usd, 6), "cost_kind": self.cost_kind}

    @property
    def cost_kind(self) -> str:
        """Whether cost_usd is money: the simulator's prices are configured but never billed."""
        if self.simulated_usd <= 0:
            return "USD"
        if self.simulated_usd >= self.cost_usd:
            return "simulated $ (simulator models, nothing billed)"
        return f"USD, of which simulated $ {self.simulated_usd:.4f} (not billed)"


_ADDITIVE = ("total", "done", "cache_hits", "sent", "failed", "retries", "rate_limited", "input_tokens",
             "output_tokens", "cost_usd", "batches_submitted", "batches_resumed", "estimated_usd",
             "simulated_usd")


def merge_stats(*stats: RunStats | None) -> RunStats | None:
    """One RunStats over several gateway runs (one asset's metadata); None when there were none."""
    runs = [st for st in stats if st is not None]
    if not runs:
        return None
    out = RunStats(started=min(st.started for st in runs))
    for st in runs:
        for f in _ADDITIVE:
            setattr(out, f, getattr(out, f) + getattr(st, f))
    return out


class Run:
    """The mutable state of one `Gateway.arun`: results, stats, the journal, the progress bar."""

    def __init__(self, journal: Journal, stats: RunStats, occurrences: Counter, bar):
        self.journal = journal
        self.stats = stats
        self.occurrences = occurrences
        self.results: dict[str, ChatResult] = {}
        self.bar = bar

    def finish(self, res: ChatResult, spec: ModelSpec, batch: bool = False) -> None:
        """Journal one final result and count it."""
        self.journal.record(res, provider=spec.provider, batch=batch)
        self.results[res.request_key] = res
        st = self.stats
        n = self.occurrences[res.request_key]
        st.done += n
        st.sent += 1
        st.input_tokens += res.input_tokens
        st.output_tokens += res.output_tokens
        st.cost_usd += res.cost_usd
        if spec.is_simulated:
            st.simulated_usd += res.cost_usd
        if not res.ok:
            st.failed += 1
            if st.failed <= MAX_FAILURE_LOGS:  # a broken model must not flood the log
                log.warning("request %s to %s failed: %s%s", res.request_key[:12], spec.name, res.error,
                            " (further failures are only counted)" if st.failed == MAX_FAILURE_LOGS else "")
        if self.bar is not None:
            self.bar.update(n)
