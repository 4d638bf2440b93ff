"""One gateway for every model call: providers, limits, retries, the request journal, cost."""

from .gateway import Gateway, RunStats, cost_of
from .types import ChatRequest, ChatResult, FatalModelError, ProviderError, request_key

__all__ = ["ChatRequest", "ChatResult", "FatalModelError", "Gateway", "ProviderError", "RunStats", "cost_of",
           "request_key"]
