"""Ratings vs rankings feedback, reward models, best-of-n reranking and win rates (no Dagster here).

Importing this package does not import torch: the names of `network` (the model, scoring), `train` (the
trainers, the losses) and `io` (save/load) are loaded on first use, by the module `__getattr__` below.
"""

from typing import TYPE_CHECKING

from llmfeedback_assets.reward.bestofn import (
    WinRate,
    WinRateError,
    comparison_pairs,
    outcomes_from_rankings,
    outcomes_from_ratings,
    pick_best,
    rerank_best_of_n,
    wilson_interval,
    win_rate,
    win_rate_by_rankings,
    win_rate_by_ratings,
    win_rate_frame,
)
from llmfeedback_assets.reward.data import (
    PreferencePairs,
    RatingExamples,
    RewardModelError,
    TrainResult,
    TruncationReport,
    preference_pairs,
    rating_examples,
)
from llmfeedback_assets.reward.feedback import (
    ConsistencyResult,
    FeedbackError,
    combine_rankings,
    feedback_consistency,
    format_prompt,
    parse_ranking_reply,
    parse_rating_reply,
    ranking_messages,
    ranking_table,
    rating_messages,
    rating_table,
    read_rankings,
    read_rankings_json,
    read_ratings,
)
from llmfeedback_assets.reward.plots import loss_curve_png

from . import sim_handlers

sim_handlers.register()

__all__ = [
    "ConsistencyResult", "FeedbackError", "PreferencePairs", "RatingExamples", "RewardModel",
    "RewardModelError", "TrainResult", "TruncationReport", "WinRate", "WinRateError", "combine_rankings",
    "comparison_pairs", "count_overlong", "default_backbone", "feedback_consistency", "format_prompt",
    "load_reward_model", "loss_curve_png", "outcomes_from_rankings", "outcomes_from_ratings",
    "pairwise_loss", "parse_ranking_reply", "parse_rating_reply", "pick_best", "predicted_rating",
    "preference_pairs", "ranking_messages", "ranking_table", "rating_examples", "rating_loss",
    "rating_messages", "rating_table", "read_rankings", "read_rankings_json", "read_ratings",
    "rerank_best_of_n", "save_reward_model", "score", "train_ratings_reward_model",
    "train_rankings_reward_model", "wilson_interval", "win_rate", "win_rate_by_rankings",
    "win_rate_by_ratings", "win_rate_frame",
]

# name -> the submodule that defines it; these modules import torch, so they load on first use
_LAZY = {
    "RewardModel": "network", "count_overlong": "network", "default_backbone": "network",
    "predicted_rating": "network", "score": "network",
    "pairwise_loss": "train", "rating_loss": "train", "train_rankings_reward_model": "train",
    "train_ratings_reward_model": "train",
    "load_reward_model": "io", "save_reward_model": "io",
}

if TYPE_CHECKING:
    from llmfeedback_assets.reward.io import load_reward_model, save_reward_model
    from llmfeedback_assets.reward.network import (
        RewardModel,
        count_overlong,
        default_backbone,
        predicted_rating,
        score,
    )
    from llmfeedback_assets.reward.train import (
        pairwise_loss,
        rating_loss,
        train_rankings_reward_model,
        train_ratings_reward_model,
    )


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import io, network, train  # torch loads here, on the first use of one of these names

    value = getattr({"network": network, "train": train, "io": io}[_LAZY[name]], name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
