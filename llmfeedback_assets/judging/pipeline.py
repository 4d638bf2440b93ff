"""Responses and judgments as plain functions over DataFrames and the gateway."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, replace

import pandas as pd

from ..ids import stable_id
from ..llm import ChatRequest, Gateway, RunStats, merge_stats
from ..warehouse import columns
from . import fastchat, parse, templates
from .adaptive import CANDIDATE_COLUMNS, AdaptiveResult, resolve_budget, run_adaptive
from .pairs import select_pairs
from .templates import Turn


def generate_responses(gateway: Gateway, prompts: pd.DataFrame, responders: list[str], samples: int = 1,
                       temperature_for: Callable[[str | None], float | None] | None = None,
                       id_salt: tuple = ()) -> tuple[pd.DataFrame, RunStats | None]:
    """Every responder answers every prompt `samples` times (FastChat's num_choices); turn t sees the
    conversation so far, including its own answers. `temperature_for(category)` sets a per-category
    temperature (FastChat's temperature_config); None keeps each model's own. `id_salt` keeps the response
    ids of another sampling (best-of-n) apart from the spine's."""
    rows: list[dict] = []
    stats: RunStats | None = None
    # conversation so far per (prompt, responder, sample): list of (question, answer or None)
    history: dict[tuple, list[tuple[str, str | None]]] = {}
    max_turns = int(prompts["n_turns"].max()) if len(prompts) else 0
    for turn in range(1, max_turns + 1):
        todo, meta = [], []
        for p in prompts.itertuples(index=False):
            if p.n_turns < turn:
                continue
            question = list(p.turns)[turn - 1]
            for model, s in itertools.product(responders, range(samples)):
                past = history.setdefault((p.prompt_id, model, s), [])
                rid = stable_id(p.prompt_id, model, turn, s, *id_salt)
                if any(a is None for _, a in past):
                    rows.append(_response_row(rid, p.prompt_id, model, turn, s, None, "failed",
                                              "an earlier turn failed", None))
                    past.append((question, None))
                    continue
                msgs = []
                for q, a in past:
                    msgs += [("user", q), ("assistant", a)]
                msgs.append(("user", question))
                temperature = temperature_for(p.category) if temperature_for else None
                todo.append(ChatRequest(model=model, messages=tuple(msgs), sample=s, temperature=temperature,
                                        tag="response"))
                meta.append((rid, p.prompt_id, model, turn, s, question))
        if not todo:
            continue
        results, st = gateway.run(todo)
        stats = merge_stats(stats, st)
        for (rid, pid, model, t, s, question), res in zip(meta, results, strict=True):
            rows.append(_response_row(rid, pid, model, t, s, res.text, res.status, res.error,
                                      res.request_key))
            history[(pid, model, s)].append((question, res.text if res.ok else None))
    frame = pd.DataFrame(rows, columns=columns("responses"))
    return frame.sort_values(["prompt_id", "responder_model", "turn", "sample"]).reset_index(drop=True), stats


def _response_row(rid, pid, model, turn, sample, text, status, error, key) -> dict:
    return {"response_id": rid, "prompt_id": pid, "responder_model": model, "turn": turn, "sample": sample,
            "text": text, "status": status, "error": error, "request_key": key, "source": "generated",
            "source_line": None}


@dataclass
class JudgeOptions:
    """How one judge judges: its modes, whether it may judge its own answers, which pairs are compared
    (`pairs`: prompt_id, model_a, model_b from `choose_pairs`; None compares all), which of several answers
    per model is judged, and FastChat's judge prompts when configured."""

    modes: tuple[str, ...] = ("single", "pairwise")
    allow_self_judging: bool = False
    pairs: pd.DataFrame | None = None
    judged_choice: int = 0
    same_family: frozenset[str] = frozenset()  # models of the judge's family: judged only with self-judging
    fastchat: fastchat.JudgePrompts | None = None


def judged_answers(responses: pd.DataFrame, judged_choice: int = 0) -> pd.DataFrame:
    """The answers pair selection compares: turn 1 of the judged choice, in file order for imported answers
    (LLMFAO's selection depends on the order it reads results in)."""
    ok = responses[(responses["status"] == "ok") & (responses["sample"] == judged_choice)
                   & (responses["turn"] == 1)]
    ok = ok.assign(_source=ok["source"].fillna("generated"),
                   _line=pd.to_numeric(ok["source_line"], errors="coerce").fillna(0))
    ok = ok.sort_values(["_source", "_line", "prompt_id", "responder_model"], kind="stable")
    return ok.rename(columns={"responder_model": "model"})[["prompt_id", "model", "text"]]


def choose_pairs(responses: pd.DataFrame, method: str, k: int = 3, seed: int = 0, baseline: str | None = None,
                 judged_choice: int = 0) -> pd.DataFrame | None:
    """The pairs every judge compares (the same for all judges, so their verdicts can be compared); None
    for method 'all', and for 'adaptive', which picks among all pairs while it judges (`judge_adaptively`)."""
    if method in ("all", "adaptive"):
        return None
    return select_pairs(judged_answers(responses, judged_choice), method, k=k, seed=seed, baseline=baseline)


def _turns_of(responses: pd.DataFrame, judged_choice: int = 0) -> dict[tuple[str, str], dict[int, pd.Series]]:
    ok = responses[(responses["status"] == "ok") & (responses["sample"] == judged_choice)]
    out: dict[tuple[str, str], dict[int, pd.Series]] = {}
    for r in ok.itertuples(index=False):
        out.setdefault((r.prompt_id, r.responder_model), {})[int(r.turn)] = r
    return out


def plan_judgments(prompts: pd.DataFrame, responses: pd.DataFrame, judge_model: str,
                   options: JudgeOptions) -> tuple[list[dict], list[ChatRequest]]:
    """Every request one judge model will be sent (nothing is sent here): plans index into the requests."""
    by = _turns_of(responses, options.judged_choice)
    models = sorted(responses["responder_model"].unique())
    if not options.allow_self_judging:
        models = [m for m in models if m != judge_model and m not in options.same_family]
    chosen = _pairs_by_prompt(options.pairs)
    plans: list[dict] = []
    requests: list[ChatRequest] = []

    def ask(messages: list[dict]) -> int:
        requests.append(ChatRequest.of(judge_model, messages, tag="judgment"))
        return len(requests) - 1

    for p in prompts.itertuples(index=False):
        turns, refs = list(p.turns), list(p.reference) if p.reference is not None else []
        for t in range(1, int(p.n_turns) + 1):
            question = turns[t - 1]
            ref = refs[t - 1] if len(refs) >= t and refs[t - 1] else None
            have = {m: by[(p.prompt_id, m)] for m in models
                    if (p.prompt_id, m) in by and all(k in by[(p.prompt_id, m)] for k in range(1, t + 1))}

            def hist(m: str, t: int = t, turns: list = turns, have: dict = have) -> list[Turn]:
                return [Turn(turns[k - 1], have[m][k].text) for k in range(1, t)]

            def answers(m: str, t: int = t, have: dict = have) -> list[str]:
                return [have[m][k].text for k in range(1, t + 1)]

            if "single" in options.modes:
                name = _fastchat_name(options, "single", t, p.category, refs)
                for m in sorted(have):
                    r = have[m][t]
                    if name:
                        messages = fastchat.render_single(options.fastchat, name, turns, answers(m), t, refs)
                    else:
                        messages = templates.render_single(hist(m), question, r.text, ref)
                    plans.append({"mode": "single", "prompt_id": p.prompt_id, "turn": t, "model_a": m,
                                  "model_b": None, "ra": r.response_id, "rb": None, "i": ask(messages),
                                  "j": None, **_prompt_used(options, name, ref)})
            if "pairwise" in options.modes:
                name = _fastchat_name(options, "pairwise", t, p.category, refs)
                for a, b in _pairs_for(p.prompt_id, have, chosen):
                    ra, rb = have[a][t], have[b][t]
                    if name:
                        prompts_file = options.fastchat
                        ab = fastchat.render_pair(prompts_file, name, turns, answers(a), answers(b), t, refs)
                        ba = fastchat.render_pair(prompts_file, name, turns, answers(b), answers(a), t, refs)
                    else:
                        ab = templates.render_pair(hist(a), hist(b), question, ra.text, rb.text, ref)
                        ba = templates.render_pair(hist(b), hist(a), question, rb.text, ra.text, ref)
                    plans.append({"mode": "pairwise", "prompt_id": p.prompt_id, "turn": t, "model_a": a,
                                  "model_b": b, "ra": ra.response_id, "rb": rb.response_id, "i": ask(ab),
                                  "j": ask(ba), **_prompt_used(options, name, ref)})
    return plans, requests


def _fastchat_name(options: JudgeOptions, mode: str, turn: int, category, refs: list) -> str | None:
    """FastChat's prompt for this question and turn, or None for our own template (no prompts file, or a
    turn beyond FastChat's two)."""
    if options.fastchat is None:
        return None
    # a reference-guided prompt at turn t shows the references of turns 1..t
    return options.fastchat.choose(mode, turn, category, has_reference=len(refs) >= turn and all(refs[:turn]))


def _prompt_used(options: JudgeOptions, name: str | None, ref: str | None) -> dict:
    if name:
        return {"prompt_name": name, "ref": fastchat.is_reference_guided(options.fastchat, name)}
    return {"prompt_name": "own", "ref": ref is not None}


def _pairs_by_prompt(pairs: pd.DataFrame | None) -> dict[str, list[tuple[str, str]]] | None:
    if pairs is None:
        return None
    out: dict[str, list[tuple[str, str]]] = {}
    for r in pairs.itertuples(index=False):
        out.setdefault(str(r.prompt_id), []).append((r.model_a, r.model_b))
    return out


def _pairs_for(prompt_id: str, have: dict, chosen: dict | None) -> list[tuple[str, str]]:
    """The pairs compared on one prompt turn: every pair of models with answers, or the chosen ones (in
    their chosen orientation) among them."""
    if chosen is None:
        return list(itertools.combinations(sorted(have), 2))
    return [(a, b) for a, b in chosen.get(prompt_id, []) if a in have and b in have]


def judge_responses(gateway: Gateway, prompts: pd.DataFrame, responses: pd.DataFrame, judge_model: str,
                    options: JudgeOptions) -> tuple[pd.DataFrame, RunStats | None]:
    """All judgments by one judge model: single grades per turn and pairwise verdicts in both orders."""
    plans, requests = plan_judgments(prompts, responses, judge_model, options)
    if not requests:
        return pd.DataFrame(columns=columns("judgments")), None
    results, stats = gateway.run(requests)
    rows = [_judgment_row(judge_model, plan, results) for plan in plans]
    return pd.DataFrame(rows, columns=columns("judgments")), stats


def _judgment_row(judge_model: str, plan: dict, results) -> dict:
    first = results[plan["i"]]
    row = {"judgment_id": stable_id(judge_model, plan["mode"], plan["prompt_id"], plan["turn"],
                                    plan["model_a"], plan["model_b"], plan["ra"], plan["rb"]),
           "judge_model": judge_model, "mode": plan["mode"], "prompt_id": plan["prompt_id"],
           "turn": plan["turn"], "model_a": plan["model_a"], "model_b": plan["model_b"],
           "response_a_id": plan["ra"], "response_b_id": plan["rb"], "score": None, "winner": None,
           "verdict_ab": None, "verdict_ba": None, "reference_used": plan["ref"],
           "request_key": first.request_key, "request_key_swapped": None, "source": "judged",
           "prompt_name": plan["prompt_name"], "raw": None, "recorded_score": None, "recorded_winner": None,
           # the reply itself, beside the verdict read from it: the journal is a cache keyed by request
           "explanation": first.text if first.ok else None, "explanation_swapped": None}
    if plan["mode"] == "single":
        score, status = parse.parse_rating(first.text if first.ok else None)
        row.update(score=score, parse_status=status)
        return row
    second = results[plan["j"]]
    v1, s1 = parse.parse_verdict(first.text if first.ok else None)
    v2, s2 = parse.parse_verdict(second.text if second.ok else None)
    row.update(verdict_ab=v1, verdict_ba=v2, winner=parse.combine_pairwise(v1, v2),
               parse_status=s1 if s1 != parse.OK else s2, request_key_swapped=second.request_key,
               explanation_swapped=second.text if second.ok else None)
    return row


@dataclass(frozen=True)
class AdaptiveOptions:
    """judging.pairs: adaptive: the budget (a share of all-pairs' pairwise calls when <= 1, else a count),
    candidates per round (None: the budget in about eight rounds), the target 95% width in Elo points."""

    budget: float = 0.25
    round_size: int | None = None
    target_width: float | None = None
    seed: int = 0


def judge_adaptively(gateway: Gateway, prompts: pd.DataFrame, responses: pd.DataFrame, judge_model: str,
                     options: JudgeOptions, adaptive: AdaptiveOptions
                     ) -> tuple[pd.DataFrame, RunStats | None, AdaptiveResult | None]:
    """One judge's judgments with pairs chosen in rounds (judging/adaptive.py); single grades as usual.

    The pairwise requests are planned once, exactly as all-pairs plans them (same pairs, orientation and
    prompts, so the same request keys), and each round sends the chosen pairs' requests through the gateway:
    whatever all-pairs or an earlier run already asked is answered from the journal."""
    frames, stats, result = [], None, None
    if "single" in options.modes:
        single = replace(options, modes=("single",))
        frame, stats = judge_responses(gateway, prompts, responses, judge_model, single)
        frames.append(frame)
    if "pairwise" in options.modes:
        everything = replace(options, modes=("pairwise",), pairs=None)
        plans, requests = plan_judgments(prompts, responses, judge_model, everything)
        by_pair: dict[tuple, list[int]] = {}
        for k, plan in enumerate(plans):
            by_pair.setdefault((plan["prompt_id"], plan["model_a"], plan["model_b"]), []).append(k)
        candidates = pd.DataFrame([(*pair, 2 * len(ks)) for pair, ks in by_pair.items()],
                                  columns=CANDIDATE_COLUMNS)
        rows: dict[int, dict] = {}

        def judge(pairs: pd.DataFrame) -> pd.DataFrame:
            nonlocal stats
            wanted = pairs[["prompt_id", "model_a", "model_b"]].itertuples(index=False, name=None)
            chosen = [k for pair in wanted for k in by_pair[pair]]
            sent = [r for k in chosen for r in (requests[plans[k]["i"]], requests[plans[k]["j"]])]
            results, st = gateway.run(sent)
            stats = merge_stats(stats, st)
            got = [_judgment_row(judge_model, {**plans[k], "i": 2 * n, "j": 2 * n + 1}, results)
                   for n, k in enumerate(chosen)]
            rows.update(zip(chosen, got, strict=True))
            return pd.DataFrame(got, columns=columns("judgments"))

        budget = resolve_budget(adaptive.budget, int(candidates["calls"].sum()))
        result = run_adaptive(candidates, judge, budget, adaptive.round_size, adaptive.target_width,
                              adaptive.seed)
        frames.append(pd.DataFrame([rows[k] for k in sorted(rows)], columns=columns("judgments")))
    records = [r for f in frames for r in f.to_dict("records")]
    return pd.DataFrame(records, columns=columns("judgments")), stats, result
