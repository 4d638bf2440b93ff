"""Named jobs of the reward area."""

import dagster as dg

train_reward_models = dg.define_asset_job(
    "train_reward_models",
    selection=dg.AssetSelection.keys("preference_pairs", "ratings_reward_model", "rankings_reward_model",
                                     "bestofn_samples", "reranked_responses", "rm_win_rate"),
    description="Build preference pairs from stored feedback, train both reward models on the gpu pool, "
                "rerank best-of-n samples and measure win rates.",
)
