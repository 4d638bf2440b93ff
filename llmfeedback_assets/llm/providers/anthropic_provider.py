"""Anthropic messages API: the system message travels separately from the turns."""

from __future__ import annotations

import os

import anthropic

from ...config import ModelSpec
from ..types import ChatRequest, ProviderError, ProviderReply
from .openai_provider import _body, classify_status_error


def split_system(req: ChatRequest) -> tuple[str | None, list[dict]]:
    system = "\n\n".join(c for r, c in req.messages if r == "system") or None
    return system, [{"role": r, "content": c} for r, c in req.messages if r != "system"]


class AnthropicProvider:
    name = "anthropic"

    def __init__(self):
        self._clients: dict[str, anthropic.AsyncAnthropic] = {}

    def client(self, spec: ModelSpec) -> anthropic.AsyncAnthropic:
        if spec.name not in self._clients:
            key = os.environ.get(spec.api_key_env, "") if spec.api_key_env else ""
            self._clients[spec.name] = anthropic.AsyncAnthropic(
                api_key=key, base_url=spec.base_url, max_retries=0, timeout=spec.timeout_s
            )
        return self._clients[spec.name]

    async def complete(self, spec: ModelSpec, req: ChatRequest, temperature: float, max_tokens: int) -> ProviderReply:
        system, messages = split_system(req)
        kwargs = {"system": system} if system else {}
        try:
            resp = await self.client(spec).messages.create(
                model=spec.model_id, messages=messages, temperature=temperature, max_tokens=max_tokens, **kwargs
            )
        except anthropic.APIStatusError as exc:
            raise classify_status_error(spec.name, exc.status_code, _body(exc), exc.response.headers) from None
        except (anthropic.APITimeoutError, anthropic.APIConnectionError) as exc:
            raise ProviderError(f"{spec.name}: {type(exc).__name__}", retryable=True) from None
        except anthropic.APIError as exc:
            raise ProviderError(f"{spec.name}: malformed response: {exc}", retryable=True) from None
        try:
            text = "".join(block.text for block in resp.content if getattr(block, "type", "") == "text")
            return ProviderReply(text=text, input_tokens=int(resp.usage.input_tokens or 0),
                                 output_tokens=int(resp.usage.output_tokens or 0))
        except (AttributeError, TypeError) as exc:
            raise ProviderError(f"{spec.name}: malformed response: {exc}", retryable=True) from None

    async def aclose(self) -> None:
        for c in self._clients.values():
            await c.close()
        self._clients.clear()
