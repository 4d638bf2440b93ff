"""The Dagster code location: `dagster dev -m llmfeedback_assets.definitions`. One Definitions per area,
merged, plus what spans areas: the resource and the declarative-automation sensor."""

from __future__ import annotations

import warnings

import dagster as dg

from .defs import analysis, curation, export, reward, spine, synth
from .defs.resources import LLMFeedbackResource

# Evaluated in the code server: the per-judge conditions read the config (defs/automation.py), which the
# daemon cannot; it would silently drop them. The flag is beta in Dagster 1.13, deliberately.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.BetaWarning)
    automation_sensor = dg.AutomationConditionSensorDefinition(
        "llmfeedback_automation", target=dg.AssetSelection.all(), minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING, use_user_code_server=True,
    )

defs = dg.Definitions.merge(
    spine.defs, analysis.defs, synth.defs, export.defs, curation.defs, reward.defs,
    dg.Definitions(resources={"llmfeedback": LLMFeedbackResource()}, sensors=[automation_sensor]),
)
