"""API keys come from environment variables only and never reach DuckDB, logs, run config or metadata."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from llmfeedback_assets.config import load_config
from llmfeedback_assets.definitions import defs
from llmfeedback_assets.defs.resources import LLMFeedbackResource
from llmfeedback_assets.warehouse import Warehouse
from llmfeedback_assets_tests.support.fake_llm import FakeLLM
from llmfeedback_assets_tests.support.project import SIM_MODELS, write_config

SECRET = "sk-llmf-test-5f0c1d9e8b7a-DO-NOT-LEAK"


def _files_containing(root: Path, needle: bytes) -> list[Path]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and needle in path.read_bytes():
            hits.append(path)
    return hits


def test_keys_are_used_but_never_stored(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("LLMF_TEST_OPENAI_KEY", SECRET)
    monkeypatch.setenv("LLMF_TEST_ANTHROPIC_KEY", SECRET)
    with FakeLLM(api_key=SECRET) as server:
        models = [*SIM_MODELS,
                  {"name": "remote-gpt", "provider": "openai", "base_url": server.openai_base_url,
                   "api_key_env": "LLMF_TEST_OPENAI_KEY", "max_retries": 0},
                  {"name": "remote-claude", "provider": "anthropic", "base_url": server.anthropic_base_url,
                   "api_key_env": "LLMF_TEST_ANTHROPIC_KEY", "max_retries": 0}]
        project = tmp_path / "project"
        project.mkdir()
        path = write_config(project, n_prompts=2, models=models,
                            responders=["alpha", "remote-gpt", "remote-claude"], judges=["judge-clean"])
        home = tmp_path / "dagster_home"
        home.mkdir()
        with dg.instance_for_test(temp_dir=str(home)) as instance:
            instance.add_dynamic_partitions("judge_model", ["judge-clean"])
            resources = {"llmfeedback": LLMFeedbackResource(config_path=str(path))}
            for sel, part in ((["prompts", "sim_ground_truth", "responses"], None),
                              (["judgments"], "judge-clean"), (["leaderboard"], None)):
                dg.materialize(list(defs.assets), selection=sel, partition_key=part, instance=instance,
                               resources=resources)
            records = instance.get_run_records()
            assert all(SECRET not in str(r.dagster_run.run_config) for r in records)
        assert server.stats()["by_outcome"].get("401", 0) == 0  # the key really was sent
    wh = Warehouse(load_config(path).database_path)
    assert wh.count("responses", "WHERE responder_model LIKE 'remote-%' AND status = 'ok'") == 2 * 3
    assert not _files_containing(tmp_path, SECRET.encode()), "the API key was written to disk"
    assert SECRET not in caplog.text
