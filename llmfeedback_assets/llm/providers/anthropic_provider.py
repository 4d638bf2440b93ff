"""Anthropic Messages API and Message Batches. The system message travels separately from the turns.

Like the OpenAI provider, the hot path asks the official SDK client for the raw body and parses it here.
"""

from __future__ import annotations

import json
import os

import anthropic

from ...config import ModelSpec
from ..types import ChatRequest, ProviderError, ProviderReply
from .base import BatchItem, BatchOutcome, BatchState, classify_status_error, fast_http_client, malformed

__all__ = ["AnthropicProvider", "parse_message", "split_system"]


def split_system(req: ChatRequest) -> tuple[str | None, list[dict]]:
    system = "\n\n".join(c for r, c in req.messages if r == "system") or None
    return system, [{"role": r, "content": c} for r, c in req.messages if r != "system"]


def parse_message(model: str, data: dict | bytes) -> ProviderReply:
    """Text and usage from a Messages API body; anything unexpected is a retryable malformed response."""
    try:
        if not isinstance(data, dict):
            data = json.loads(data)
        blocks = data["content"]
        text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
        usage = data.get("usage") or {}
        return ProviderReply(text=text, input_tokens=int(usage.get("input_tokens") or 0),
                             output_tokens=int(usage.get("output_tokens") or 0))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise malformed(model, f"{type(exc).__name__}: {exc}") from None


class AnthropicProvider:
    name = "anthropic"
    local = False
    supports_batch = True

    def __init__(self):
        self._clients: dict[str, anthropic.AsyncAnthropic] = {}

    def client(self, spec: ModelSpec) -> anthropic.AsyncAnthropic:
        if spec.name not in self._clients:
            key = os.environ.get(spec.api_key_env, "") if spec.api_key_env else ""
            self._clients[spec.name] = anthropic.AsyncAnthropic(
                api_key=key, base_url=spec.base_url, max_retries=0, timeout=spec.timeout_s,
                http_client=fast_http_client(anthropic)
            )
        return self._clients[spec.name]

    @staticmethod
    def body(spec: ModelSpec, req: ChatRequest, temperature: float, max_tokens: int) -> dict:
        system, messages = split_system(req)
        body = {"model": spec.model_id, "messages": messages, "temperature": temperature,
                "max_tokens": max_tokens}
        if system:
            body["system"] = system
        return body

    async def _sdk(self, spec: ModelSpec, coro):
        try:
            return await coro
        except anthropic.APIStatusError as exc:
            raise classify_status_error(spec.name, exc.status_code, _body(exc),
                                        exc.response.headers) from None
        except (anthropic.APITimeoutError, anthropic.APIConnectionError) as exc:
            raise ProviderError(f"model {spec.name}: {type(exc).__name__}: {exc}", retryable=True) from None
        except (anthropic.APIError, ValueError) as exc:
            raise malformed(spec.name, f"{type(exc).__name__}: {exc}") from None

    async def complete(self, spec: ModelSpec, req: ChatRequest, temperature: float,
                       max_tokens: int) -> ProviderReply:
        raw = await self._sdk(spec, self.client(spec).post(
            "/v1/messages", body=self.body(spec, req, temperature, max_tokens), cast_to=bytes))
        return parse_message(spec.name, raw)

    # -- Message Batches -------------------------------------------------------------------------------
    async def submit_batch(self, spec: ModelSpec, items: list[BatchItem]) -> str:
        requests = [{"custom_id": it.key, "params": self.body(spec, it.req, it.temperature, it.max_tokens)}
                    for it in items]
        b = await self._sdk(spec, self.client(spec).messages.batches.create(requests=requests))
        return b.id

    async def poll_batch(self, spec: ModelSpec, batch_id: str) -> BatchState:
        b = await self._sdk(spec, self.client(spec).messages.batches.retrieve(batch_id))
        rc = b.request_counts
        detail = (f"{rc.succeeded} succeeded, {rc.errored} errored, {rc.expired} expired, "
                  f"{rc.processing} processing")
        return BatchState(ended=b.processing_status == "ended", status=b.processing_status, detail=detail)

    async def fetch_batch(self, spec: ModelSpec, batch_id: str) -> list[BatchOutcome]:
        async def collect() -> list[BatchOutcome]:
            out = []
            async for item in await self.client(spec).messages.batches.results(batch_id):
                out.append(_batch_result(spec.name, item.to_dict()))
            return out

        return await self._sdk(spec, collect())

    async def aclose(self) -> None:
        for c in self._clients.values():
            await c.close()
        self._clients.clear()


def _batch_result(model: str, row: dict) -> BatchOutcome:
    key = str(row.get("custom_id"))
    result = row.get("result") or {}
    kind = result.get("type")
    if kind == "succeeded":
        try:
            return BatchOutcome(key, reply=parse_message(model, result.get("message")))
        except ProviderError as exc:
            return BatchOutcome(key, error=exc)
    if kind == "errored":
        err = (result.get("error") or {}).get("error") or {}
        etype, message = err.get("type", "api_error"), err.get("message", "")
        status = {"invalid_request_error": 400, "authentication_error": 401, "permission_error": 403,
                  "not_found_error": 404, "rate_limit_error": 429, "overloaded_error": 529}.get(etype, 500)
        return BatchOutcome(key, error=classify_status_error(model, status, f"{etype}: {message}", None))
    return BatchOutcome(key, error=ProviderError(f"model {model}: batch item {kind}", retryable=True))


def _body(exc) -> str:
    try:
        return exc.response.text
    except Exception:  # noqa: BLE001 - a broken body must not hide the status
        return str(exc)
