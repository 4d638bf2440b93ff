"""Named jobs of the curation area."""

import dagster as dg

from ..partitions import judge_model_partitions

curate_and_select = dg.define_asset_job(
    "curate_and_select", selection=dg.AssetSelection.keys("quality_scores", "curated_scores"),
    partitions_def=judge_model_partitions,
    description="Quality-score and curate one judge's scores (one run per judge_model partition); then "
                "`select_training_data` picks the subsets.",
)
select_training_data = dg.define_asset_job(
    "select_training_data", selection=dg.AssetSelection.keys("selected_dataset"),
    description="Select a training subset per strategy (one run per strategy partition) from curated scores.",
)

curation_jobs = [curate_and_select, select_training_data]
