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


@pytest.fixture(autouse=True, scope="session")
def _no_defs_state_storage_in_any_fixture():
    """The patch below, for the whole session: module- and session-scoped fixtures that materialize (they
    run before any function-scoped fixture) met the leaked storage too ("undefined DagsterInstance weakref"
    in test_evaluators_self_preference's project fixture, depending on which tests ran before it)."""
    try:
        from dagster._core.storage.defs_state.base import DefsStateStorage
    except ImportError:
        yield
        return
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(DefsStateStorage, "get", classmethod(lambda cls: None))
        yield


@pytest.fixture(autouse=True)
def _materialize_without_defs_state(monkeypatch):
    """The same leak can happen between two materialize() calls of one test (seen once in 3 CI runs of
    test_whole_graph_on_the_simulator): definitions then load against a dead instance's storage. Setting the
    test's own instance's storage was not enough: a full run then failed the same way in
    test_nightly_schedule_reruns_every_stale_per_judge_asset, right after a schedule evaluation (cause not
    found). The project keeps no defs state, so every `dg.materialize` in the tests runs with none set."""
    import dagster as dg

    try:
        from dagster._core.storage.defs_state.base import DefsStateStorage, set_defs_state_storage
    except ImportError:
        return
    # and no storage at all in this process: the leak came back once more after a schedule evaluation even
    # inside `set_defs_state_storage(None)` (a DagsterInstance's __enter__ sets the ContextVar too)
    monkeypatch.setattr(DefsStateStorage, "get", classmethod(lambda cls: None))
    original = dg.materialize

    def materialize(*args, **kwargs):
        with set_defs_state_storage(None):
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
