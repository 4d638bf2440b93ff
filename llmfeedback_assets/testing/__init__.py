"""Test doubles that ship with the package: a fake OpenAI/Anthropic server for offline tests and benchmarks."""

from .fake_llm import FakeLLM, FakeSettings, content_key

__all__ = ["FakeLLM", "FakeSettings", "content_key"]
