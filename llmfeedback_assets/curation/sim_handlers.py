"""How a simulated judge answers the quality-judging template: it reads the example's blocks, perceives
the response's quality through its biases and its score transition matrix, and replies with the JSON
object the template asks for. With `transition_matrix` set on a simulated judge, the curation of its
scores can be checked against a known T end to end."""

from __future__ import annotations

import hashlib

from ..judging import templates
from ..llm import sim
from . import quality


def _is_quality(messages) -> bool:
    return any(r == "system" and quality.QUALITY_MARK in c for r, c in messages)


def _quality(ctx: sim.SimContext, messages) -> str:
    text = sim.last_user_message(messages)
    instruction = templates.read_block(text, "INSTRUCTION") or ""
    response = templates.read_block(text, "RESPONSE") or ""
    overall = ctx.noisy_grade(ctx.perceive(instruction, response))
    words = len(instruction.split())
    rarity = 1 + hashlib.sha256(("rarity\x1f" + instruction).encode()).digest()[0] % 10
    complexity = int(min(10, max(1, 2 + words // 8)))
    informativeness = int(min(10, max(1, round(0.5 * overall + 0.2 * len(response.split()) ** 0.5))))
    return (f'{{"Rarity": {rarity}, "Complexity": {complexity}, "Informativeness": {informativeness}, '
            f'"Overall rating": {overall}}}')


def register() -> None:
    """Teach the simulator the quality-judging template (called by `curation/__init__.py`; idempotent)."""
    sim.register("curation.quality", _is_quality, _quality)
