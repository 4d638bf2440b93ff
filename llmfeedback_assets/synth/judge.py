"""Conversation judgments: for each turn, a judge that took no part gives a 5-point preference.

Each turn is assigned exactly one judge from the pool (`synth.judge.models`, else the spine's judges),
never one of the turn's two eval models:
- `min_cost`: the eligible judge whose configured prices make this call cheapest (input tokens of the
  rendered prompt, `JUDGE_OUTPUT_TOKENS` out); ties go to the judge listed first;
- `random`: a seeded random eligible judge, drawn per turn.
The assignment is a pure function of the config and the conversation, so the `judge_model` partition of
judge J (run on its own, in any order) judges exactly the turns assigned to J.

The two answers are shown in a seeded random order (recorded in `swapped`) so a judge's position bias
spreads evenly over both sides; the preference is stored relative to (model_1, model_2).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..config import Config
from ..ids import rng_for, stable_id
from ..llm import ChatRequest, Gateway, RunStats, cost_of, estimate_input_tokens
from ..warehouse import columns
from . import templates

JUDGE_OUTPUT_TOKENS = 200


@dataclass(frozen=True)
class TurnItem:
    conversation_id: str
    turn: int
    model_1: str
    model_2: str
    message_1_id: str
    message_2_id: str
    swapped: bool
    messages: tuple[tuple[str, str], ...]  # the rendered judge prompt


def turn_items(config: Config, conversations: pd.DataFrame, messages: pd.DataFrame) -> list[TurnItem]:
    """Every completed turn (user message plus both answers) of every conversation, partial ones included."""
    by_conv: dict[str, dict[int, dict[int, object]]] = {}
    for m in messages.itertuples(index=False):
        by_conv.setdefault(m.conversation_id, {}).setdefault(int(m.turn), {})[int(m.side)] = m
    items = []
    for c in conversations.sort_values("conversation_id").itertuples(index=False):
        turns = by_conv.get(c.conversation_id, {})
        history: list[tuple[str, str]] = []
        for t in sorted(turns):
            sides = turns[t]
            if not all(s in sides for s in (0, 1, 2)):
                break
            q, a1, a2 = sides[0].content, sides[1], sides[2]
            swapped = bool(rng_for("judge-order", config.synth.seed, c.conversation_id, t).random() < 0.5)
            first, second = (a2, a1) if swapped else (a1, a2)
            rendered = templates.render_judge(history, q, first.content, second.content)
            items.append(TurnItem(c.conversation_id, t, c.model_1, c.model_2, a1.message_id, a2.message_id,
                                  swapped, tuple((r["role"], r["content"]) for r in rendered)))
            cont = a1 if a1.continued else a2 if a2.continued else None
            if cont is None:
                break
            history.append((q, cont.content))
    return items


def eligible_judges(config: Config, model_1: str, model_2: str) -> list[str]:
    return [j for j in config.conversation_judges if j not in (model_1, model_2)]


def assign_judge(config: Config, item: TurnItem) -> str | None:
    """The one judge of this turn (None when every judge in the pool is one of its two eval models)."""
    pool = eligible_judges(config, item.model_1, item.model_2)
    if not pool:
        return None
    if config.synth.judge.choice_strategy == "random":
        rng = rng_for("judge-choice", config.synth.seed, item.conversation_id, item.turn)
        return pool[int(rng.integers(len(pool)))]
    est_in = estimate_input_tokens(ChatRequest(pool[0], item.messages))
    costs = [cost_of(config.model(j), est_in, JUDGE_OUTPUT_TOKENS) for j in pool]
    return pool[min(range(len(pool)), key=lambda i: (costs[i], i))]


@dataclass
class JudgeResult:
    judgments: pd.DataFrame
    stats: RunStats | None
    assigned: int  # turns assigned to this judge
    turns: int  # turns in all conversations
    unjudgeable: int  # turns no judge in the pool may judge


def judge_conversations(gateway: Gateway, config: Config, conversations: pd.DataFrame, messages: pd.DataFrame,
                        judge_model: str) -> JudgeResult:
    """The judgments of every turn assigned to `judge_model`."""
    items = turn_items(config, conversations, messages)
    assignment = [(it, assign_judge(config, it)) for it in items]
    mine = [it for it, j in assignment if j == judge_model]
    unjudgeable = sum(1 for _, j in assignment if j is None)
    if not mine:
        return JudgeResult(pd.DataFrame(columns=columns("conversation_judgments")), None, 0, len(items),
                           unjudgeable)
    jc = config.synth.judge
    reqs = [ChatRequest(judge_model, it.messages, temperature=jc.temperature, tag="synth.judge")
            for it in mine]
    results, stats = gateway.run(reqs)
    rows = []
    for it, res in zip(mine, results, strict=True):
        shown, status = templates.parse_preference(res.text if res.ok else None)
        pref = None if shown is None else (6 - shown if it.swapped else shown)
        score_1 = templates.SLIDER[pref] if pref is not None else None
        rows.append({
            "judgment_id": stable_id("conversation-judgment", judge_model, it.conversation_id, it.turn,
                                     it.message_1_id, it.message_2_id),
            "judge_model": judge_model, "conversation_id": it.conversation_id, "turn": it.turn,
            "model_1": it.model_1, "model_2": it.model_2, "message_1_id": it.message_1_id,
            "message_2_id": it.message_2_id, "swapped": it.swapped, "preference": pref, "score_1": score_1,
            "score_2": None if score_1 is None else 100.0 - score_1, "parse_status": status,
            "choice_strategy": jc.choice_strategy, "request_key": res.request_key})
    frame = pd.DataFrame(rows, columns=columns("conversation_judgments"))
    frame["preference"] = frame["preference"].astype("Int64")
    return JudgeResult(frame, stats, len(mine), len(items), unjudgeable)


def with_judge_timeout(config: Config) -> Config:
    """A copy of the config whose judge models use `synth.judge.timeout_s` (the gateway reads it per
    model)."""
    pool = set(config.conversation_judges)
    timeout = config.synth.judge.timeout_s
    models = [m.model_copy(update={"timeout_s": timeout}) if m.name in pool else m for m in config.models]
    out = config.model_copy(update={"models": models})
    out.root, out.source = config.root, config.source
    return out
