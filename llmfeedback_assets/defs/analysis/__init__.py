"""Analysis: leaderboards, external votes and judge agreement, refreshed by declarative automation."""

import dagster as dg

from .assets import analysis_assets
from .checks import analysis_checks
from .jobs import refresh_analysis

defs = dg.Definitions(assets=analysis_assets, asset_checks=analysis_checks, jobs=[refresh_analysis])
