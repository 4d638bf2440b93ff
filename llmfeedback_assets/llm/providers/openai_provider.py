"""OpenAI chat completions, and any OpenAI-compatible server (vLLM, Ollama, llama.cpp) via base_url."""

from __future__ import annotations

import os

import openai

from ...config import ModelSpec
from ..types import ChatRequest, ProviderError, ProviderReply
from .base import parse_retry_after

FATAL_STATUSES = {400, 401, 403, 404, 422}


def classify_status_error(model: str, status: int, body_text: str, headers) -> ProviderError:
    """Shared by both SDK providers: which HTTP failures may be retried, and with what wait."""
    low = body_text.lower()
    if "insufficient_quota" in low or "credit balance" in low:
        return ProviderError(f"{model}: insufficient quota ({status}): {body_text[:200]}", retryable=False, status=status)
    if status in FATAL_STATUSES:
        cause = {401: "authentication failed (check the API key variable)", 403: "permission denied",
                 404: "model or endpoint not found", 400: "bad request", 422: "unprocessable request"}[status]
        return ProviderError(f"{model}: {cause} ({status}): {body_text[:200]}", retryable=False, status=status)
    return ProviderError(f"{model}: HTTP {status}", retryable=True, retry_after_s=parse_retry_after(headers),
                         status=status)


class OpenAIProvider:
    name = "openai"

    def __init__(self):
        self._clients: dict[str, openai.AsyncOpenAI] = {}

    def client(self, spec: ModelSpec) -> openai.AsyncOpenAI:
        if spec.name not in self._clients:
            key = os.environ.get(spec.api_key_env, "") if spec.api_key_env else ""
            self._clients[spec.name] = openai.AsyncOpenAI(
                api_key=key or "not-needed", base_url=spec.base_url, max_retries=0, timeout=spec.timeout_s
            )
        return self._clients[spec.name]

    async def complete(self, spec: ModelSpec, req: ChatRequest, temperature: float, max_tokens: int) -> ProviderReply:
        try:
            resp = await self.client(spec).chat.completions.create(
                model=spec.model_id, messages=req.message_dicts(), temperature=temperature, max_tokens=max_tokens
            )
        except openai.APIStatusError as exc:
            raise classify_status_error(spec.name, exc.status_code, _body(exc), exc.response.headers) from None
        except (openai.APITimeoutError, openai.APIConnectionError) as exc:
            raise ProviderError(f"{spec.name}: {type(exc).__name__}", retryable=True) from None
        except openai.APIError as exc:  # e.g. a body that is not the JSON we expect
            raise ProviderError(f"{spec.name}: malformed response: {exc}", retryable=True) from None
        try:
            text = resp.choices[0].message.content
            if text is None:
                raise ValueError("empty message content")
            usage = resp.usage
            return ProviderReply(text=text, input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                                 output_tokens=int(getattr(usage, "completion_tokens", 0) or 0))
        except (AttributeError, IndexError, TypeError, ValueError) as exc:
            raise ProviderError(f"{spec.name}: malformed response: {exc}", retryable=True) from None

    async def aclose(self) -> None:
        for c in self._clients.values():
            await c.close()
        self._clients.clear()


def _body(exc) -> str:
    try:
        return exc.response.text
    except Exception:  # noqa: BLE001 - a broken body must not hide the status
        return str(exc)
