"""DS2 on the user's own pool: with `sft_sources` configured, curation_examples holds the pool and quality
scores (a simulated judge), embeddings, curated scores and the selections run on it, through materialize()."""

from __future__ import annotations

import json

from llmfeedback_assets.config import load_config
from llmfeedback_assets.curation import pipeline as flow
from llmfeedback_assets.defs.curation.assets import curation_assets
from llmfeedback_assets.defs.curation.checks import curation_checks
from llmfeedback_assets.defs.spine import spine_assets
from llmfeedback_assets.llm import sim
from llmfeedback_assets.warehouse import Warehouse
from llmfeedback_assets_tests.support.dagster_runs import latest_metadata, materialize_with_config
from llmfeedback_assets_tests.support.project import write_config, write_jsonl

ASSETS = [*spine_assets, *curation_assets, *curation_checks]
N = 80


def _pool_records() -> list[dict]:
    """N Alpaca records whose outputs cover k of the simulator's key points of their instruction (k = 1..10):
    a simulated judge grades such an answer about k, so the good examples are known. Every fourth record
    has an input, which the judge sees after the instruction."""
    records = []
    for i in range(N):
        instruction = f"Explain topic number {i} to a new colleague."
        extra = f"The colleague works in team {i % 7}." if i % 4 == 0 else ""
        shown = f"{instruction}\n\n{extra}" if extra else instruction
        k = 1 + (i * 7) % 10
        points = sim.key_points(shown)[:k]
        records.append({"instruction": instruction, "input": extra,
                        "output": "In short: " + "; ".join(points) + ".", "k": k})
    return records


def _materialize(instance, path, selection, partition=None, raise_on_error=True):
    return materialize_with_config(ASSETS, instance, path, selection, partition, raise_on_error)


def test_ds2_curates_and_selects_from_the_users_pool(instance, tmp_path):
    records = _pool_records()
    pool_file = write_jsonl(tmp_path / "pool" / "alpaca.jsonl", [*records, records[5], "{broken"])
    path = write_config(tmp_path, n_prompts=3, judges=["judge-clean"], judging={"modes": ["quality"]},
                        curation={"target_size": 15}, sft_sources=[{"path": str(pool_file), "name": "mine"}])
    cfg = load_config(path)
    instance.add_dynamic_partitions("judge_model", cfg.judge_partitions)
    wh = Warehouse(cfg.database_path)

    # the pool, not the spine: no prompt or response was materialized
    _materialize(instance, path, ["curation_examples"])
    examples = wh.table("curation_examples")
    assert len(examples) == N and wh.count("responses") == 0
    assert examples["responder_model"].isna().all() and set(examples["dataset"]) == {"mine"}
    meta = latest_metadata(instance, "curation_examples")
    assert meta["origin"] == "sft_sources" and meta["duplicates"] == 1 and meta["rejected_lines"] == 1
    rejected = wh.table("rejected_inputs", "WHERE asset = 'curation_examples'")
    assert rejected[["source_file", "line"]].values.tolist() == [[str(pool_file), N + 2]]

    # the judge rates the pool examples; their embeddings land in the shared store
    _materialize(instance, path, ["quality_scores"], "judge-clean")
    scores = wh.table("quality_scores", "WHERE judge_model = 'judge-clean'")
    assert sorted(scores["response_id"]) == sorted(examples["example_id"])
    source = flow.load_examples(wh).set_index("response_id")["source"]
    true_k = {f"{pool_file}:{n}": r["k"] for n, r in enumerate(records, 1)}
    # the simulated judge saw each pool text: its grade follows the key points covered
    close = [abs(overall - true_k[source[rid]]) <= 1
             for rid, overall in zip(scores["response_id"], scores["overall"], strict=True)]
    assert sum(close) >= 0.9 * N
    _materialize(instance, path, ["embeddings"])
    assert (latest_metadata(instance, "embeddings")["new"], wh.count("embedding_store")) == (N, N)

    _materialize(instance, path, ["curated_scores"], "judge-clean")
    assert len(wh.table("curated_scores", "WHERE judge_model = 'judge-clean'")) == N

    # selections: the subset comes from the pool file, in Alpaca form, the best examples first
    for strategy in ("ds2", "random"):
        _materialize(instance, path, ["selected_dataset"], strategy)
    lines = (tmp_path / "data" / "exports" / "selected" / "ds2.jsonl").read_text().splitlines()
    picked = [json.loads(line) for line in lines]
    assert len(picked) == 15
    originals = {f"{pool_file}:{n}": r for n, r in enumerate(records, 1)}
    for rec in picked:
        source = originals[rec["source"]]
        assert (rec["instruction"], rec["input"], rec["output"]) == (
            source["instruction"], source["input"], source["output"])
    def mean_k(picks: list[dict]) -> float:
        return sum(originals[r["source"]]["k"] for r in picks) / len(picks)

    pool_mean = sum(r["k"] for r in records) / N
    assert mean_k(picked) > pool_mean  # DS2 on 80 near-identical texts: curation moves some scores
    # the judge's raw scores are joined to the right pool examples: the AlpaGasus-style pick is the best
    assert mean_k(flow.select_examples(wh, cfg, "raw_score").records) > pool_mean + 3
    # every pool example comes back as the file wrote it: the input apart from the instruction
    full = flow.select_examples(wh, cfg, "full").records
    assert len(full) == N and sum(bool(r["input"]) for r in full) == N // 4
    assert all((r["instruction"], r["input"], r["output"]) == tuple(
        originals[r["source"]][k] for k in ("instruction", "input", "output")) for r in full)
    # no simulated responder wrote the pool: the simulator's truth does not apply
    assert "sim_true_score_selected" not in latest_metadata(instance, "selected_dataset", "ds2")
    assert flow.sim_true_scores(cfg, flow.load_examples(wh)) is None


def test_without_a_pool_the_examples_are_the_first_turn_answers(instance, tmp_path):
    path = write_config(tmp_path, n_prompts=3, judges=["judge-clean"], judging={"modes": ["quality"]})
    cfg = load_config(path)
    instance.add_dynamic_partitions("judge_model", cfg.judge_partitions)
    _materialize(instance, path, ["prompts", "responses"])
    # scoring before the examples exist fails, rather than writing an empty partition
    result = _materialize(instance, path, ["quality_scores"], "judge-clean", raise_on_error=False)
    failure = [e for e in result.all_events if e.is_step_failure][0].step_failure_data.error.to_string()
    assert "materialize `curation_examples` first" in failure
    _materialize(instance, path, ["curation_examples"])
    wh = Warehouse(cfg.database_path)
    examples = wh.table("curation_examples")
    first = wh.table("responses", "WHERE turn = 1 AND sample = 0 AND status = 'ok'")
    assert sorted(examples["example_id"]) == sorted(first["response_id"])
    assert set(examples["source"]) == {"generated"} and examples["dataset"].isna().all()
    origin = latest_metadata(instance, "curation_examples")["origin"]
    assert (examples["input"] == "").all() and origin.startswith("generated")
