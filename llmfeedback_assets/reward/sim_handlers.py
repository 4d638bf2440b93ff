"""How a simulated judge answers the reward feedback templates (1–7 rating, (a)/(b) ranking).

The handlers recognise the prompts by the text the templates render around their fields, derived from
`rating_messages` / `ranking_messages` themselves, so a rewording of a template never silently leaves the
simulator answering it as a plain question. Quality is perceived through the judge's biases
(`SimContext.perceive`), so better answers get better ratings and win more rankings.
"""

from __future__ import annotations

import re

from ..llm import sim
from .feedback import RATING_MAX, RATING_MIN, format_prompt, ranking_messages, rating_messages

_FIELD = "\x00{}\x00"


def _reverse(rendered: str, fields: list[str]) -> re.Pattern:
    """A regex matching `rendered` with every field sentinel replaced by a capture group."""
    parts = re.split("(" + "|".join(re.escape(_FIELD.format(f)) for f in fields) + ")", rendered)
    out = []
    for part in parts:
        name = next((f for f in fields if part == _FIELD.format(f)), None)
        out.append(f"(?P<{name}>.*?)" if name else re.escape(part))
    return re.compile("^" + "".join(out) + "$", re.DOTALL)


def _user_of(messages: list[dict]) -> str:
    return next(m["content"] for m in messages if m["role"] == "user")


def _patterns(render, fields: list[str]) -> list[re.Pattern]:
    """With-input pattern first (it has the extra Input block), then the no-input one."""
    with_input = _user_of(render(*[_FIELD.format(f) for f in fields]))
    without = _user_of(render(*[_FIELD.format(f) if f != "input" else "" for f in fields]))
    return [_reverse(with_input, fields), _reverse(without, [f for f in fields if f != "input"])]


_RATING = _patterns(rating_messages, ["instruction", "input", "response"])
_RANKING = _patterns(ranking_messages, ["instruction", "input", "response_a", "response_b"])


def _read(patterns: list[re.Pattern], messages) -> dict[str, str] | None:
    text = sim.last_user_message(messages)
    for p in patterns:
        m = p.match(text)
        if m:
            return m.groupdict()
    return None


def _question(fields: dict[str, str]) -> str:
    return format_prompt(fields["instruction"], fields.get("input", ""))


def _quote(answer: str, n: int = 60) -> str:
    flat = " ".join(answer.split())
    return flat[:n] + ("..." if len(flat) > n else "")


def _rating(ctx: sim.SimContext, messages) -> str:
    f = _read(_RATING, messages)
    grade10 = ctx.noisy_grade(ctx.perceive(_question(f), f["response"]))
    # the judge's 1..10 view mapped linearly onto the 1..7 scale the template asks for
    rating = int(round(RATING_MIN + (RATING_MAX - RATING_MIN) * (grade10 - 1) / 9))
    verdict = ("accurate and complete" if rating >= 5
               else "partly useful" if rating >= 3 else "mostly unhelpful")
    return f'The answer opens with "{_quote(f["response"])}" and is {verdict}.\nRating: {rating}'


def _ranking(ctx: sim.SimContext, messages) -> str:
    f = _read(_RANKING, messages)
    q = _question(f)
    j = ctx.judge
    diff = ctx.perceive(q, f["response_a"]) - ctx.perceive(q, f["response_b"]) + 3.0 * j.position_bias
    diff += ctx.rng.normal(0.0, 3.0 * j.noise)
    # forced to choose: with no difference at all the judge falls back on the first position
    choice = "a" if diff >= 0 else "b"
    return (f'(a) opens with "{_quote(f["response_a"])}"; (b) opens with "{_quote(f["response_b"])}". '
            f"Answer ({choice}) covers more of what the task asks.\nPreferred: ({choice})")


def register() -> None:
    """Teach the simulator the reward feedback templates (called once by `reward/__init__.py`; idempotent)."""
    sim.register("reward.rating", lambda m: _read(_RATING, m) is not None, _rating)
    sim.register("reward.ranking", lambda m: _read(_RANKING, m) is not None, _ranking)
