"""What a person reads on the leaderboard and judge_agreement materializations: a rounded table with its
note and a figure per board (pooled, each judge, each external source), the agreement heat-map, and
simulated dollars labelled as such."""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path

import dagster as dg
import pytest

from llmfeedback_assets.analysis.plots import BOARD_NOTE
from llmfeedback_assets_tests.defs.test_pipeline import _materialize, _run_all


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def _png(value) -> bytes:
    match = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)\)", value.value)
    assert match, "no inline PNG"
    return base64.b64decode(match.group(1))


def _save(name: str, png: bytes) -> None:
    """LLMFEEDBACK_PLOT_DIR=<dir> keeps the rendered figures, to look at them."""
    folder = os.environ.get("LLMFEEDBACK_PLOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / f"{re.sub(r'[^A-Za-z0-9_-]+', '_', name)}.png").write_bytes(png)


def test_every_board_has_a_rounded_table_and_a_plot(instance, tmp_path):
    from llmfeedback_assets_tests.support.project import dataset, write_config

    crowd = dataset("llmfao", "crowd-comparisons.csv")
    models = dataset("llmfao", "models.jsonl")
    path = write_config(tmp_path, n_prompts=6, leaderboard={"bootstrap_rounds": 50, "seed": 0},
                        comparison_sources=[{"path": str(crowd), "name": "crowd", "human": True,
                                             "models_jsonl": str(models)}])
    _run_all(instance, path)
    md = instance.get_latest_materialization_event(dg.AssetKey("leaderboard")).asset_materialization.metadata
    for board in ("pooled", "judge-clean", "judge-noisy", "crowd (external)"):
        table = md[f"board/{board}/table"].value
        assert re.match(r"\|\s+rank\s+\|", table) and BOARD_NOTE in table
        assert not re.search(r"\d\.\d{5,}", table), table
        png = _png(md[f"board/{board}/plot"])
        assert png.startswith(b"\x89PNG")
        _save(f"board_{board}", png)
    judged = instance.get_latest_materialization_event(dg.AssetKey("judgments")).asset_materialization
    assert judged.metadata["cost_usd"].value > 0
    assert judged.metadata["cost_kind"].value.startswith("simulated $")  # the judges are simulator models
    for key, value in md.items():
        if isinstance(value.value, float):
            assert value.value == round(value.value, 4), key
    agreement = instance.get_latest_materialization_event(
        dg.AssetKey("judge_agreement")).asset_materialization.metadata
    png = _png(agreement["heatmap"])
    assert png.startswith(b"\x89PNG")
    _save("judge_agreement", png)
    # every table asset names the warehouse snapshots it read and wrote (on the file, its content version);
    # judge_agreement's body is a generator, the others return their result
    for meta in (md, agreement, judged.metadata):
        assert meta["warehouse_backend"].value == "duckdb"
        assert meta["warehouse_read_snapshot"].value <= meta["warehouse_written_snapshot"].value
    assert md["warehouse_read_snapshot"].value >= judged.metadata["warehouse_written_snapshot"].value


def test_simulated_cost_is_labelled(instance, tmp_path):
    from llmfeedback_assets_tests.support.synth import synth_config

    path = synth_config(tmp_path, generate_num_personas=2, conversations_per_persona=1, num_turns_max=2)
    _materialize(instance, path, ["cost_estimate"])
    md = instance.get_latest_materialization_event(
        dg.AssetKey("cost_estimate")).asset_materialization.metadata
    assert md["est_cost_kind"].value.startswith("simulated $")
