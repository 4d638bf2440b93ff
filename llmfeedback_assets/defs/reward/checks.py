"""Checks of the reward area."""

import dagster as dg
import pandas as pd

from ...reward import pipeline
from ..errors import one_line_failure
from ..resources import LLMFeedbackResource
from .assets import CHANCE


def _beats_chance(llmfeedback: LLMFeedbackResource, name: str) -> dg.AssetCheckResult:
    if not llmfeedback.load().reward_enabled:
        return dg.AssetCheckResult(passed=True, metadata={"skipped": "reward loop not configured"})
    row = pipeline.latest_models(llmfeedback.warehouse(), name)
    if row.empty:
        return dg.AssetCheckResult(passed=False, metadata={"reason": f"no {name} in reward_models"})
    r = row.iloc[0]
    acc = r["val_pairwise_accuracy"]
    return dg.AssetCheckResult(passed=bool(pd.notna(acc) and acc > CHANCE), metadata={
        "val_pairwise_accuracy": float(acc) if pd.notna(acc) else "not measured",
        "n_val_pairs": int(r["n_val_pairs"]), "version": r["version"], "chance": CHANCE})


@dg.asset_check(asset="ratings_reward_model", blocking=True,
                description="The latest ratings reward model orders held-out preference pairs better than "
                            "chance.")
@one_line_failure
def ratings_reward_model_above_chance(llmfeedback: LLMFeedbackResource) -> dg.AssetCheckResult:
    return _beats_chance(llmfeedback, pipeline.RATINGS_MODEL)


@dg.asset_check(asset="rankings_reward_model", blocking=True,
                description="The latest rankings reward model orders held-out preference pairs better than "
                            "chance.")
@one_line_failure
def rankings_reward_model_above_chance(llmfeedback: LLMFeedbackResource) -> dg.AssetCheckResult:
    return _beats_chance(llmfeedback, pipeline.RANKINGS_MODEL)


reward_checks = [ratings_reward_model_above_chance, rankings_reward_model_above_chance]
