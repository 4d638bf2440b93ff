"""Model providers behind the gateway."""

from __future__ import annotations

from .base import BatchItem, BatchOutcome, BatchState, Provider, classify_status_error, parse_retry_after


def make_provider(name: str) -> Provider:
    if name == "openai":
        from .openai_provider import OpenAIProvider

        return OpenAIProvider()
    if name == "anthropic":
        from .anthropic_provider import AnthropicProvider

        return AnthropicProvider()
    if name == "sim":
        from .sim_provider import SimProvider

        return SimProvider()
    if name == "transformers":
        from .transformers_provider import TransformersProvider

        return TransformersProvider()
    raise ValueError(f"unknown provider {name!r}")


__all__ = ["BatchItem", "BatchOutcome", "BatchState", "Provider", "classify_status_error", "make_provider",
           "parse_retry_after"]
