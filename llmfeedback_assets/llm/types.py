"""Request and result types shared by the gateway and its providers."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ChatRequest:
    """One model call. Everything that changes the answer is part of the request key; `tag` is not."""

    model: str
    messages: tuple[tuple[str, str], ...]
    temperature: float | None = None
    max_tokens: int | None = None
    sample: int = 0
    tag: str = field(default="", compare=False)

    @classmethod
    def of(cls, model: str, messages: list[dict] | list[tuple[str, str]], **kw) -> ChatRequest:
        msgs = tuple((m["role"], m["content"]) if isinstance(m, dict) else (m[0], m[1]) for m in messages)
        return cls(model=model, messages=msgs, **kw)

    def message_dicts(self) -> list[dict]:
        return [{"role": r, "content": c} for r, c in self.messages]


def request_key(provider: str, model_id: str, req: ChatRequest, temperature: float, max_tokens: int) -> str:
    """Hash of the canonical request: provider, model id, messages and sampling parameters."""
    canon = json.dumps(
        {
            "provider": provider,
            "model": model_id,
            "messages": [[r, c] for r, c in req.messages],
            "temperature": round(float(temperature), 6),
            "max_tokens": int(max_tokens),
            "sample": int(req.sample),
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()[:32]


@dataclass
class ChatResult:
    request_key: str
    model: str
    status: str  # "ok" | "failed"
    text: str | None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    attempts: int = 0
    error: str | None = None
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class ProviderReply:
    text: str
    input_tokens: int
    output_tokens: int


class ProviderError(Exception):
    """A provider failure, classified for the retry policy.

    `retryable`: worth another attempt (429, 5xx, timeouts, dropped connections, malformed bodies).
    `fatal`: the whole run is misconfigured (bad key, unknown model, no quota) and must stop at once.
    """

    def __init__(self, message: str, retryable: bool, retry_after_s: float | None = None,
                 status: int | None = None, fatal: bool = False):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after_s = retry_after_s
        self.status = status
        self.fatal = fatal


class FatalModelError(RuntimeError):
    """A configuration-level failure (bad key, unknown model, no quota): retrying cannot help."""


class BatchPending(RuntimeError):
    """Batch jobs are still running when the run's wait limit is reached. Their ids are in the journal,
    so rerunning collects the results without resubmitting anything."""

    def __init__(self, message: str, batch_ids: list[str]):
        super().__init__(message)
        self.batch_ids = batch_ids
