"""DS2 curation against the simulator's ground truth on the default demo (issue: curation made the sharp
judge's scores worse because same-prompt answers sat together in embedding space while differing in
quality). On the bundled config's responders and judges and the 40 bundled prompts, curation must raise
the share of scores in the true class for the noisy judge and must not lower it for the sharp one."""

from __future__ import annotations

import dagster as dg
import pytest
import yaml

from llmfeedback_assets.config import load_config
from llmfeedback_assets.defs.curation.assets import curation_assets
from llmfeedback_assets.defs.resources import LLMFeedbackResource
from llmfeedback_assets.defs.spine import spine_assets
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


def test_curation_moves_scores_towards_the_true_class_on_the_default_demo(default_demo):
    config = load_config(default_demo)
    assert (config.judges, len(config.responders)) == ([SHARP, BIASED], 5)
    assets = [*spine_assets, *curation_assets]
    resources = {"llmfeedback": LLMFeedbackResource(config_path=str(default_demo))}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("judge_model", config.judges)

        def run(selection, partition=None):
            dg.materialize(assets, selection=selection, partition_key=partition, instance=instance,
                           resources=resources)

        def meta(judge):
            record = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey("curated_scores"), asset_partitions=[judge]),
                limit=1).records[0]
            return {k: v.value for k, v in record.asset_materialization.metadata.items()}

        run(["prompts", "responses", "curation_examples", "embeddings"])
        agreement = {}
        for judge in config.judges:
            run(["quality_scores", "curated_scores"], judge)
            md = meta(judge)
            assert md["scored_examples"] == 200
            agreement[judge] = (md["sim_true_class_agreement_raw"], md["sim_true_class_agreement_curated"])
    assert agreement[SHARP][0] > 0.9 and all(0 <= v <= 1 for pair in agreement.values() for v in pair)
    goal = agreement[SHARP][1] >= agreement[SHARP][0] and agreement[BIASED][1] > agreement[BIASED][0]
    if not goal:  # the open issue; a non-strict xfail so that the rest of this test still guards
        pytest.xfail(f"curation does not yet move scores towards the true class: {agreement}. An "
                     "example's 4 same-prompt siblings (mixed quality) are its nearest neighbours whatever "
                     "the answer says, and the biased judge's error is systematic (verbosity), which "
                     "neighbour consensus keeps")
