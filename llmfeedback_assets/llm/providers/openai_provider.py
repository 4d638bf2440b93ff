"""OpenAI chat completions and the OpenAI Batch API; also any OpenAI-compatible server (vLLM, Ollama,
llama.cpp server) through `base_url`.

Calls go through the official SDK client (auth, base URL, timeouts, status errors) but ask it for the raw
body (`client.post(..., cast_to=bytes)`) and parse the few fields we need ourselves. That skips the SDK's
typed-parameter transform and response-model construction (about 40% of the client's CPU per request at a
few hundred requests per second) and lets a malformed body become a retryable error instead of a crash.
"""

from __future__ import annotations

import json
import os

import openai

from ...config import ModelSpec
from ..types import ChatRequest, ProviderError, ProviderReply
from .base import BatchItem, BatchOutcome, BatchState, classify_status_error, fast_http_client, malformed

__all__ = ["OpenAIProvider", "classify_status_error", "parse_chat_completion"]

_ENDED = {"completed", "expired", "failed", "cancelled"}


def parse_chat_completion(model: str, data: dict | bytes) -> ProviderReply:
    """Text and usage from a chat.completion body; anything unexpected is a retryable malformed response."""
    try:
        if not isinstance(data, dict):
            data = json.loads(data)
        text = data["choices"][0]["message"]["content"]
        if not isinstance(text, str):
            raise ValueError(f"message content is {type(text).__name__}, not text")
        usage = data.get("usage") or {}
        return ProviderReply(text=text, input_tokens=int(usage.get("prompt_tokens") or 0),
                             output_tokens=int(usage.get("completion_tokens") or 0))
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise malformed(model, f"{type(exc).__name__}: {exc}") from None


class OpenAIProvider:
    name = "openai"
    local = False
    supports_batch = True

    def __init__(self):
        self._clients: dict[str, openai.AsyncOpenAI] = {}

    def client(self, spec: ModelSpec) -> openai.AsyncOpenAI:
        if spec.name not in self._clients:
            key = os.environ.get(spec.api_key_env, "") if spec.api_key_env else ""
            self._clients[spec.name] = openai.AsyncOpenAI(
                api_key=key or "not-needed", base_url=spec.base_url, max_retries=0, timeout=spec.timeout_s,
                http_client=fast_http_client(openai)
            )
        return self._clients[spec.name]

    @staticmethod
    def body(spec: ModelSpec, req: ChatRequest, temperature: float, max_tokens: int) -> dict:
        # The official API renamed the output cap; compatible servers (vLLM, Ollama, llama.cpp) know
        # max_tokens.
        cap = "max_completion_tokens" if spec.base_url is None else "max_tokens"
        return {"model": spec.model_id, "messages": req.message_dicts(), "temperature": temperature,
                cap: max_tokens}

    async def _sdk(self, spec: ModelSpec, coro):
        """Await one SDK call, turning every failure into a classified ProviderError."""
        try:
            return await coro
        except openai.APIStatusError as exc:
            raise classify_status_error(spec.name, exc.status_code, _body(exc),
                                        exc.response.headers) from None
        except (openai.APITimeoutError, openai.APIConnectionError) as exc:
            raise ProviderError(f"model {spec.name}: {type(exc).__name__}: {exc}", retryable=True) from None
        except (openai.APIError, ValueError) as exc:  # ValueError: a body that is not JSON
            raise malformed(spec.name, f"{type(exc).__name__}: {exc}") from None

    async def complete(self, spec: ModelSpec, req: ChatRequest, temperature: float,
                       max_tokens: int) -> ProviderReply:
        raw = await self._sdk(spec, self.client(spec).post(
            "/chat/completions", body=self.body(spec, req, temperature, max_tokens), cast_to=bytes))
        return parse_chat_completion(spec.name, raw)

    # -- Batch API -------------------------------------------------------------------------------------
    async def submit_batch(self, spec: ModelSpec, items: list[BatchItem]) -> str:
        lines = [json.dumps({"custom_id": it.key, "method": "POST", "url": "/v1/chat/completions",
                             "body": self.body(spec, it.req, it.temperature, it.max_tokens)},
                            ensure_ascii=False)
                 for it in items]
        data = ("\n".join(lines) + "\n").encode("utf-8")
        client = self.client(spec)
        f = await self._sdk(spec, client.files.create(file=(f"llmfeedback-{spec.name}.jsonl", data),
                                                      purpose="batch"))
        b = await self._sdk(spec, client.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h",
            metadata={"source": "llmfeedback", "model": spec.name}))
        return b.id

    async def poll_batch(self, spec: ModelSpec, batch_id: str) -> BatchState:
        b = await self._sdk(spec, self.client(spec).batches.retrieve(batch_id))
        rc = b.request_counts
        detail = f"{rc.completed}/{rc.total} completed, {rc.failed} failed" if rc else ""
        if b.status == "failed":
            errs = [getattr(e, "message", str(e)) for e in ((b.errors and b.errors.data) or [])]
            detail = "; ".join(errs) or "batch failed validation"
        return BatchState(ended=b.status in _ENDED, status=b.status, detail=detail,
                          failed=b.status == "failed")

    async def fetch_batch(self, spec: ModelSpec, batch_id: str) -> list[BatchOutcome]:
        client = self.client(spec)
        b = await self._sdk(spec, client.batches.retrieve(batch_id))
        out: list[BatchOutcome] = []
        for fid in (b.output_file_id, b.error_file_id):
            if not fid:
                continue
            content = await self._sdk(spec, client.files.content(fid))
            for line in content.content.decode("utf-8", "replace").splitlines():
                if line.strip():
                    parsed = _batch_line(spec.name, line)
                    if parsed is not None:
                        out.append(parsed)
        return out

    async def aclose(self) -> None:
        for c in self._clients.values():
            await c.close()
        self._clients.clear()


def _batch_line(model: str, line: str) -> BatchOutcome | None:
    """One line of a batch output or error file; None when the line is unreadable (the item is
    resubmitted)."""
    try:
        row = json.loads(line)
        key = str(row["custom_id"])
    except (ValueError, KeyError, TypeError):
        return None
    resp, err = row.get("response"), row.get("error")
    if isinstance(resp, dict) and resp.get("status_code") == 200:
        try:
            return BatchOutcome(key, reply=parse_chat_completion(model, resp.get("body")))
        except ProviderError as exc:
            return BatchOutcome(key, error=exc)
    if isinstance(resp, dict) and resp.get("status_code"):
        return BatchOutcome(key, error=classify_status_error(model, int(resp["status_code"]),
                                                            json.dumps(resp.get("body")), None))
    code = (err or {}).get("code", "unknown") if isinstance(err, dict) else "unknown"
    message = (err or {}).get("message", "") if isinstance(err, dict) else ""
    return BatchOutcome(key, error=ProviderError(f"model {model}: batch item {code}: {message}",
                                                 retryable=True))


def _body(exc) -> str:
    try:
        return exc.response.text
    except Exception:  # noqa: BLE001 - a broken body must not hide the status
        return str(exc)
