"""The Dagster code location: `dagster dev -m llmfeedback_assets.definitions`."""

from __future__ import annotations

import dagster as dg

from .defs.analysis import analysis_assets
from .defs.automation import jobs, schedules, sensors
from .defs.checks import spine_checks
from .defs.curation import curation_assets, curation_checks
from .defs.resources import LLMFeedbackResource
from .defs.reward import reward_assets, reward_checks
from .defs.spine import spine_assets
from .defs.synth import synth_assets, synth_checks

defs = dg.Definitions(
    assets=[*spine_assets, *analysis_assets, *synth_assets, *curation_assets, *reward_assets],
    asset_checks=[*spine_checks, *synth_checks, *curation_checks, *reward_checks],
    resources={"llmfeedback": LLMFeedbackResource()},
    jobs=jobs,
    sensors=sensors,
    schedules=schedules,
)
