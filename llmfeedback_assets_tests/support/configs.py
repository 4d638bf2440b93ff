"""Configs and requests for gateway tests and benchmarks against the fake server."""

from __future__ import annotations

from pathlib import Path

import yaml

from llmfeedback_assets.config import Config, load_config
from llmfeedback_assets.llm.types import ChatRequest

from .fake_llm import FakeLLM, content_key

KEY_ENV = "LLMFEEDBACK_FAKE_LLM_KEY"  # tests set this variable; no key is ever written to a file


def fake_model(server: FakeLLM, name: str = "gpt-fake", provider: str = "openai", **overrides) -> dict:
    """A model entry pointing at the fake server, with generous limits unless overridden."""
    base = server.openai_base_url if provider == "openai" else server.anthropic_base_url
    spec = {"name": name, "provider": provider, "model": name, "base_url": base, "api_key_env": KEY_ENV,
            "requests_per_minute": 600_000, "input_tokens_per_minute": 1e9, "output_tokens_per_minute": 1e9,
            "max_concurrency": 8, "timeout_s": 5.0, "max_retries": 4, "max_tokens": 64}
    spec.update(overrides)
    return spec


def config_with(*models: dict) -> Config:
    return Config.model_validate({"models": list(models), "responders": [models[0]["name"]], "judges": [],
                                  "prompt_sources": [{"path": "prompts"}]})


def write_config(path: str | Path, *models: dict) -> Config:
    """Write a YAML config (for child processes) and return it loaded."""
    path = Path(path)
    path.write_text(yaml.safe_dump({"models": list(models), "responders": [models[0]["name"]], "judges": [],
                                    "prompt_sources": [{"path": "prompts"}]}, sort_keys=False))
    return load_config(path)


def numbered_requests(model: str, n: int, prefix: str = "q", system: str | None = None) -> list[ChatRequest]:
    """n distinct single-turn requests; the fake server echoes the question back."""
    out = []
    for i in range(n):
        msgs = ([("system", system)] if system else []) + [("user", f"{prefix} question {i}?")]
        out.append(ChatRequest(model=model, messages=tuple(msgs)))
    return out


def server_key(req: ChatRequest, model_id: str | None = None) -> str:
    """The fake server's content key of a request (what `FakeLLM.stats()["counts"]` is keyed by)."""
    return content_key(model_id or req.model, list(req.messages))
