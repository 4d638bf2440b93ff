"""The offline simulator as a provider: no network, deterministic per request key."""

from __future__ import annotations

from ...config import ModelSpec
from .. import sim
from ..types import ChatRequest, ProviderReply, request_key


def approx_tokens(text: str) -> int:
    return max(1, len(text) // 4)


class SimProvider:
    name = "sim"
    local = True
    supports_batch = False

    async def complete(self, spec: ModelSpec, req: ChatRequest, temperature: float,
                       max_tokens: int) -> ProviderReply:
        key = request_key("sim", spec.model_id, req, temperature, max_tokens)
        text = sim.simulate(spec, list(req.messages), key)
        return ProviderReply(text=text, input_tokens=sum(approx_tokens(c) for _, c in req.messages),
                             output_tokens=approx_tokens(text))

    async def aclose(self) -> None:
        return None
