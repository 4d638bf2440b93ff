"""The spine: prompts, responses and judgments per judge model; its checks, jobs, sensors and schedule."""

import dagster as dg

from .assets import judgments, prompts, responses, sim_ground_truth
from .checks import spine_checks
from .jobs import spine_jobs
from .sensors import spine_schedules, spine_sensors

spine_assets = [prompts, sim_ground_truth, responses, judgments]

defs = dg.Definitions(assets=spine_assets, asset_checks=spine_checks, jobs=spine_jobs, sensors=spine_sensors,
                      schedules=spine_schedules)
