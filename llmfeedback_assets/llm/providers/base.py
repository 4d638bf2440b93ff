"""Provider interface: one async call, errors classified for the gateway's retry policy."""

from __future__ import annotations

from typing import Protocol

from ...config import ModelSpec
from ..types import ChatRequest, ProviderReply


class Provider(Protocol):
    name: str

    async def complete(self, spec: ModelSpec, req: ChatRequest, temperature: float, max_tokens: int) -> ProviderReply:
        """Return the reply or raise ProviderError (retryable or not)."""
        ...

    async def aclose(self) -> None: ...


def parse_retry_after(headers) -> float | None:
    """Seconds to wait from `retry-after-ms` (OpenAI) or `retry-after` (seconds or HTTP date)."""
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
            from email.utils import parsedate_to_datetime
            import datetime as dt

            try:
                when = parsedate_to_datetime(ra)
                return max(0.0, (when - dt.datetime.now(dt.timezone.utc)).total_seconds())
            except (TypeError, ValueError):
                return None
    return None
