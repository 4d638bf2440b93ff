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


@pytest.fixture(autouse=True)
def _forget_dagster_defs_state_storage():
    """Dagster 1.13 can leave its defs-state storage, bound to a test's temporary instance, in a context
    variable after automation evaluation or a run; the next test in the same worker then fails with "unable
    to open database file" or "undefined DagsterInstance weakref". Reset it before and after every test."""
    try:
        from dagster._core.storage.defs_state.base import _current_storage
    except ImportError:  # a Dagster without it has nothing to leak
        yield
        return
    _current_storage.set(None)
    yield
    _current_storage.set(None)
