"""Parsers for judge replies. The verdict is the LAST marker in the reply: judges explain first and decide
last, so a marker quoted from an answer earlier in the reply cannot become the verdict."""

from __future__ import annotations

import re

RATING = re.compile(r"\[\[\s*(\d+(?:\.\d+)?)\s*\]\]")
VERDICT = re.compile(r"\[\[\s*([ABC])\s*\]\]")

OK = "ok"
NO_VERDICT = "no_verdict"
OUT_OF_RANGE = "out_of_range"
CALL_FAILED = "call_failed"


def parse_rating(reply: str | None, low: float = 1, high: float = 10) -> tuple[float | None, str]:
    if reply is None:
        return None, CALL_FAILED
    found = RATING.findall(reply)
    if not found:
        return None, NO_VERDICT
    value = float(found[-1])
    if not low <= value <= high:
        return None, OUT_OF_RANGE
    return value, OK


def parse_verdict(reply: str | None) -> tuple[str | None, str]:
    """'A', 'B' or 'C' (tie)."""
    if reply is None:
        return None, CALL_FAILED
    found = VERDICT.findall(reply)
    if not found:
        return None, NO_VERDICT
    return found[-1], OK


def combine_pairwise(verdict_ab: str | None, verdict_ba: str | None) -> str | None:
    """Winner over (model_a, model_b) from both orders. Position-inconsistent verdicts count as a tie.

    verdict_ab judged (A=model_a, B=model_b); verdict_ba judged (A=model_b, B=model_a).
    Returns 'model_a', 'model_b', 'tie', or None when either verdict is missing.
    """
    if verdict_ab is None or verdict_ba is None:
        return None
    first = {"A": "model_a", "B": "model_b", "C": "tie"}[verdict_ab]
    second = {"A": "model_b", "B": "model_a", "C": "tie"}[verdict_ba]
    return first if first == second else "tie"
