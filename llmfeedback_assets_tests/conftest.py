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


@pytest.fixture(autouse=True)
def _materialize_with_the_runs_own_defs_state(monkeypatch):
    """The same leak can happen between two materialize() calls of one test (seen once in 3 CI runs of
    test_whole_graph_on_the_simulator): definitions then load against a dead instance's storage. Each
    `dg.materialize(..., instance=...)` in the tests runs with that instance's storage set, as a run
    launched by `dagster dev` has."""
    import dagster as dg

    try:
        from dagster._core.storage.defs_state.base import set_defs_state_storage
    except ImportError:
        return
    original = dg.materialize

    def materialize(*args, **kwargs):
        instance = kwargs.get("instance")
        storage = getattr(instance, "defs_state_storage", None) if instance is not None else None
        with set_defs_state_storage(storage):
            return original(*args, **kwargs)

    monkeypatch.setattr(dg, "materialize", materialize)


@pytest.fixture
def calls(monkeypatch):
    """Inputs embedded per call of `Encoder.embed_ids`, the one function that runs an encoder."""
    from llmfeedback_assets.embedding import encoder as embed

    seen: list[int] = []
    original = embed.Encoder.embed_ids

    def counting(self, ids, *args, **kwargs):
        seen.append(len(ids))
        return original(self, ids, *args, **kwargs)

    monkeypatch.setattr(embed.Encoder, "embed_ids", counting)
    return seen
