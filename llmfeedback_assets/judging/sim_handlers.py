"""How a simulated judge answers the judging templates: it reads the rendered prompt's blocks like a
person would, perceives each answer's quality through its biases, and replies like a real judge."""

from __future__ import annotations

from ..llm import sim
from . import fastchat, templates


def _user(messages) -> str:
    return sim.last_user_message(messages)


def _system(messages) -> str:
    return "\n".join(c for r, c in messages if r == "system")


def _quote(answer: str, n: int = 70) -> str:
    flat = " ".join(answer.split())
    return flat[:n] + ("..." if len(flat) > n else "")


def _is_single(messages) -> bool:
    return templates.SINGLE_MARK in _system(messages)


def _is_pair(messages) -> bool:
    return templates.PAIR_MARK in _system(messages)


def _single(ctx: sim.SimContext, messages) -> str:
    text = _user(messages)
    question, answer = templates.read_block(text, "QUESTION"), templates.read_block(text, "ANSWER")
    return _grade(ctx, question or "", answer or "")


def _grade(ctx: sim.SimContext, question: str, answer: str) -> str:
    grade = ctx.noisy_grade(ctx.perceive(question, answer))
    quality = "thorough" if grade >= 7 else "incomplete"
    return (f'The answer opens with "{_quote(answer)}". It covers {sim.true_score(question, answer)} of the '
            f"points I would expect and is {quality}.\nRating: [[{grade}]]")


def _pair(ctx: sim.SimContext, messages) -> str:
    text = _user(messages)
    a, b = templates.read_block(text, "ANSWER A"), templates.read_block(text, "ANSWER B")
    return _compare(ctx, templates.read_block(text, "QUESTION") or "", a or "", b or "")


def _compare(ctx: sim.SimContext, question: str, a: str, b: str) -> str:
    j = ctx.judge
    diff = ctx.perceive(question, a) - ctx.perceive(question, b) + 3.0 * j.position_bias
    diff += ctx.rng.normal(0.0, 3.0 * j.noise)
    verdict = "C" if abs(diff) < 0.75 else ("A" if diff > 0 else "B")
    outcome = "they are about even" if verdict == "C" else verdict + " is better"
    return (f'Assistant A opens with "{_quote(a)}". Assistant B opens with "{_quote(b)}". '
            f"Weighing coverage and clarity, {outcome}.\n[[{verdict}]]")


def _is_fastchat(mode: str):
    return lambda messages: fastchat.detect(_user(messages)) == mode


def _fastchat_single(ctx: sim.SimContext, messages) -> str:
    question, (answer,) = fastchat.extract(_user(messages))
    return _grade(ctx, question, answer)


def _fastchat_pair(ctx: sim.SimContext, messages) -> str:
    question, (a, b) = fastchat.extract(_user(messages))
    return _compare(ctx, question, a, b)


def register() -> None:
    """Teach the simulator the judging templates, ours and FastChat's MT-bench prompts (called once by
    `judging/__init__.py`; idempotent)."""
    sim.register("judge.single", _is_single, _single)
    sim.register("judge.pairwise", _is_pair, _pair)
    sim.register("judge.fastchat.single", _is_fastchat("single"), _fastchat_single)
    sim.register("judge.fastchat.pairwise", _is_fastchat("pairwise"), _fastchat_pair)
