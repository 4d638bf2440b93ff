"""Responses and judgments: templates, parsers and the functions the assets call."""

from . import sim_handlers
from .pairs import select_pairs
from .pipeline import JudgeOptions, generate_responses, judge_responses, plan_judgments

sim_handlers.register()

__all__ = ["JudgeOptions", "generate_responses", "judge_responses", "plan_judgments", "select_pairs"]
