"""Shared fixtures: a small project (config, prompts, DuckDB file) in a temp dir, on the simulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from .support.project import write_config


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A temp project whose config is the default for everything in this test (env LLMFEEDBACK_CONFIG)."""
    path = write_config(tmp_path)
    monkeypatch.setenv("LLMFEEDBACK_CONFIG", str(path))
    monkeypatch.delenv("LLMFEEDBACK_DB", raising=False)
    return path
