"""Synth: personas, persona-driven conversations, per-turn conversation judgments and the cost estimate."""

import dagster as dg

from .assets import synth_assets
from .checks import synth_checks

defs = dg.Definitions(assets=synth_assets, asset_checks=synth_checks)
