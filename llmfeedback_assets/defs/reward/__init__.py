"""Reward: rating and ranking feedback per judge, preference pairs, reward models, best-of-n and win rates."""

import dagster as dg

from .assets import reward_assets
from .checks import reward_checks
from .jobs import train_reward_models

defs = dg.Definitions(assets=reward_assets, asset_checks=reward_checks, jobs=[train_reward_models])
