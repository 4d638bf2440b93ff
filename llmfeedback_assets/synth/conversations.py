"""Synthetic side-by-side conversations: a persona-playing user model talks to two eval models at once.

Per conversation (all drawn from seeded generators, so a rerun plans the same conversations and the
gateway's journal answers them for free):
- the number of turns, uniformly between `num_turns_min` and `num_turns_max`;
- two eval models, without replacement, with probability proportional to `sample_weight`;
- for each turn but the last, which of the two answers the user replies to.

The user model, given the persona as its system message, opens the chat; an opening under 2 words or 15
characters is asked again (a new sample), at most `opening_attempts` times. Both eval models answer every
user message in the same gateway run, i.e. in parallel. The conversation then continues from the answer the
user replied to: that answer is the thread both models see at the next turn, so the follow-up makes sense to
both and the judge compares two answers to one shared context.

All conversations advance in lockstep (one gateway run per step for all of them), so the model calls of a
step run concurrently under the gateway's limits. A failed call, or an opening that stays too short, ends
that conversation: its completed turns are kept and it is labelled `partial` with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..config import Config
from ..ids import rng_for, stable_id
from ..llm import ChatRequest, ChatResult, Gateway, RunStats, merge_stats
from ..warehouse import columns
from . import templates
from .common import eval_llms, synth_configured, user_model
from .personas import SAMPLE_STRIDE, persona_views

OPENING_ATTEMPTS = 3
COMPLETE, PARTIAL = "complete", "partial"


def draw_pair(rng: np.random.Generator, llms: list[tuple[str, float]]) -> tuple[str, str]:
    """Two distinct models, drawn one after the other with probability proportional to their weight."""
    names = [n for n, _ in llms]
    w = np.asarray([x for _, x in llms], dtype=float)
    first = int(rng.choice(len(names), p=w / w.sum()))
    w2 = w.copy()
    w2[first] = 0.0
    second = int(rng.choice(len(names), p=w2 / w2.sum()))
    return names[first], names[second]


def pair_probabilities(llms: list[tuple[str, float]]) -> dict[tuple[str, str], float]:
    """Exact probability of each ordered pair under `draw_pair` (for cost estimates and tests)."""
    total = sum(w for _, w in llms)
    out = {}
    for a, wa in llms:
        for b, wb in llms:
            if a != b:
                out[(a, b)] = wa / total * wb / (total - wa)
    return out


@dataclass(frozen=True)
class ConversationPlan:
    conversation_id: str
    persona_id: str
    index: int
    user_model: str
    model_1: str
    model_2: str
    n_turns: int
    continue_with: tuple[int, ...]  # side (1 or 2) the user replies to after turn t = 1 .. n_turns - 1
    seed: int


def plan_conversations(config: Config, persona_ids: list[str]) -> list[ConversationPlan]:
    """Every conversation to hold, before any model call; ids are content hashes of the plan.
    None when the config has no synth section (no user model and no eval models)."""
    if not synth_configured(config):
        return []
    synth = config.synth
    llms = eval_llms(config)
    user = user_model(config)
    plans = []
    for pid in persona_ids:
        for c in range(synth.conversations_per_persona):
            rng = rng_for("conversation", synth.seed, pid, c)
            n = int(rng.integers(synth.num_turns_min, synth.num_turns_max + 1))
            m1, m2 = draw_pair(rng, llms)
            sides = tuple(int(s) for s in rng.integers(1, 3, size=n - 1))
            cid = stable_id("conversation", pid, c, synth.seed, user, m1, m2, n, sides)
            plans.append(ConversationPlan(cid, pid, c, user, m1, m2, n, sides, synth.seed))
    return plans


@dataclass
class _Live:
    """A conversation in progress."""

    plan: ConversationPlan
    user_view: list[tuple[str, str]]  # what the user simulator sees: its system message, roles flipped
    thread: list[tuple[str, str]] = field(default_factory=list)  # what both eval models see
    rows: list[dict] = field(default_factory=list)
    pending: tuple[str, str] | None = None  # (user message, request key) awaiting answers
    done: int = 0
    error: str | None = None

    @property
    def active(self) -> bool:
        return self.error is None and self.done < self.plan.n_turns


@dataclass
class ConversationResult:
    conversations: pd.DataFrame
    messages: pd.DataFrame
    stats: RunStats | None
    opening_retries: int


def generate_conversations(gateway: Gateway, config: Config, personas: pd.DataFrame,
                           opening_attempts: int = OPENING_ATTEMPTS) -> ConversationResult:
    if not 1 <= opening_attempts < SAMPLE_STRIDE:
        raise ValueError(f"opening_attempts must be in 1..{SAMPLE_STRIDE - 1}")
    views = persona_views(personas)
    plans = plan_conversations(config, list(views))
    temp = config.synth.user_temperature
    live = [_Live(p, [("system", templates.render_user_system(views[p.persona_id]))]) for p in plans]
    stats: RunStats | None = None
    retries = 0

    def ask_user(conv: _Live, extra: list[tuple[str, str]], attempt: int = 0) -> ChatRequest:
        return ChatRequest(conv.plan.user_model, tuple(conv.user_view + extra), temperature=temp,
                           sample=conv.plan.index * SAMPLE_STRIDE + attempt, tag="synth.user")

    # Openings, asked again while too short.
    kickoff = [("user", templates.KICKOFF)]
    waiting = list(live)
    for attempt in range(opening_attempts):
        if not waiting:
            break
        results, st = gateway.run([ask_user(c, kickoff, attempt) for c in waiting])
        stats = merge_stats(stats, st)
        again = []
        for conv, res in zip(waiting, results, strict=True):
            if not res.ok:
                conv.error = f"turn 1: the user model failed: {res.error}"
            elif templates.opening_is_valid(res.text):
                conv.user_view += [*kickoff, ("assistant", res.text.strip())]
                conv.thread.append(("user", res.text.strip()))
                conv.pending = (res.text.strip(), res.request_key)
            elif attempt + 1 < opening_attempts:
                again.append(conv)
            else:
                conv.error = (f"turn 1: the opening stayed under 2 words or 15 characters after "
                              f"{opening_attempts} attempts (last: {res.text!r})")
        retries += len(again)
        waiting = again

    for turn in range(1, max((p.n_turns for p in plans), default=0) + 1):
        # Both eval models answer every open conversation's latest user message, all in one run.
        ready = [c for c in live if c.active and c.pending is not None]
        if not ready:
            break
        reqs = []
        for c in ready:
            for model in (c.plan.model_1, c.plan.model_2):
                reqs.append(ChatRequest(model, tuple(c.thread), tag="synth.eval"))
        results, st = gateway.run(reqs)
        stats = merge_stats(stats, st)
        follow = []
        for i, conv in enumerate(ready):
            if _record_turn(conv, turn, results[2 * i], results[2 * i + 1]) and conv.active:
                follow.append(conv)
        if not follow:
            continue
        # The user replies to the answer the plan picked for this turn.
        results, st = gateway.run([ask_user(c, []) for c in follow])
        stats = merge_stats(stats, st)
        for conv, res in zip(follow, results, strict=True):
            text = res.text.strip() if res.ok and res.text else ""
            if not text:
                conv.error = f"turn {turn + 1}: the user model failed: {res.error or 'empty reply'}"
                continue
            conv.user_view.append(("assistant", text))
            conv.thread.append(("user", text))
            conv.pending = (text, res.request_key)

    conv_rows = [_conversation_row(c) for c in live]
    msg_rows = [r for c in live for r in c.rows]
    return ConversationResult(pd.DataFrame(conv_rows, columns=columns("conversations")),
                              pd.DataFrame(msg_rows, columns=columns("conversation_messages")), stats,
                              retries)


def _record_turn(conv: _Live, turn: int, first: ChatResult, second: ChatResult) -> bool:
    """Store a turn answered by both models; on a failure end the conversation (the turn is dropped)."""
    p = conv.plan
    failed = [(m, r) for m, r in ((p.model_1, first), (p.model_2, second)) if not (r.ok and r.text)]
    if failed:
        conv.error = "; ".join(f"turn {turn}: {m} failed: {r.error or 'empty answer'}" for m, r in failed)
        return False
    question, user_key = conv.pending
    cont = p.continue_with[turn - 1] if turn < p.n_turns else None
    conv.rows.append(_message(p, turn, 0, "user", p.user_model, question, False, user_key))
    for side, model, res in ((1, p.model_1, first), (2, p.model_2, second)):
        conv.rows.append(_message(p, turn, side, "assistant", model, res.text, cont == side, res.request_key))
    conv.done = turn
    conv.pending = None
    if cont is not None:
        answer = (first if cont == 1 else second).text
        conv.thread.append(("assistant", answer))
        conv.user_view.append(("user", templates.wrap_reply(answer)))
    return True


def message_id(conversation_id: str, turn: int, side: int) -> str:
    return stable_id("message", conversation_id, turn, side)


def _message(p: ConversationPlan, turn: int, side: int, role: str, model: str, content: str, continued: bool,
             key: str | None) -> dict:
    return {"message_id": message_id(p.conversation_id, turn, side), "conversation_id": p.conversation_id,
            "turn": turn, "side": side, "role": role, "model": model, "content": content,
            "continued": continued, "request_key": key}


def _conversation_row(c: _Live) -> dict:
    p = c.plan
    status = COMPLETE if c.error is None and c.done == p.n_turns else PARTIAL
    return {"conversation_id": p.conversation_id, "persona_id": p.persona_id, "conversation_index": p.index,
            "user_model": p.user_model, "model_1": p.model_1, "model_2": p.model_2,
            "n_turns_planned": p.n_turns, "n_turns": c.done, "status": status, "error": c.error,
            "seed": p.seed}
