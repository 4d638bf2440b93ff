"""DS2 curation against the simulator's ground truth on the default demo: `curated_scores` reports, for
simulated responders, the share of scores in the true class before and after curation, so a user sees
what curation did to each judge. Issue 14's goal on this demo: curation raises it for every judge whose
noise is above 10% and does not lower it for the sharp judge (it rests on the simulator's registers, which
make embedding neighbours share quality, and on a verbosity bias relative to an expected length)."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pytest
import yaml

from llmfeedback_assets.config import load_config
from llmfeedback_assets.curation import quality
from llmfeedback_assets.defs.curation.assets import curation_assets
from llmfeedback_assets.defs.resources import LLMFeedbackResource
from llmfeedback_assets.defs.spine import spine_assets
from llmfeedback_assets.llm import sim
from llmfeedback_assets.warehouse import Warehouse
from llmfeedback_assets_tests.support.dagster_runs import latest_metadata
from llmfeedback_assets_tests.support.project import REPO

SHARP, BIASED = "sim-judge-sharp", "sim-judge-biased"


@pytest.fixture
def default_demo(tmp_path):
    """The bundled config (models, responders, judges, curation defaults) on the bundled prompts, with its
    DuckDB file in a temp dir and only the quality judging mode (the one curation reads)."""
    cfg = yaml.safe_load((REPO / "data" / "config" / "llmfeedback.yaml").read_text())
    cfg.update(database=str(tmp_path / "warehouse.duckdb"),
               prompt_sources=[{"path": str(REPO / "data" / "prompts")}])
    cfg["judging"]["modes"] = ["quality"]
    path = tmp_path / "llmfeedback.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def test_curated_scores_report_agreement_with_the_true_class_on_the_default_demo(default_demo):
    config = load_config(default_demo)
    assert (config.judges, len(config.responders)) == ([SHARP, BIASED], 5)
    assets = [*spine_assets, *curation_assets]
    resources = {"llmfeedback": LLMFeedbackResource(config_path=str(default_demo))}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("judge_model", config.judges)

        def run(selection, partition=None):
            dg.materialize(assets, selection=selection, partition_key=partition, instance=instance,
                           resources=resources)

        run(["prompts", "responses", "curation_examples", "embeddings"])
        reported = {}
        for judge in config.judges:
            run(["quality_scores", "curated_scores"], judge)
            md = latest_metadata(instance, "curated_scores", judge)
            assert md["scored_examples"] == 200
            reported[judge] = (md["sim_true_class_agreement_raw"], md["sim_true_class_agreement_curated"])
    wh = Warehouse(config.database_path)
    low, high = config.curation.score_clip_low, config.curation.score_clip_high
    for judge, (raw, curated) in reported.items():
        rows = wh.query("""SELECT c.score, c.curated_score, e.instruction, e.output
                           FROM curated_scores c JOIN curation_examples e ON e.example_id = c.response_id
                           WHERE c.judge_model = ?""", [judge])
        truth = np.array([quality.to_class(sim.true_score(i, o), low, high)
                          for i, o in zip(rows["instruction"], rows["output"], strict=True)])
        assert raw == pytest.approx(float(np.mean(rows["score"] == truth)), abs=1e-4)
        assert curated == pytest.approx(float(np.mean(rows["curated_score"] == truth)), abs=1e-4)
    # the sharp judge (5% one-step noise) sees the true class; the biased one (30% noise plus verbosity
    # bias) misses it far more often
    assert reported[SHARP][0] > 0.9 > 0.8 > reported[BIASED][0]
    noisy = [j.name for j in config.models if j.sim_judge is not None and j.sim_judge.noise > 0.1]
    assert noisy == [BIASED]
    assert reported[SHARP][1] >= reported[SHARP][0], reported  # curation keeps the sharp judge's scores
    for judge in noisy:  # and raises the noisy judge's agreement with the truth
        assert reported[judge][1] > reported[judge][0], reported
