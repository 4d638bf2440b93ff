"""Checks of the analysis area (judge_agreement's position-consistency check is yielded by the asset)."""

from ..checks import schema_check

analysis_checks = [schema_check("leaderboard")]
