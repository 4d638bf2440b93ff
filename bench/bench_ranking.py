"""Benchmark: Bradley–Terry fit time of llmfeedback_assets.ranking vs evalica, choix and Chatbot Arena's
logistic regression, plus 1,000 bootstrap rounds and their memory.

Synthetic comparisons among 130 models with known strengths (log-normal), 20% ties, names as strings. Every
method starts from the same DataFrame (model_a, model_b, winner strings) and its time includes the
conversion it needs:
  - ours: `bradley_terry(model_a, model_b, winner)` (factorize + aggregate-once + Gauss–Seidel fit);
  - evalica: `evalica.bradley_terry` with string names (winner strings mapped to `evalica.Winner`, timed
    separately so the call alone is also shown);
  - choix: `ilsr_pairwise_dense` on a dense win matrix (ties half a win each way) built with numpy;
  - Arena LR: Chatbot Arena's original method — battles duplicated, a tie one win each way, sklearn
    LogisticRegression(fit_intercept=False, no penalty, tol=1e-6) on ±log(10) design columns. The design is a
    sparse CSR matrix here (the original's dense one needs 2 GB at 10^6 rows); `--lr-dense` uses it dense.
Scores are compared with evalica's after normalising every method to sum 1.

Run: .venv/bin/python -m bench.bench_ranking [--sizes 1e4,1e5,1e6] [--full] [--rounds 1000]
`--full` adds 10^7 rows (several minutes and ~6 GB). Writes bench/results/ranking.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

from llmfeedback_assets.ranking import aggregate, bootstrap_bradley_terry, bradley_terry, fit_bradley_terry

N_MODELS = 130
TIE_SHARE = 0.2
RESULTS = Path(__file__).resolve().parent / "results" / "ranking.md"


def synthetic(n_rows: int, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    strength = np.exp(rng.normal(0, 1, N_MODELS))
    names = np.array([f"model-{k:03d}" for k in range(N_MODELS)], dtype=object)
    a = rng.integers(0, N_MODELS, n_rows)
    b = (a + rng.integers(1, N_MODELS, n_rows)) % N_MODELS
    p_a = strength[a] / (strength[a] + strength[b])
    outcome = np.where(rng.random(n_rows) < TIE_SHARE, 2, np.where(rng.random(n_rows) < p_a, 0, 1))
    labels = np.array(["model_a", "model_b", "tie"], dtype=object)
    df = pd.DataFrame({"model_a": names[a], "model_b": names[b], "winner": labels[outcome]})
    return df, pd.Series(strength / strength.sum(), index=names)


def timed(fn, repeats: int):
    best, out = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def run_ours(df):
    side = df["winner"].map({"model_a": "left", "model_b": "right", "tie": "tie"})
    return bradley_terry(df["model_a"], df["model_b"], side)


def run_ours_direct(df):
    # Same fit, winner labels given in the model_a/model_b vocabulary (no relabelling pass).
    table = aggregate(df["model_a"], df["model_b"], df["winner"], labels=("model_a", "model_b", "tie"))
    return fit_bradley_terry(table)


def evalica_winners(df):
    import evalica

    return df["winner"].map({"model_a": evalica.Winner.X, "model_b": evalica.Winner.Y,
                             "tie": evalica.Winner.Draw})


def run_evalica(df, winners):
    import evalica

    s = evalica.bradley_terry(df["model_a"], df["model_b"], winners).scores
    return s / s.sum()


def run_choix(df):
    import choix

    codes, names = pd.factorize(pd.concat([df["model_a"], df["model_b"]], ignore_index=True))
    a, b = codes[: len(df)], codes[len(df):]
    w = df["winner"].to_numpy()
    n = len(names)
    mat = np.zeros((n, n))
    np.add.at(mat, (a[w == "model_a"], b[w == "model_a"]), 1.0)
    np.add.at(mat, (b[w == "model_b"], a[w == "model_b"]), 1.0)
    tie = w == "tie"
    np.add.at(mat, (a[tie], b[tie]), 0.5)
    np.add.at(mat, (b[tie], a[tie]), 0.5)
    params = choix.ilsr_pairwise_dense(mat, max_iter=1000, tol=1e-10)
    p = np.exp(params - params.max())
    return pd.Series(p / p.sum(), index=names)


def run_arena_lr(df, dense: bool):
    from scipy.sparse import csr_matrix
    from sklearn.linear_model import LogisticRegression

    codes, names = pd.factorize(pd.concat([df["model_a"], df["model_b"]], ignore_index=True))
    a, b = codes[: len(df)], codes[len(df):]
    n_rows, p = len(df), len(names)
    # Duplicate battles: a win counts twice for the winner, a tie once for each side.
    a2, b2 = np.concatenate([a, a]), np.concatenate([b, b])
    w = df["winner"].to_numpy()
    y = np.concatenate([w == "model_a", w == "model_a"]).astype(np.float64)
    y[:n_rows][w == "tie"] = 1.0
    rows = np.arange(2 * n_rows)
    log_base = np.log(10.0)
    if dense:
        x = np.zeros((2 * n_rows, p))
        x[rows, a2] = log_base
        x[rows, b2] = -log_base
    else:
        x = csr_matrix((np.concatenate([np.full(2 * n_rows, log_base), np.full(2 * n_rows, -log_base)]),
                        (np.concatenate([rows, rows]), np.concatenate([a2, b2]))), shape=(2 * n_rows, p))
    lr = LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-6, max_iter=1000)  # C=inf: no penalty
    lr.fit(x, y)
    s = np.power(10.0, lr.coef_[0] - lr.coef_[0].max())
    return pd.Series(s / s.sum(), index=names)


def max_diff(s: pd.Series, ref: pd.Series) -> float:
    return float(np.abs(s[ref.index].to_numpy() - ref.to_numpy()).max())


def bootstrap_bench(df: pd.DataFrame, rounds: int, method: str) -> tuple[float, float]:
    side = df["winner"].map({"model_a": "left", "model_b": "right", "tie": "tie"})
    table = aggregate(df["model_a"], df["model_b"], side)
    point = fit_bradley_terry(table)
    t0 = time.perf_counter()
    boot = bootstrap_bradley_terry(table, point, rounds=rounds, seed=0, method=method)
    elapsed = time.perf_counter() - t0
    width = float((boot.high - boot.low).mean())
    return elapsed, width


def bootstrap_memory(df: pd.DataFrame, rounds_list: list[int]) -> list[tuple[int, float, float]]:
    side = df["winner"].map({"model_a": "left", "model_b": "right", "tie": "tie"})
    table = aggregate(df["model_a"], df["model_b"], side)
    point = fit_bradley_terry(table)
    out = []
    for rounds in rounds_list:
        tracemalloc.start()
        boot = bootstrap_bradley_terry(table, point, rounds=rounds, seed=0)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        kept = boot.samples.nbytes
        out.append((rounds, peak / 2**20, (peak - kept) / 2**20))
    return out


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1e4,1e5,1e6")
    ap.add_argument("--full", action="store_true", help="also 1e7 rows")
    ap.add_argument("--rounds", type=int, default=1000)
    ap.add_argument("--lr-dense", action="store_true", help="Arena LR with the original dense design")
    ap.add_argument("--lr-max-rows", type=float, default=1e6, help="skip the LR above this many rows")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    if args.full and 10**7 not in sizes:
        sizes.append(10**7)

    fit_rows = []
    for n_rows in sizes:
        df, truth = synthetic(n_rows)
        repeats = 3 if n_rows <= 10**6 else 1
        t_ours, ours = timed(lambda df=df: run_ours(df), repeats)
        t_direct, direct = timed(lambda df=df: run_ours_direct(df), repeats)
        t_map, winners = timed(lambda df=df: evalica_winners(df), repeats)
        t_ev, ev = timed(lambda df=df, w=winners: run_evalica(df, w), repeats)
        t_choix, ch = timed(lambda df=df: run_choix(df), repeats)
        if n_rows <= args.lr_max_rows:
            t_lr, lr = timed(lambda df=df: run_arena_lr(df, args.lr_dense), 1)
        else:
            t_lr, lr = float("nan"), None
        from scipy.stats import spearmanr

        fit_rows.append({
            "rows": n_rows, "ours": t_ours, "ours_direct": t_direct, "evalica_call": t_ev,
            "evalica_total": t_ev + t_map, "choix": t_choix, "arena_lr": t_lr,
            "diff_ours": max_diff(ours, ev), "diff_direct": max_diff(direct, ev), "diff_choix": max_diff(ch, ev),
            "diff_lr": max_diff(lr, ev) if lr is not None else float("nan"),
            "rho_truth": float(spearmanr(ours[truth.index], truth).statistic),
        })
        r = fit_rows[-1]
        print(f"{n_rows:>9,} rows: ours {t_ours:.3f}s (direct {t_direct:.3f}s) | evalica {t_ev:.3f}s "
              f"(+{t_map:.3f}s labels) | choix {t_choix:.3f}s | arena LR {t_lr:.3f}s | "
              f"max|ours-evalica| {r['diff_ours']:.1e}", flush=True)

    boot_df, _ = synthetic(10**6)
    boot_rows = []
    for method in ("multinomial", "poisson"):
        t, width = bootstrap_bench(boot_df, args.rounds, method)
        boot_rows.append((method, t, width))
        print(f"bootstrap {args.rounds} rounds ({method}) on 10^6 rows: {t:.2f}s", flush=True)
    mem_rows = bootstrap_memory(boot_df, [100, 1000, 4000])
    for rounds, peak, working in mem_rows:
        print(f"bootstrap {rounds} rounds: peak {peak:.1f} MiB, without kept scores {working:.1f} MiB", flush=True)

    import evalica

    lines = [
        "# Ranking benchmark",
        "",
        f"Command: `.venv/bin/python -m bench.bench_ranking --sizes {args.sizes}"
        f"{' --full' if args.full else ''}{' --lr-dense' if args.lr_dense else ''}` "
        f"({platform.python_version()}, {os.cpu_count()} cores shared with other jobs, numpy {np.__version__}, "
        f"evalica {evalica.__version__}). Synthetic: {N_MODELS} models, log-normal strengths, "
        f"{int(TIE_SHARE * 100)}% ties, string names. Times are the best of 3 (1 for the LR and 10^7 rows), "
        "each from the same DataFrame of strings, including the method's own input conversion.",
        "",
        "## Fit time (seconds)",
        "",
        "| rows | ours `bradley_terry` | ours, model_a/model_b labels | evalica call | evalica incl. label map "
        "| choix ilsr_pairwise_dense | Arena LR (sklearn, " + ("dense" if args.lr_dense else "sparse") + ") "
        "| LR / ours | max abs diff vs evalica: ours / choix / LR | Spearman ours vs truth |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in fit_rows:
        ratio = r["arena_lr"] / r["ours"] if np.isfinite(r["arena_lr"]) else float("nan")
        lines.append(
            f"| {r['rows']:,} | {r['ours']:.3f} | {r['ours_direct']:.3f} | {r['evalica_call']:.3f} "
            f"| {r['evalica_total']:.3f} | {r['choix']:.3f} | {r['arena_lr']:.3f} | {ratio:.0f}× "
            f"| {r['diff_ours']:.1e} / {r['diff_choix']:.1e} / {r['diff_lr']:.1e} | {r['rho_truth']:.3f} |"
        )
    lines += [
        "",
        f"## Bootstrap ({args.rounds} rounds, 10^6 rows aggregated to {N_MODELS * (N_MODELS - 1) // 2:,} pairs)",
        "",
        "| method | seconds | mean 95% interval width |",
        "|---|---:|---:|",
    ]
    lines += [f"| {m} | {t:.2f} | {w:.5f} |" for m, t, w in boot_rows]
    lines += [
        "",
        "## Bootstrap memory (tracemalloc peak, multinomial)",
        "",
        "| rounds | peak MiB | peak minus kept per-round scores (rounds × models × 8 B) MiB |",
        "|---:|---:|---:|",
    ]
    lines += [f"| {rounds:,} | {peak:.1f} | {working:.1f} |" for rounds, peak, working in mem_rows]
    text = "\n".join(lines) + "\n"
    print()
    print(text)
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text)
    return text


if __name__ == "__main__":
    main()
