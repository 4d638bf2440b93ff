"""Benchmark: DS2 score curation (HOC + SimiFeat detection + rareness) of llmfeedback_assets.curation vs a
faithful dense re-implementation of the reference's per-round computation (UCSC-REAL/DS2 on Docta).

Data: synthetic embeddings that behave like sentence embeddings of an instruction set (default 100,000 x 384,
2,500 topics, unit norm), 6 score classes; every topic has a clean score (10% of its rows one class off) and
the judge's scores come from a known banded transition matrix (70% kept, most of the rest one class off).

Each method runs in its own subprocess (2 torch threads) so peak RSS (getrusage maxrss) is its own:
  - ours, full defaults: `curate(x, scores, 6)` (50 HOC rounds x 50k, 51 detection epochs x 50k, k = 10);
  - ours, R rounds: the same with `hoc_rounds = detection_epochs = R`, for the agreement check;
  - reference, R rounds: per HOC round and per detection epoch the reference's computation on the sampled
    50k rows: cosine distance to every other sampled row (all m^2 = 2.5e9 distances, fp32 matmul), topk of
    the 3 (HOC) or 10 (detection) smallest, label patterns / similarity-weighted votes, per-class
    percentile flags; then the HOC solve as published (fp32 torch autograd, Adam lr 0.1, 1,501 steps, the
    last iterate) and rareness from a full-data top-10. Two concessions, both in the reference's favour:
    the distance matrix is materialised in 4,096-row slabs rather than at once (at once it takes
    2 x m^2 x 4 B = 20 GB for `dist = 1 - sim`, which this 23 GB shared machine cannot hold), and the
    Python loops that count patterns are vectorised. Its full-run time is extrapolated from R rounds:
    50 x (HOC round) + 51 x (detection epoch) + solve + rareness (rareness measured on 10% of the rows x 10).
  - literal dense reference at a smaller sample (--literal-sample, default 15k): the whole m x m distance
    matrix at once, exactly as the reference builds it, to measure its memory (grows as m^2) and per-round
    time; ours with the same sample size for agreement.
Both sides draw the same sample index sets (numpy default_rng(seed): HOC rounds first, then epochs) and start
the solver from the same p0, so T, flags and curated scores are comparable row by row. No dataset doubling
on either side (see curation/core.py for the departures).

Wall time on this shared 2-core machine depends on other jobs' load, so CPU seconds are reported too.

Run: .venv/bin/python -m bench.bench_curation [--n 100000] [--dim 384] [--rounds 3] [--repeats 2] [--no-write]
Writes bench/results/curation.md (--n 100000) or curation_<n/1000>k.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "curation.md"
K = 6
KEEP = 0.7


def banded_transition(keep: float = KEEP, k: int = K) -> np.ndarray:
    T = np.zeros((k, k))
    for i in range(k):
        T[i, i] = keep
        near = [j for j in (i - 1, i + 1) if 0 <= j < k]
        far = [j for j in range(k) if j != i and j not in near]
        T[i, near] = (1 - keep) * 0.8 / len(near)
        T[i, far] = (1 - keep) * 0.2 / len(far)
    return T


def synthetic(n: int, dim: int, topics: int = 2500, seed: int = 0):
    """Unit embeddings around `topics` directions (cosine to the topic ~0.7, to other topics ~0), a clean
    score per topic, judge scores drawn through the banded T."""
    rng = np.random.default_rng(seed)
    prior = np.array([0.08, 0.14, 0.22, 0.26, 0.18, 0.12])
    centers = rng.standard_normal((topics, dim)).astype(np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    topic_score = rng.choice(K, size=topics, p=prior)
    topic = rng.integers(0, topics, size=n)
    x = centers[topic] + rng.standard_normal((n, dim)).astype(np.float32) * np.float32(1.0 / np.sqrt(dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    clean = topic_score[topic]
    T = banded_transition()
    noisy = (rng.random(n)[:, None] > np.cumsum(T, axis=1)[clean]).sum(axis=1)
    return x.astype(np.float32), clean.astype(np.int64), noisy.astype(np.int64)


def sample_plan(n: int, seed: int, rounds: int, epochs: int, hoc_size: int, det_size: int):
    """The index sets `curate` draws: one default_rng(seed), HOC rounds first, then detection epochs."""
    rng = np.random.default_rng(seed)
    m_hoc = min(hoc_size, int(0.9 * n))
    m_det = min(det_size, int(0.9 * n))
    return ([rng.choice(n, m_hoc, replace=False) for _ in range(rounds)],
            [rng.choice(n, m_det, replace=False) for _ in range(epochs)])


# --- the reference's per-round computation (Docta's hoc.py / knn.py / detect.py), re-implemented ----------

def ref_topk_smallest(feat, k: int, slab: int | None):
    """cosDistance(feature) then topk(k, largest=False): the whole matrix at once (slab=None), or in slabs."""
    import torch

    f = torch.nn.functional.normalize(feat, dim=1)
    if slab is None:
        dist = 1.0 - f @ f.T
        return dist.topk(k, dim=1, largest=False, sorted=True)
    values, indices = [], []
    for s in range(0, f.shape[0], slab):
        dist = 1.0 - f[s:s + slab] @ f.T
        v, i = dist.topk(k, dim=1, largest=False, sorted=True)
        values.append(v)
        indices.append(i)
    return torch.cat(values), torch.cat(indices)


def ref_hoc_round(x, labels, sample, slab):
    import torch

    _, idx = ref_topk_smallest(x[torch.as_tensor(sample)], 3, slab)
    lab = labels[sample]
    pat = lab[idx.numpy()]  # (m, 3): own, 1st, 2nd
    c3 = np.bincount((pat[:, 0] * K + pat[:, 1]) * K + pat[:, 2], minlength=K ** 3).reshape(K, K, K)
    return c3 / len(sample), idx.numpy()


def ref_solve(c3, seed: int):
    """calc_func as published: fp32, Adam lr 0.1, 1,501 steps; its 'best' T aliases the live tensor, so
    the result is the last iterate."""
    import torch

    c = [torch.tensor(c3.sum(axis=(1, 2)), dtype=torch.float32),
         torch.tensor(c3.sum(axis=2), dtype=torch.float32), torch.tensor(c3, dtype=torch.float32)]
    gen = torch.Generator().manual_seed(seed)
    t_raw = (5 * torch.eye(K) - torch.ones((K, K))).requires_grad_(True)
    p_raw = (torch.ones(K) / K + torch.rand(K, generator=gen) * 0.1).requires_grad_(True)
    opt = torch.optim.Adam([t_raw, p_raw], lr=0.1)

    def loss_fn():
        T = torch.softmax(t_raw, 1)
        p = torch.softmax(p_raw, 0)
        ana = (p @ T, torch.einsum("i,ia,ib->ab", p, T, T), torch.einsum("i,ia,ib,ic->abc", p, T, T, T))
        return sum(torch.norm(e - a) for e, a in zip(c, ana, strict=True))

    loss = loss_fn()
    for _ in range(1, 1501):  # step 0 only evaluates, as in the reference
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss = loss_fn()
    return (torch.softmax(t_raw, 1).detach().double().numpy(),
            torch.softmax(p_raw, 0).detach().double().numpy())


def ref_detect_epoch(x, labels, sample, T_given_noisy_diag, slab, k=10):
    import torch

    values, idx = ref_topk_smallest(x[torch.as_tensor(sample)], k, slab)
    values[:, 0] = 2.0 * values[:, 1] - values[:, 2]
    lab = torch.as_tensor(labels[sample])
    knn_labels = lab[idx]
    cnt = torch.zeros(len(sample), K)
    for i in range(K):
        cnt[:, i] += torch.sum((1.0 - values) * (knn_labels == i), 1)
    prob = torch.nn.functional.normalize(cnt, p=2.0, dim=1)
    score = torch.nn.functional.nll_loss(torch.log(prob + 1e-8), lab, reduction="none").numpy()
    pred = np.argmax(prob.numpy(), axis=1)
    own = labels[sample]
    sel, sug = [], []
    for c in range(K):
        rate = 1 - min(1.0 * T_given_noisy_diag[c], 1.0)
        rate = 0.95 if rate >= 1.0 else (0.05 if rate <= 0.0 else rate)
        in_c = own == c
        if not in_c.any():
            continue
        thr = np.percentile(score[in_c], 100 * (1 - rate))
        hit = (score >= thr) & in_c
        sel.append(sample[hit])
        sug.append(pred[hit])
    return np.concatenate(sel), np.concatenate(sug), idx.numpy()


def ref_rareness(x, rows, slab=1024, k=10):
    """get_consensus_patterns(dataset, all rows, k=10): mean distance over the 10 smallest, self included."""
    import torch

    f = torch.nn.functional.normalize(x, dim=1)
    out = []
    for s in range(0, len(rows), slab):
        dist = 1.0 - f[torch.as_tensor(rows[s:s + slab])] @ f.T
        v, _ = dist.topk(k, dim=1, largest=False)
        out.append(v.mean(1).numpy())
    mean = np.concatenate(out).astype(np.float64)
    return np.round(2.0 / (1 + np.exp(-mean)) - 1.0, 4)


# --- workers (one subprocess each) -------------------------------------------------------------------------

def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cpu_s() -> float:
    """CPU seconds of this process (all threads): unlike wall time, barely moved by other jobs' load."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def worker(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    data = np.load(Path(args.data) / "data.npz")
    x_np, noisy = data["x"], data["noisy"]
    n = len(noisy)
    out: dict = {"rss_loaded_mib": _rss_mib()}
    arrays: dict = {}
    t0 = time.perf_counter()
    c0 = _cpu_s()
    if args.worker.startswith("ours"):
        from llmfeedback_assets.curation import curate, knn

        opts = ({} if args.worker == "ours_full"
                else {"hoc_rounds": args.rounds, "detection_epochs": args.rounds})
        if args.sample:
            opts.update(hoc_sample_size=args.sample, detection_sample_size=args.sample)
        r = curate(x_np, noisy, K, seed=0, **opts)
        out["seconds"] = time.perf_counter() - t0
        out["cpu_s"] = _cpu_s() - c0
        out["rss_peak_mib"] = _rss_mib()
        out["timings"] = r.timings
        out["stats"] = {k: v for k, v in r.stats.items() if k != "noise_rate_per_class"}
        arrays.update(T=r.transition_matrix, p=r.clean_prior, curated=r.curated_scores, flagged=r.flagged,
                      confidence=r.confidence, rare=r.rare_scores, c3=r.consensus[2])
        if args.worker == "ours_full":  # neighbour recall of the graph against brute force (not timed)
            graph = knn.knn_graph(x_np / np.linalg.norm(x_np, axis=1, keepdims=True), 10)
            rows = np.random.default_rng(1).choice(n, 2000, replace=False)
            xt = torch.from_numpy(x_np)
            sims = xt[torch.as_tensor(rows)] @ xt.T
            sims[torch.arange(rows.size), torch.as_tensor(rows)] = -float("inf")
            _, want = sims.topk(10, dim=1)
            got = graph.indices[rows]
            out["graph_recall_at_10"] = float(np.mean([
                len(set(a) & set(b)) / 10
                for a, b in zip(got.tolist(), want.numpy().tolist(), strict=True)]))
        else:  # our neighbours for the first HOC round / detection epoch, to compare with the reference's
            hoc_s, det_s = sample_plan(n, 0, args.rounds, args.rounds, args.sample or 50_000,
                                       args.sample or 50_000)
            xn = torch.from_numpy(x_np / np.linalg.norm(x_np, axis=1, keepdims=True))
            width = max(10, knn.graph_size_for_sampling(n, len(hoc_s[0]), 2),
                        knn.graph_size_for_sampling(n, len(det_s[0]), 9))
            graph = knn.knn_graph(xn, width)
            arrays["nn_hoc"] = knn.neighbors_in_sample(graph, xn, hoc_s[0], 2)[0]
            arrays["nn_det"] = knn.neighbors_in_sample(graph, xn, det_s[0], 9)[0]
    else:
        import torch

        slab = None if args.worker == "ref_literal" else 4096
        x = torch.from_numpy(x_np)
        size = args.sample or 50_000
        hoc_s, det_s = sample_plan(n, 0, args.rounds, args.rounds, size, size)
        t, c = time.perf_counter(), _cpu_s()
        c3 = np.zeros((K, K, K))
        for i, s in enumerate(hoc_s):
            part, idx = ref_hoc_round(x, noisy, s, slab)
            c3 += part
            if i == 0:
                arrays["nn_hoc"] = s[idx[:, 1:]]
        c3 /= len(hoc_s)
        out["hoc_round_s"] = (time.perf_counter() - t) / len(hoc_s)
        out["hoc_round_cpu_s"] = (_cpu_s() - c) / len(hoc_s)
        t, c = time.perf_counter(), _cpu_s()
        T, p = ref_solve(c3, seed=0)
        out["solve_s"] = time.perf_counter() - t
        out["solve_cpu_s"] = _cpu_s() - c
        p_org = np.bincount(noisy, minlength=K) / n
        diag = np.diag(T) * p / p_org
        t, c = time.perf_counter(), _cpu_s()
        flag_rec = np.zeros(n)
        times = np.zeros(n)
        sug_rec = np.zeros((n, K))
        for i, s in enumerate(det_s):
            sel, sug, idx = ref_detect_epoch(x, noisy, s, diag, slab)
            flag_rec[sel] += 1
            times[s] += 1
            sug_rec[sel, sug] += 1
            if i == 0:
                arrays["nn_det"] = s[idx[:, 1:]]
        out["detect_epoch_s"] = (time.perf_counter() - t) / len(det_s)
        out["detect_epoch_cpu_s"] = (_cpu_s() - c) / len(det_s)
        out["rss_rounds_mib"] = _rss_mib()  # peak of the per-round work, before the full-data rareness
        noisy_avg = (flag_rec + 1) / (times + 2)
        flagged = np.round(noisy_avg).astype(bool)
        share = (sug_rec + 1) / (sug_rec.sum(1, keepdims=True) + K)
        share[np.arange(n), noisy] = -1
        proposal = share.argmax(1)
        conf = share[np.arange(n), proposal] * noisy_avg
        curated = np.where(flagged & (conf >= 0.5), proposal, noisy)
        t, c = time.perf_counter(), _cpu_s()
        rare_rows = np.arange(0, n, 10)
        rare = ref_rareness(x, rare_rows)
        out["rareness_10pct_s"] = time.perf_counter() - t
        out["rareness_10pct_cpu_s"] = _cpu_s() - c
        out["seconds"] = time.perf_counter() - t0
        out["cpu_s"] = _cpu_s() - c0
        out["rss_peak_mib"] = _rss_mib()
        arrays.update(T=T, p=p, curated=curated, flagged=flagged, c3=c3, rare_rows=rare_rows, rare=rare)
    np.savez(Path(args.out).with_suffix(".npz"), **arrays)
    Path(args.out).with_suffix(".json").write_text(json.dumps(out))


def run_worker(name: str, data: Path, tmp: Path, rounds: int, threads: int,
               sample: int | None = None) -> dict:
    out = tmp / name
    cmd = [sys.executable, "-m", "bench.bench_curation", "--worker", name, "--data", str(data), "--out",
           str(out), "--rounds", str(rounds), "--threads", str(threads)]
    if sample:
        cmd += ["--sample", str(sample)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    t = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=Path(__file__).resolve().parents[1])
    res = json.loads(out.with_suffix(".json").read_text())
    res["wall_s"] = time.perf_counter() - t
    res["arrays"] = dict(np.load(out.with_suffix(".npz")))
    print(f"  {name}: {res['seconds']:.1f}s, peak RSS {res['rss_peak_mib']:.0f} MiB", flush=True)
    return res


def neighbour_recall(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean([len(set(u) & set(v)) / len(u)
                          for u, v in zip(a.tolist(), b.tolist(), strict=True)]))


def compare(ours: dict, ref: dict) -> dict:
    a, b = ours["arrays"], ref["arrays"]
    union = a["flagged"] | b["flagged"]
    return {
        "consensus_diff": float(np.abs(a["c3"] - b["c3"]).max()),
        "T_diff": float(np.abs(a["T"] - b["T"]).max()),
        "p_diff": float(np.abs(a["p"] - b["p"]).max()),
        "label_agreement": float((a["curated"] == b["curated"]).mean()),
        "label_agreement_flagged": float((a["curated"][union] == b["curated"][union]).mean()),
        "flag_jaccard": float((a["flagged"] & b["flagged"]).sum() / max(union.sum(), 1)),
        "recall_hoc": neighbour_recall(a["nn_hoc"], b["nn_hoc"]),
        "recall_det": neighbour_recall(a["nn_det"], b["nn_det"]),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--rounds", type=int, default=3, help="HOC rounds = detection epochs for the comparison")
    ap.add_argument("--literal-sample", type=int, default=15_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2, help="runs of our full curation (best wall time kept)")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--worker")
    ap.add_argument("--data")
    ap.add_argument("--out")
    ap.add_argument("--sample", type=int)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return

    T_true = banded_transition()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        x, clean, noisy = synthetic(args.n, args.dim)
        np.savez(tmp / "data.npz", x=x, noisy=noisy)
        print(f"data: {args.n} x {args.dim}, noise {np.mean(clean != noisy):.3f}", flush=True)
        runs = [run_worker("ours_full", tmp, tmp, args.rounds, args.threads) for _ in range(args.repeats)]
        full = min(runs, key=lambda r: r["seconds"])
        ours_r = run_worker("ours_rounds", tmp, tmp, args.rounds, args.threads)
        ref_r = run_worker("ref_slabs", tmp, tmp, args.rounds, args.threads)
        lit_ours = run_worker("ours_literal", tmp, tmp, args.rounds, args.threads, args.literal_sample)
        lit_ref = run_worker("ref_literal", tmp, tmp, args.rounds, args.threads, args.literal_sample)
        load = os.getloadavg()[0]

    cmp_r = compare(ours_r, ref_r)
    cmp_lit = compare(lit_ours, lit_ref)
    ref_full_s = (50 * ref_r["hoc_round_s"] + 51 * ref_r["detect_epoch_s"] + ref_r["solve_s"]
                  + 10 * ref_r["rareness_10pct_s"])
    ref_full_cpu = (50 * ref_r["hoc_round_cpu_s"] + 51 * ref_r["detect_epoch_cpu_s"] + ref_r["solve_cpu_s"]
                    + 10 * ref_r["rareness_10pct_cpu_s"])
    ours_s = full["seconds"]
    ours_cpu = full["cpu_s"]
    m = min(50_000, int(0.9 * args.n))
    ref_full_mem_gib = 2 * m * m * 4 / 2 ** 30
    fa = full["arrays"]
    rare_rows = ref_r["arrays"]["rare_rows"]
    from scipy.stats import spearmanr

    rare_rho = float(spearmanr(fa["rare"][rare_rows], ref_r["arrays"]["rare"]).statistic)
    acc_raw = float((noisy == clean).mean())
    acc_cur = float((fa["curated"] == clean).mean())
    corrupted = noisy != clean
    lines = [
        "# Curation benchmark",
        "",
        f"Command: `.venv/bin/python -m bench.bench_curation --n {args.n} --dim {args.dim} "
        f"--rounds {args.rounds} --repeats {args.repeats}` "
        f"(Python {platform.python_version()}, numpy {np.__version__}, "
        f"torch {__import__('torch').__version__}, "
        f"{args.threads} threads on a 2-core machine shared with other jobs; 1-minute load average "
        f"{load:.1f} at the end of the run). Synthetic data: {args.n:,} x {args.dim} unit embeddings around "
        f"2,500 topics, {K} score classes, judge noise from a banded T (70% kept). Every method in its own "
        "subprocess; peak memory is that process's max RSS (including ~0.4 GB of Python + torch).",
        "",
        "## Full curation (HOC + detection + rareness, published defaults)",
        "",
        "| method | wall seconds | CPU seconds (both threads) | peak RSS GiB | notes |",
        "|---|---:|---:|---:|---|",
        f"| ours `curate` (best of {len(runs)} runs: " + ", ".join(f"{r['seconds']:.1f}" for r in runs)
        + f" s) | {ours_s:.1f} | {ours_cpu:.1f} | {full['rss_peak_mib'] / 1024:.2f} | "
        + ", ".join(f"{k[:-2]} {v:.1f}s" for k, v in full["timings"].items() if k != "total_s")
        + f"; kNN {full['stats']['knn_precision']}, "
        f"{full['stats']['knn_recomputed_rows']} rows re-done in fp32, "
        f"{full['stats']['brute_force_rows']} in-sample brute-force rows |",
        f"| reference, dense per round (extrapolated from {args.rounds} + {args.rounds} rounds) | "
        f"{ref_full_s:.0f} | {ref_full_cpu:.0f} | {ref_full_mem_gib:.1f} "
        f"(computed: 2 x m^2 x 4 B at m = {m:,}) | "
        f"HOC round {ref_r['hoc_round_s']:.1f}s x 50, detection epoch {ref_r['detect_epoch_s']:.1f}s x 51, "
        f"solve {ref_r['solve_s']:.1f}s, rareness {10 * ref_r['rareness_10pct_s']:.0f}s; "
        "measured in 4,096-row "
        f"slabs: peak RSS {ref_r['rss_rounds_mib'] / 1024:.2f} GiB in the rounds, "
        f"{ref_r['rss_peak_mib'] / 1024:.2f} GiB overall |",
        "",
        f"Speed-up: **{ref_full_s / ours_s:.0f}x** in wall time, "
        f"**{ref_full_cpu / ours_cpu:.0f}x** in CPU time. "
        f"On an idle 2-core machine our wall time would lie between CPU seconds / 2 and CPU seconds "
        f"({ours_cpu / 2:.0f}-{ours_cpu:.0f} s). "
        f"Goals: under 120 s ({'met' if ours_s < 120 else 'missed'}), "
        f">= 10x ({'met' if ref_full_s / ours_s >= 10 else 'missed'}), under 4 GB "
        f"({'met' if full['rss_peak_mib'] < 4096 else 'missed'}).",
        "",
        "## Same data and seeds: ours vs the reference",
        "",
        "| comparison | consensus max diff | T max diff | prior max diff | "
        "curated-score agreement (all rows) | "
        "agreement on rows either flagged | flagged Jaccard | neighbour recall HOC 2-NN / detection 9-NN |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
        f"| {args.rounds} rounds x {m:,} (reference in slabs) | {cmp_r['consensus_diff']:.1e} | "
        f"{cmp_r['T_diff']:.4f} | {cmp_r['p_diff']:.4f} | {cmp_r['label_agreement']:.4f} | "
        f"{cmp_r['label_agreement_flagged']:.4f} | {cmp_r['flag_jaccard']:.4f} | "
        f"{cmp_r['recall_hoc']:.5f} / {cmp_r['recall_det']:.5f} |",
        f"| {args.rounds} rounds x {args.literal_sample:,} (reference literal, whole matrix) | "
        f"{cmp_lit['consensus_diff']:.1e} | {cmp_lit['T_diff']:.4f} | {cmp_lit['p_diff']:.4f} | "
        f"{cmp_lit['label_agreement']:.4f} | {cmp_lit['label_agreement_flagged']:.4f} | "
        f"{cmp_lit['flag_jaccard']:.4f} | {cmp_lit['recall_hoc']:.5f} / {cmp_lit['recall_det']:.5f} |",
        "",
        f"Literal dense reference at m = {args.literal_sample:,}: HOC round {lit_ref['hoc_round_s']:.2f}s, "
        f"detection epoch {lit_ref['detect_epoch_s']:.2f}s, peak RSS during the rounds "
        f"{lit_ref['rss_rounds_mib'] / 1024:.2f} GiB "
        f"(data and runtime ~{lit_ref['rss_loaded_mib'] / 1024:.2f} GiB; "
        f"its two m x m matrices: {2 * args.literal_sample ** 2 * 4 / 2 ** 30:.2f} GiB; at m = {m:,}: "
        f"{ref_full_mem_gib:.1f} GiB). Ours at the same sample size: {lit_ours['seconds']:.1f}s in total "
        f"({lit_ours['cpu_s']:.0f} CPU s), peak RSS {lit_ours['rss_peak_mib'] / 1024:.2f} GiB, "
        "nearly all of it the "
        f"one neighbour graph, {lit_ours['stats']['graph_neighbors']} wide because a "
        f"{args.literal_sample:,}-row "
        f"sample holds only {args.literal_sample / args.n:.0%} of each list; it pays off over the published "
        "101 rounds, not over 3 + 3.",
        "",
        "T differs by the solver only (ours: float64, lowest-loss iterate plus a decaying-rate tail; "
        "reference: "
        "fp32, last iterate at lr 0.1): the consensus the two solve is the same up to fp32 near-ties. The "
        "deliberate departures from the reference code are listed in `llmfeedback_assets/curation/core.py`.",
        "",
        "## Quality of the full run",
        "",
        f"- kNN: exact by construction (bf16 shortlist, fp32 re-score, certified or recomputed); "
        "recall@10 of "
        f"the graph against fp32 brute force on 2,000 random rows: {full['graph_recall_at_10']:.5f}.",
        f"- T max abs error vs the generating T: {np.abs(fa['T'] - T_true).max():.3f}; clean prior max abs "
        f"error {np.abs(fa['p'] - np.bincount(clean, minlength=K) / len(clean)).max():.3f}.",
        f"- Flagged {int(fa['flagged'].sum()):,} rows; recall of corrupted scores "
        f"{fa['flagged'][corrupted].mean():.3f}, precision {corrupted[fa['flagged']].mean():.3f}; "
        f"curated-score accuracy {acc_cur:.3f} vs raw {acc_raw:.3f}.",
        f"- Rareness vs the reference's definition (self included in the top 10, 4 decimals) on every 10th "
        f"row: Spearman {rare_rho:.4f}.",
    ]
    table = "\n".join(lines) + "\n"
    print(table)
    if not args.no_write:  # the published 100k table keeps its name; other sizes get their own file
        out = RESULTS if args.n == 100_000 else RESULTS.with_name(f"curation_{args.n // 1000}k.md")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(table)
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
