"""Responses and judgments: templates, parsers and the functions the assets call."""

from .core import JudgeOptions, generate_responses, judge_responses, plan_judgments, stable_id

__all__ = ["JudgeOptions", "generate_responses", "judge_responses", "plan_judgments", "stable_id"]
