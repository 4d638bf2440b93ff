"""Dry-run cost estimate: what a set of requests would cost, before sending any of them.

Requests already answered in the journal cost nothing. Input tokens are estimated from the text (about four
characters per token); output tokens from the model's own average in the journal when it has answered
before, else a quarter of its `max_tokens`. `max_usd` is the ceiling if every answer used all of
`max_tokens`. Batch-mode models are priced at half.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import pandas as pd

from ..config import Config, ModelSpec
from ..warehouse import Warehouse
from .journal import Journal
from .run import cost_of, estimate_input_tokens, request_key_for
from .types import ChatRequest


@dataclass
class ModelEstimate:
    model: str
    provider: str
    batch: bool
    requests: int  # distinct requests
    cached: int  # answered in the journal already
    to_send: int
    est_input_tokens: int
    est_output_tokens: int
    est_usd: float
    max_usd: float
    output_tokens_basis: str  # "journal average" or "max_tokens/4"


@dataclass
class CostEstimate:
    models: list[ModelEstimate] = field(default_factory=list)

    @property
    def total_usd(self) -> float:
        return sum(m.est_usd for m in self.models)

    @property
    def max_usd(self) -> float:
        return sum(m.max_usd for m in self.models)

    @property
    def to_send(self) -> int:
        return sum(m.to_send for m in self.models)

    @property
    def cached(self) -> int:
        return sum(m.cached for m in self.models)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(m) for m in self.models])

    def as_metadata(self) -> dict:
        """Flat values for asset metadata."""
        return {"est_cost_usd": round(self.total_usd, 6), "max_cost_usd": round(self.max_usd, 6),
                "est_requests_to_send": self.to_send, "est_requests_cached": self.cached,
                "est_input_tokens": sum(m.est_input_tokens for m in self.models),
                "est_output_tokens": sum(m.est_output_tokens for m in self.models)}


def estimate_cost(config: Config, warehouse: Warehouse, requests: list[ChatRequest]) -> CostEstimate:
    """Estimate the cost of `requests` without sending anything (reads the journal only)."""
    by_model: dict[str, dict[str, ChatRequest]] = {}
    for req in requests:
        by_model.setdefault(req.model, {})[request_key_for(config.model(req.model), req)] = req
    journal = Journal(warehouse, recover=False)  # a dry run reads; it does not merge spools
    try:
        hits = journal.lookup([k for reqs in by_model.values() for k in reqs])
    finally:
        journal.close()
    averages = average_output_tokens(warehouse, list(by_model))
    out = CostEstimate()
    for model, reqs in by_model.items():
        missing = [r for k, r in reqs.items() if k not in hits]
        out.models.append(model_estimate(config.model(model), missing, len(reqs), averages.get(model)))
    return out


def model_estimate(spec: ModelSpec, missing: list[ChatRequest], n_requests: int,
                   avg_output_tokens: float | None) -> ModelEstimate:
    """The estimate for one model's requests still to send (`n_requests` distinct ones in all)."""
    est_in = sum(estimate_input_tokens(r) for r in missing)
    caps = [spec.max_tokens if r.max_tokens is None else r.max_tokens for r in missing]
    if avg_output_tokens is not None:
        basis = "journal average"
        est_out = int(sum(min(c, avg_output_tokens) for c in caps))
    else:
        basis = "max_tokens/4"
        est_out = int(sum(c / 4 for c in caps))
    return ModelEstimate(
        model=spec.name, provider=spec.provider, batch=spec.batch, requests=n_requests,
        cached=n_requests - len(missing), to_send=len(missing), est_input_tokens=est_in,
        est_output_tokens=est_out, est_usd=cost_of(spec, est_in, est_out, batch=spec.batch),
        max_usd=cost_of(spec, est_in, sum(caps), batch=spec.batch), output_tokens_basis=basis)


def average_output_tokens(warehouse: Warehouse, models: list[str]) -> dict[str, float]:
    if not models:
        return {}
    df = warehouse.query(
        "SELECT model, avg(output_tokens) AS avg_out FROM llm_journal "
        "WHERE status = 'ok' AND model IN (SELECT unnest(?)) GROUP BY model", [models])
    return {r["model"]: float(r["avg_out"]) for r in df.to_dict("records") if r["avg_out"] is not None}


def format_estimate(est: CostEstimate) -> str:
    """A plain-text table for the command line (`llmfeedback estimate-cost`)."""
    headers = ["model", "provider", "requests", "cached", "to send", "est in tok", "est out tok", "est $",
               "max $"]
    rows = [[m.model, m.provider + (" (batch)" if m.batch else ""), f"{m.requests:,}", f"{m.cached:,}",
             f"{m.to_send:,}", f"{m.est_input_tokens:,}", f"{m.est_output_tokens:,}", f"{m.est_usd:.4f}",
             f"{m.max_usd:.4f}"] for m in est.models]
    rows.append(["total", "", f"{sum(m.requests for m in est.models):,}", f"{est.cached:,}",
                 f"{est.to_send:,}", f"{sum(m.est_input_tokens for m in est.models):,}",
                 f"{sum(m.est_output_tokens for m in est.models):,}", f"{est.total_usd:.4f}",
                 f"{est.max_usd:.4f}"])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    lines = [fmt(headers), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows]
    bases = sorted({f"{m.model}: {m.output_tokens_basis}" for m in est.models})
    lines.append("")
    lines.append("output tokens estimated from " + "; ".join(bases) if bases else "no requests")
    lines.append("journal hits cost nothing; batch-mode models are priced at half; max $ assumes every "
                 "answer uses all of max_tokens")
    return "\n".join(lines)
