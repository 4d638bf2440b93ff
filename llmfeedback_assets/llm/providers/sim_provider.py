"""The offline simulator as a provider: no network, deterministic per request key.

Like a real model, it samples only at a temperature above zero: at temperature 0 every sample index of a
request gets the same text (greedy decoding), so best-of-n over greedy samples shows n identical candidates
instead of hiding them."""

from __future__ import annotations

import dataclasses

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
        greedy = dataclasses.replace(req, sample=0) if temperature <= 0 else req
        text = sim.simulate(spec, list(req.messages), request_key("sim", spec.model_id, greedy, temperature,
                                                                 max_tokens))
        return ProviderReply(text=text, input_tokens=sum(approx_tokens(c) for _, c in req.messages),
                             output_tokens=approx_tokens(text))

    async def aclose(self) -> None:
        return None
