"""Fixtures shared by the gateway tests: one fake LLM server per test module, reset before each test, with
the API key variable of `support.configs.fake_model` set; and an empty warehouse."""

from __future__ import annotations

import pytest

from llmfeedback_assets.warehouse import Warehouse
from llmfeedback_assets_tests.support.configs import KEY_ENV
from llmfeedback_assets_tests.support.fake_llm import FakeLLM


@pytest.fixture(scope="module")
def server():
    with FakeLLM() as srv:
        yield srv


@pytest.fixture
def fake(server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-test-key")
    server.reset()
    return server


@pytest.fixture
def wh(tmp_path):
    return Warehouse(tmp_path / "w.duckdb")
