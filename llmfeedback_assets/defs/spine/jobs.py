"""Named jobs of the spine."""

import dagster as dg

from ..partitions import judge_model_partitions

judge_everything = dg.define_asset_job(
    "judge_everything", selection=dg.AssetSelection.keys("judgments"), partitions_def=judge_model_partitions,
    description="Judge every response with one judge model (one run per judge_model partition).",
)
ingest_and_respond = dg.define_asset_job(
    "ingest_and_respond", selection=dg.AssetSelection.keys("prompts", "sim_ground_truth", "responses"),
    description="Ingest prompt sources and answer new prompts with every responder.",
)

spine_jobs = [judge_everything, ingest_and_respond]
