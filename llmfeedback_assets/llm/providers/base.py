"""Provider interface: one async call, errors classified for the gateway's retry policy; optional batch
API."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Protocol

from ...config import ModelSpec
from ..types import ChatRequest, ProviderError, ProviderReply

# Statuses whose failure no retry can fix. 401/403/404 mean the whole run is misconfigured (key, access,
# model name); 400/422 concern one request (e.g. a prompt longer than the context).
RUN_FATAL_STATUSES = {401, 403, 404}
REQUEST_FATAL_STATUSES = {400, 422}
_CAUSES = {400: "bad request", 401: "authentication failed (check the API key variable)",
           403: "permission denied", 404: "model or endpoint not found", 422: "unprocessable request"}


class Provider(Protocol):
    """One model API. A provider with `supports_batch` also has `submit_batch(spec, items) -> batch id`,
    `poll_batch(spec, batch_id) -> BatchState` and `fetch_batch(spec, batch_id) -> list[BatchOutcome]`,
    which batch.py calls."""

    name: str
    local: bool  # no remote server to protect: skip the rate limiter
    supports_batch: bool

    async def complete(self, spec: ModelSpec, req: ChatRequest, temperature: float,
                       max_tokens: int) -> ProviderReply:
        """Return the reply or raise ProviderError (retryable or not)."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class BatchItem:
    key: str  # the request key, sent as the batch's custom_id
    req: ChatRequest
    temperature: float
    max_tokens: int


@dataclass(frozen=True)
class BatchState:
    ended: bool
    status: str  # the provider's own word: in_progress, completed, expired, ended ...
    detail: str = ""
    failed: bool = False  # the whole batch was rejected (validation); `detail` says why


@dataclass(frozen=True)
class BatchOutcome:
    key: str
    reply: ProviderReply | None = None
    error: ProviderError | None = None  # retryable errors (and expiry) are resubmitted


def parse_retry_after(headers) -> float | None:
    """Seconds to wait from `retry-after-ms` (OpenAI) or `retry-after` (seconds or an HTTP date)."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    ra = headers.get("retry-after")
    if ra:
        try:
            return max(0.0, float(ra))
        except ValueError:
            try:
                when = parsedate_to_datetime(ra)
                return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())
            except (TypeError, ValueError):
                return None
    return None


def classify_status_error(model: str, status: int, body_text: str, headers) -> ProviderError:
    """Which HTTP failures may be retried, and with what wait; shared by every HTTP provider."""
    low = body_text.lower()
    snippet = " ".join(body_text.split())[:300]
    if "insufficient_quota" in low or "credit balance" in low or "exceeded your current quota" in low:
        return ProviderError(f"model {model}: insufficient quota / billing (HTTP {status}): {snippet}",
                             retryable=False, status=status, fatal=True)
    if status in RUN_FATAL_STATUSES:
        return ProviderError(f"model {model}: {_CAUSES[status]} (HTTP {status}): {snippet}", retryable=False,
                             status=status, fatal=True)
    if status in REQUEST_FATAL_STATUSES:
        return ProviderError(f"model {model}: {_CAUSES[status]} (HTTP {status}): {snippet}", retryable=False,
                             status=status)
    if status == 429 or status >= 500 or status in (408, 409):
        return ProviderError(f"model {model}: HTTP {status}: {snippet[:120]}", retryable=True,
                             retry_after_s=parse_retry_after(headers), status=status)
    return ProviderError(f"model {model}: unexpected HTTP {status}: {snippet}", retryable=False,
                         status=status)


def fast_http_client(sdk) -> object | None:
    """The SDK's aiohttp transport when aiohttp is installed, else None (the SDK's default httpx one).

    At a few hundred requests per second the default transport's connection pool costs about as much CPU
    as everything else together; the aiohttp one halves the client's CPU per request. Set
    LLMFEEDBACK_HTTP=httpx to force the default."""
    if os.environ.get("LLMFEEDBACK_HTTP", "").strip().lower() == "httpx":
        return None
    try:
        return sdk.DefaultAioHttpClient()
    except (RuntimeError, ImportError, AttributeError):
        return None


def malformed(model: str, what: object) -> ProviderError:
    return ProviderError(f"model {model}: malformed response: {what}"[:400], retryable=True)
