"""Benchmark: how many judge calls a ranking needs. All pairs against `judging.pairs: adaptive` at a share of
all-pairs' calls, random pairs at the same number of calls, and LLMFAO's fixed design (k=3).

The world is the offline simulator: 16 responders with latent qualities spread over [0.15, 0.90] (verbosity
varying independently of quality) answer N single-turn prompts, and one simulated judge (noise, a little
position bias, no verbosity bias, so the truth is recoverable) compares answers in both orders. Every answer
and verdict comes from the simulator's real handlers (`sim.simulate` on the requests the judging pipeline
renders: `generate_responses`, `plan_judgments`, `judge_responses`, `judge_adaptively`); only the journal is
left out, replaced by an in-memory cache keyed by request key, so the four designs see the same verdict for
the same request, as they would reading one journal. Each design's comparisons are fitted with
Bradley–Terry (plain maximum likelihood; one virtual tie per compared pair if it does not exist, as the
leaderboard does) and scored by Kendall's tau-b against the true qualities; means and ranges over seeds (a
seed changes the prompts, hence every answer and verdict, and the pair-selection seed).

Run: .venv/bin/python -m bench.bench_adaptive_pairs [--prompts 20] [--seeds 10] [--budget 0.25]
Writes bench/results/adaptive_pairs.md.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from llmfeedback_assets.config import Config
from llmfeedback_assets.ids import stable_id
from llmfeedback_assets.judging.adaptive import CANDIDATE_COLUMNS, random_pairs, resolve_budget
from llmfeedback_assets.judging.pipeline import (
    AdaptiveOptions,
    JudgeOptions,
    choose_pairs,
    generate_responses,
    judge_adaptively,
    judge_responses,
    plan_judgments,
)
from llmfeedback_assets.llm import sim
from llmfeedback_assets.llm.run import RunStats, request_key_for
from llmfeedback_assets.llm.types import ChatResult
from llmfeedback_assets.ranking import (
    NoFiniteScoresError,
    aggregate_frame,
    fit_bradley_terry,
    kendall_tau,
)

RESULTS = Path(__file__).resolve().parent / "results" / "adaptive_pairs.md"
N_RESPONDERS = 16
JUDGE = "bench-judge"
JUDGE_SPEC = {"noise": 0.3, "position_bias": 0.1, "verbosity_bias": 0.0}


def make_config() -> Config:
    qualities = np.linspace(0.15, 0.90, N_RESPONDERS)
    verbosity = np.random.default_rng(7).permutation(np.linspace(0.1, 0.9, N_RESPONDERS))
    models = [{"name": f"resp-{k:02d}", "provider": "sim",
               "sim": {"quality": round(float(q), 3), "verbosity": round(float(v), 3)}}
              for k, (q, v) in enumerate(zip(qualities, verbosity, strict=True))]
    models.append({"name": JUDGE, "provider": "sim", "sim_judge": JUDGE_SPEC})
    return Config.model_validate({"models": models, "responders": [m["name"] for m in models[:-1]],
                                  "judges": [JUDGE], "prompt_sources": [{"path": "bench-prompts"}]})


class SimGateway:
    """The gateway's contract (answers in order, RunStats) on the simulator, with a request-key cache in
    place of the journal; counts the requests each design asks for."""

    def __init__(self, config: Config):
        self.config = config
        self.cache: dict[str, str] = {}

    def run(self, requests):
        requests = list(requests)
        stats = RunStats(total=len(requests))
        out = []
        for req in requests:
            spec = self.config.model(req.model)
            key = request_key_for(spec, req)
            if key in self.cache:
                stats.cache_hits += 1
            else:
                self.cache[key] = sim.simulate(spec, list(req.messages), key)
                stats.sent += 1
            out.append(ChatResult(key, req.model, "ok", self.cache[key]))
        stats.done = len(requests)
        return out, stats


def make_prompts(n: int, seed: int) -> pd.DataFrame:
    rows = []
    for i in range(n):
        turns = [f"Bench question {seed}-{i}: explain idea number {i} of topic {seed} clearly."]
        rows.append({"prompt_id": stable_id("bench", seed, i), "source_file": "bench", "source_id": str(i),
                     "category": "writing", "turns": turns, "reference": None, "n_turns": 1})
    return pd.DataFrame(rows)


def tau_of(judged: pd.DataFrame, truth: pd.Series) -> float:
    comp = judged[judged["mode"].eq("pairwise") & judged["winner"].notna()]
    table = aggregate_frame(comp[["model_a", "model_b", "winner"]])
    try:
        scores = fit_bradley_terry(table)
    except NoFiniteScoresError:
        scores = fit_bradley_terry(table, prior=1.0)
    return kendall_tau(scores, truth)


def calls_of(judged: pd.DataFrame) -> int:
    return 2 * int(judged["mode"].eq("pairwise").sum())  # both orders per judged turn


def one_seed(config: Config, n_prompts: int, seed: int, budget: float, round_size: int | None) -> dict:
    gateway = SimGateway(config)
    truth = pd.Series({m.name: m.sim.quality for m in config.models if m.sim is not None})
    prompts = make_prompts(n_prompts, seed)
    responses, _ = generate_responses(gateway, prompts, config.responders)
    pairwise = JudgeOptions(modes=("pairwise",))
    out: dict[str, dict] = {}

    t0 = time.perf_counter()
    every, _ = judge_responses(gateway, prompts, responses, JUDGE, pairwise)
    out["all pairs"] = {"tau": tau_of(every, truth), "calls": calls_of(every), "s": time.perf_counter() - t0}
    all_calls = calls_of(every)

    t0 = time.perf_counter()
    adaptive = AdaptiveOptions(budget=budget, round_size=round_size, seed=seed)
    judged, _, result = judge_adaptively(gateway, prompts, responses, JUDGE, pairwise, adaptive)
    out["adaptive"] = {"tau": tau_of(judged, truth), "calls": calls_of(judged), "s": time.perf_counter() - t0,
                       "rounds": len(result.rounds)}
    assert calls_of(judged) == result.calls_used <= result.budget_calls

    plans, _ = plan_judgments(prompts, responses, JUDGE, pairwise)
    candidates = pd.DataFrame([(p["prompt_id"], p["model_a"], p["model_b"], 2) for p in plans],
                              columns=CANDIDATE_COLUMNS)
    chosen = random_pairs(candidates, resolve_budget(budget, all_calls), seed)
    rnd, _ = judge_responses(gateway, prompts, responses, JUDGE,
                             JudgeOptions(modes=("pairwise",), pairs=chosen.drop(columns="calls")))
    out["random pairs, same budget"] = {"tau": tau_of(rnd, truth), "calls": calls_of(rnd)}

    llmfao = choose_pairs(responses, "llmfao", k=3, seed=seed)
    fao, _ = judge_responses(gateway, prompts, responses, JUDGE,
                             JudgeOptions(modes=("pairwise",), pairs=llmfao))
    out["LLMFAO design (k=3)"] = {"tau": tau_of(fao, truth), "calls": calls_of(fao)}
    out["_all_calls"] = all_calls
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prompts", type=int, default=20)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--budget", type=float, default=0.25, help="adaptive and random budget (share or calls)")
    ap.add_argument("--round-size", type=int, default=None, help="adaptive candidates per round (auto)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    config = make_config()
    started = time.perf_counter()
    runs = []
    for seed in range(args.seeds):
        t0 = time.perf_counter()
        runs.append(one_seed(config, args.prompts, seed, args.budget, args.round_size))
        taus = {k: round(v["tau"], 3) for k, v in runs[-1].items() if not k.startswith("_")}
        print(f"seed {seed}: {taus} ({time.perf_counter() - t0:.1f} s)", flush=True)
    wall = time.perf_counter() - started
    all_calls = runs[0]["_all_calls"]
    lines = []
    for name in ("all pairs", "adaptive", "random pairs, same budget", "LLMFAO design (k=3)"):
        taus = np.array([r[name]["tau"] for r in runs])
        calls = np.array([r[name]["calls"] for r in runs])
        lines.append(f"| {name} | {taus.mean():.3f} | {taus.min():.3f} – {taus.max():.3f} | "
                     f"{' '.join(f'{t:.3f}' for t in taus)} | {calls.mean():,.0f} | "
                     f"{calls.mean() / all_calls:.1%} |")
    rounds = np.mean([r["adaptive"]["rounds"] for r in runs])
    adaptive_s = np.mean([r["adaptive"]["s"] for r in runs])
    all_s = np.mean([r["all pairs"]["s"] for r in runs])
    cmd = (f".venv/bin/python -m bench.bench_adaptive_pairs --prompts {args.prompts} --seeds {args.seeds} "
           f"--budget {args.budget:g}" + (f" --round-size {args.round_size}" if args.round_size else ""))
    text = f"""# Adaptive pair selection: Kendall tau against the truth per judge call

Command: `{cmd}`
Machine: {platform.machine()}, Python {platform.python_version()}; whole run {wall:.0f} s.

{N_RESPONDERS} simulated responders (qualities evenly spread over 0.15–0.90, verbosity shuffled),
{args.prompts} single-turn prompts, one simulated judge (noise {JUDGE_SPEC['noise']}, position bias
{JUDGE_SPEC['position_bias']}, both orders asked, a split verdict counts as a tie). All pairs cost
{all_calls:,} judge calls per seed. Kendall's tau-b of the Bradley–Terry order against the true qualities,
over {args.seeds} seeds (prompts, answers, verdicts and pair seeds change with the seed).

| design | mean tau | range | per seed | judge calls (mean) | share of all pairs |
|---|---:|---:|---|---:|---:|
{chr(10).join(lines)}

Adaptive (`judging.pairs: adaptive`, `adaptive_budget: {args.budget:g}`, round size
{args.round_size or 'auto'}): {rounds:.1f} rounds on average; the pairwise part took {adaptive_s:.2f} s per
seed against {all_s:.2f} s for all pairs here (simulated verdicts are nearly free; with a real judge the
calls dominate). Random pairs draw candidates in a seeded order until the same budget is spent. LLMFAO's
design links every model to its 3 most distant answers per prompt; its cost is fixed by the design.
"""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
