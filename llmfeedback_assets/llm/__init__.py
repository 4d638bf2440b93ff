"""One gateway for every model call: providers, limits, retries, the request journal, batch mode, cost."""

from .cost import CostEstimate, ModelEstimate, estimate_cost, format_estimate
from .gateway import Gateway, RunStats, cost_of
from .types import BatchPending, ChatRequest, ChatResult, FatalModelError, ProviderError, request_key

__all__ = ["BatchPending", "ChatRequest", "ChatResult", "CostEstimate", "FatalModelError", "Gateway",
           "ModelEstimate", "ProviderError", "RunStats", "cost_of", "estimate_cost", "format_estimate",
           "request_key"]
