"""Named jobs of the analysis area."""

import dagster as dg

refresh_analysis = dg.define_asset_job(
    "refresh_analysis", selection=dg.AssetSelection.groups("analysis"),
    description="Recompute leaderboards, judge agreement and the evaluator leaderboard from the stored "
                "judgments.",
)
