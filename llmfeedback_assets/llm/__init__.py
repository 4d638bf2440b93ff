"""One gateway for every model call: providers, limits, retries, the request journal, batch mode, cost."""

from .cost import CostEstimate, ModelEstimate, estimate_cost, format_estimate
from .gateway import Gateway
from .run import RunStats, cost_of, estimate_input_tokens, merge_stats
from .types import BatchPending, ChatRequest, ChatResult, FatalModelError, ProviderError, request_key

__all__ = ["BatchPending", "ChatRequest", "ChatResult", "CostEstimate", "FatalModelError", "Gateway",
           "ModelEstimate", "ProviderError", "RunStats", "cost_of", "estimate_cost", "estimate_input_tokens",
           "format_estimate", "merge_stats", "request_key"]
