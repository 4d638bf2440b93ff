"""Dry-run price of a planned synthetic generation, from the config alone (no model call, no database).

counts x token estimates x configured prices, per stage and model:
- personas: `generate_num_personas` calls of the persona model (the prompt is rendered exactly);
- conversations: personas x `conversations_per_persona`, each of the mean number of turns
  (num_turns_min + num_turns_max) / 2;
- user model: one opening plus one follow-up per turn after the first; its input grows with the thread;
- eval models: each answers every turn of the conversations it is drawn into; the chance of being drawn
  is computed exactly from the sample weights;
- judge: one call per turn, to the judge `choice_strategy` would choose for each model pair.
Answers are taken to be `max_tokens / 4` tokens (the gateway's estimator uses the same basis when a model
has no history), user messages `USER_MESSAGE_TOKENS`. Retries of invalid personas or short openings and
journal hits are not counted: the estimate is of a first run.
"""

from __future__ import annotations

import pandas as pd

from ..config import Config
from ..llm import ChatRequest, cost_of, estimate_input_tokens
from . import templates
from .common import eval_llms, persona_model, synth_configured, user_model
from .conversations import pair_probabilities
from .judge import JUDGE_OUTPUT_TOKENS
from .personas import render_persona_prompt

USER_MESSAGE_TOKENS = 60
PERSONA_OUTPUT_TOKENS = 120
PERSONA_SYSTEM_TOKENS = 80  # the persona lines appended to the user simulator's system message

COLUMNS = ["stage", "model", "calls", "input_tokens", "output_tokens", "price_input_per_mtok",
           "price_output_per_mtok", "cost_usd"]


def _tok(text: str) -> int:
    return estimate_input_tokens(ChatRequest("x", (("user", text),)))


def _answer_tokens(config: Config, model: str) -> int:
    return max(1, config.model(model).max_tokens // 4)


def estimate_synth_cost(config: Config) -> pd.DataFrame:
    """One row per (stage, model) with expected calls, tokens and dollars; see the module docstring."""
    synth = config.synth
    acc: dict[tuple[str, str], list[float]] = {}

    def add(stage: str, model: str, calls: float, tin: float, tout: float) -> None:
        """`calls` expected calls of `tin` input and `tout` output tokens each."""
        row = acc.setdefault((stage, model), [0.0, 0.0, 0.0])
        row[0] += calls
        row[1] += calls * tin
        row[2] += calls * tout

    n_generated = synth.generate_num_personas if synth.use_personas else 0
    if n_generated:
        pm = persona_model(config)
        taken = [p.persona for p in synth.personas]
        for i in range(n_generated):
            req = ChatRequest.of(pm, render_persona_prompt(config, i, taken))
            add("personas", pm, 1, estimate_input_tokens(req), PERSONA_OUTPUT_TOKENS)
    n_personas = (len(synth.personas) + n_generated) if synth.use_personas else 1
    n_conv = n_personas * synth.conversations_per_persona
    if n_conv == 0 or not synth_configured(config):
        return pd.DataFrame(columns=COLUMNS)
    user = user_model(config)
    llms = eval_llms(config)
    pairs = pair_probabilities(llms)
    turn_counts = range(synth.num_turns_min, synth.num_turns_max + 1)
    p_turns = 1.0 / len(turn_counts)
    system = _tok(templates.USER_SYSTEM) + (PERSONA_SYSTEM_TOKENS if synth.use_personas else 0)
    kickoff, follow = _tok(templates.KICKOFF), _tok(templates.FOLLOW_UP)
    judge_base = _tok(templates.JUDGE_SYSTEM) + 40
    u = USER_MESSAGE_TOKENS
    for (m1, m2), p_pair in pairs.items():
        a1, a2 = _answer_tokens(config, m1), _answer_tokens(config, m2)
        a = (a1 + a2) / 2  # the thread continues from either answer with equal chance
        for n in turn_counts:
            w = n_conv * p_pair * p_turns
            add("user_opening", user, w, system + kickoff, u)
            for t in range(1, n + 1):
                thread = (t - 1) * (u + a) + u  # earlier turns and this user message
                add("eval_answer", m1, w, thread, a1)
                add("eval_answer", m2, w, thread, a2)
                if t < n:  # the user's follow-up sees the thread so far plus this turn's answer
                    add("user_followup", user, w, system + kickoff + t * (u + a + follow), u)
                judge_in = judge_base + thread + a1 + a2
                for name, share in _judge_for(config, m1, m2, judge_in):
                    add("judge", name, w * share, judge_in, JUDGE_OUTPUT_TOKENS)
    rows = []
    for (stage, model), (calls, tin, tout) in acc.items():
        spec = config.model(model)
        rows.append({"stage": stage, "model": model, "calls": round(calls, 2), "input_tokens": round(tin),
                     "output_tokens": round(tout), "price_input_per_mtok": spec.price_input_per_mtok,
                     "price_output_per_mtok": spec.price_output_per_mtok,
                     "cost_usd": cost_of(spec, tin, tout, batch=spec.batch)})
    order = {s: i for i, s in enumerate(["personas", "user_opening", "user_followup", "eval_answer",
                                         "judge"])}
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.sort_values(["stage", "model"], key=lambda s: s.map(order) if s.name == "stage" else s,
                             ignore_index=True)


def _judge_for(config: Config, m1: str, m2: str, est_in: float) -> list[tuple[str, float]]:
    """(judge, share of this pair's turns) under the configured choice strategy."""
    pool = [j for j in config.conversation_judges if j not in (m1, m2)]
    if not pool:
        return []
    if config.synth.judge.choice_strategy == "random":
        return [(j, 1.0 / len(pool)) for j in pool]
    costs = [cost_of(config.model(j), est_in, JUDGE_OUTPUT_TOKENS) for j in pool]
    return [(pool[min(range(len(pool)), key=lambda i: (costs[i], i))], 1.0)]


def format_synth_cost(frame: pd.DataFrame) -> str:
    """A plain-text table for the command line, with a total line."""
    if frame.empty:
        return "nothing planned: no personas or conversations configured"
    shown = frame.astype({"price_input_per_mtok": object, "price_output_per_mtok": object})
    shown.loc[len(shown)] = {"stage": "total", "model": "", "calls": frame["calls"].sum(),
                             "input_tokens": frame["input_tokens"].sum(),
                             "output_tokens": frame["output_tokens"].sum(),
                             "price_input_per_mtok": None, "price_output_per_mtok": None,
                             "cost_usd": frame["cost_usd"].sum()}
    fmt = {"calls": lambda v: f"{v:,.1f}", "input_tokens": lambda v: f"{int(v):,}",
           "output_tokens": lambda v: f"{int(v):,}", "cost_usd": lambda v: f"${v:,.4f}",
           "price_input_per_mtok": lambda v: "" if pd.isna(v) else f"{v:g}",
           "price_output_per_mtok": lambda v: "" if pd.isna(v) else f"{v:g}"}
    for col, f in fmt.items():
        shown[col] = shown[col].map(f)
    shown.columns = ["stage", "model", "calls", "in tok", "out tok", "$/Mtok in", "$/Mtok out", "est cost"]
    note = ("expected counts from the config (mean turns, exact eval-pair probabilities); answers taken as "
            "max_tokens/4 tokens; retries and journal hits not counted")
    return shown.to_string(index=False) + "\n\n" + note
