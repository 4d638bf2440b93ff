"""Benchmark: the model gateway against the fake OpenAI server, side by side with two common clients.

1. Rate-limited judging. The fake server (its own process) allows `--rpm` requests/min per model (a token
   bucket holding one second of its rate; excess gets 429 with retry-after-ms) and answers after
   `--latency` seconds. Each client sends the same `--n` judge prompts at the same concurrency:
     - gateway: `Gateway.run` with the model configured at the server's limit (journal included);
     - FastChat-style thread pool: a ThreadPoolExecutor of sync `openai.OpenAI` clients; on any error it
       sleeps 10 s and tries again, up to 16 times (the retry policy of FastChat's judge script);
     - asyncio + semaphore: one `openai.AsyncOpenAI`, a semaphore, and exponential backoff with jitter
       (1 s, 2 s, 4 s ... up to 60 s, ten attempts) that ignores Retry-After (the tenacity recipe).
   Reported: wall time, share of the limit (answers per second / limit per second), 429s received and
   requests the server saw.
2. Overhead. An unlimited, zero-latency server; the gateway's requests/s and client CPU per request, next to
   a bare `AsyncOpenAI` + semaphore loop doing nothing else (the SDK's own cost).
3. Rerun of the finished partition: the requests the server sees (goal 0) and the wall time.
4. Share of the limit by latency: the server allows `--rpm` and answers after 0.1 s, 2 s or 10 s; the
   gateway (its in-flight window from Little's law, default `max_concurrency`) next to a fixed pool of
   `--concurrency` threads (the FastChat-style client above). Share = answers per second once the first
   answers are back (the steady state), over the limit; also over the whole wall time.
5. Fault mix (the issue's scenario), per seed: `--fault-n` requests at 10/s, answered after 1 s; 5% 429
   with Retry-After: 1 independent of the send rate, 5% 500, 5% 503, 1% hangs (longer than the 5 s client
   timeout), 1% malformed bodies; the same run without the 429s as baseline. All runs at once, each its
   own model on one server process. Reported: wall times and their ratio, requests lost (no final status),
   requests sent again after a valid answer.

Run: .venv/bin/python -m bench.bench_gateway [--n 2000] [--rpm 6000] [--latency 0.1] [--concurrency 32]
     [--overhead-n 4000] [--skip-baselines] [--sections judging,overhead,latency,faults]
     [--latencies 0.1,2,10] [--fault-n 600] [--seeds 6]
Writes bench/results/gateway.md.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import random
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai

from llmfeedback_assets.config import REMOTE_MAX_CONCURRENCY
from llmfeedback_assets.llm import ChatRequest, Gateway
from llmfeedback_assets.warehouse import Warehouse
from llmfeedback_assets_tests.support.configs import KEY_ENV, config_with, fake_model
from llmfeedback_assets_tests.support.fake_llm import FakeLLM

FAULTS = {"500": 0.05, "503": 0.05, "hang": 0.01, "malformed": 0.01}  # the mixed runs add "429": 0.05

RESULTS = Path(__file__).resolve().parent / "results" / "gateway.md"
JUDGE_SYSTEM = "You are a careful, impartial judge of answers to user questions."


def judge_prompts(n: int, model: str) -> list[ChatRequest]:
    """n distinct pairwise-judgment prompts of realistic length (~1,500 characters)."""
    rng = random.Random(0)
    words = ("the model answer explains a clear method with examples and careful reasoning about edge "
             "cases").split()
    out = []
    for i in range(n):
        a = " ".join(rng.choice(words) for _ in range(90))
        b = " ".join(rng.choice(words) for _ in range(90))
        user = (f"[Question {i}]\nHow should one approach problem number {i}?\n\n[Answer A]\n{a}"
                f"\n\n[Answer B]\n{b}"
                "\n\nCompare the two answers and finish with [[A]], [[B]] or [[C]] for a tie.")
        out.append(ChatRequest(model=model, messages=(("system", JUDGE_SYSTEM), ("user", user))))
    return out


# -- baselines ---------------------------------------------------------------------------------------------
def fastchat_pool(base_url: str, model: str, reqs: list[ChatRequest], concurrency: int) -> dict:
    client = openai.OpenAI(api_key="sk-bench", base_url=base_url, max_retries=0, timeout=60)
    ok = 0
    lock = threading.Lock()

    def one(req: ChatRequest) -> None:
        nonlocal ok
        for _ in range(16):  # API_MAX_RETRY
            try:
                client.chat.completions.create(model=model, messages=req.message_dicts(), temperature=0.0,
                                               max_tokens=64)
                with lock:
                    ok += 1
                return
            except openai.OpenAIError:
                time.sleep(10)  # API_RETRY_SLEEP, whatever the error

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, reqs))
    return {"wall": time.perf_counter() - t0, "ok": ok}


async def _semaphore_client(base_url: str, model: str, reqs: list[ChatRequest], concurrency: int) -> dict:
    client = openai.AsyncOpenAI(api_key="sk-bench", base_url=base_url, max_retries=0, timeout=60)
    sem = asyncio.Semaphore(concurrency)
    ok = 0

    async def one(req: ChatRequest) -> None:
        nonlocal ok
        async with sem:
            for attempt in range(10):
                try:
                    await client.chat.completions.create(model=model, messages=req.message_dicts(),
                                                         temperature=0.0, max_tokens=64)
                    ok += 1
                    return
                except openai.OpenAIError:
                    await asyncio.sleep(random.uniform(0, min(60.0, 2.0 ** attempt)))

    t0 = time.perf_counter()
    await asyncio.gather(*(one(r) for r in reqs))
    wall = time.perf_counter() - t0
    await client.close()
    return {"wall": wall, "ok": ok}


def semaphore_client(base_url: str, model: str, reqs: list[ChatRequest], concurrency: int) -> dict:
    return asyncio.run(_semaphore_client(base_url, model, reqs, concurrency))


async def _bare_sdk(base_url: str, model: str, reqs: list[ChatRequest], concurrency: int,
                    aiohttp: bool = False) -> dict:
    extra = {"http_client": openai.DefaultAioHttpClient()} if aiohttp else {}
    client = openai.AsyncOpenAI(api_key="sk-bench", base_url=base_url, max_retries=0, timeout=60, **extra)
    sem = asyncio.Semaphore(concurrency)

    async def one(req: ChatRequest) -> None:
        async with sem:
            await client.chat.completions.create(model=model, messages=req.message_dicts(), temperature=0.0,
                                                 max_tokens=64)

    t0, c0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(r) for r in reqs))
    out = {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0, "ok": len(reqs)}
    await client.close()
    return out


# -- gateway -----------------------------------------------------------------------------------------------
def gateway_run(server: FakeLLM, model: str, reqs: list[ChatRequest], db: Path, **spec) -> dict:
    cfg = config_with(fake_model(server, model, **spec))
    t0, c0 = time.perf_counter(), time.process_time()
    results, stats = Gateway(cfg, Warehouse(db)).run(reqs)
    return {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0,
            "ok": sum(r.ok for r in results), "stats": stats}


def measure(server: FakeLLM, fn, *args, **kw) -> dict:
    server.reset(settings=False)
    out = fn(*args, **kw)
    st = server.stats()
    out["received"] = st["received"]
    out["429"] = st["by_outcome"].get("429", 0)
    return out


# -- share of the limit by latency ------------------------------------------------------------------------
def served_share(events: list, latency: float, limit_per_s: float) -> float:
    """Answers per second once the first answers are back, over the limit (answer time = arrival of an
    answered request + the server's latency; the first second of answers, the cold-start burst, is left
    out)."""
    done = sorted(e[0] + latency for e in events if e[3] == "ok")
    start = done[0] + 1.0
    steady = [t for t in done if t > start]
    if len(steady) < 2:
        return float("nan")
    return len(steady) / (steady[-1] - start) / limit_per_s


def latency_rows(args, tmp: Path) -> list[tuple]:
    rows = []
    limit_per_s = args.rpm / 60.0
    for latency in (float(x) for x in args.latencies.split(",")):
        server = FakeLLM.spawn(rpm=args.rpm, latency_s=latency, retry_after="ms")
        try:
            # Enough requests for the gateway to spend most of the run in the steady state, and for the
            # fixed pool to go round at least three times.
            n_ours = int(limit_per_s * (max(20.0, 5 * latency) + latency))
            n_pool = max(3 * args.concurrency, int(min(limit_per_s, args.concurrency / latency) * 20))
            model = f"judge-l{latency:g}".replace(".", "_")
            spec = {"requests_per_minute": args.rpm, "max_tokens": 64, "timeout_s": 60 + latency,
                    "max_concurrency": REMOTE_MAX_CONCURRENCY}
            g = measure(server, gateway_run, server, model, judge_prompts(n_ours, model),
                        tmp / f"lat{latency:g}.duckdb", **spec)
            g["share"] = served_share(server.stats()["events"], latency, limit_per_s)
            g["n"], g["inflight"] = n_ours, server.stats()["max_inflight"].get(model, 0)
            p = measure(server, fastchat_pool, server.openai_base_url, model + "-pool",
                        judge_prompts(n_pool, model + "-pool"), args.concurrency)
            st = server.stats()
            p["share"] = served_share(st["events"], latency, limit_per_s)
            p["n"], p["inflight"] = n_pool, st["max_inflight"].get(model + "-pool", 0)
        finally:
            server.stop()
        for name, r in (("gateway (window from latency, default max_concurrency)", g),
                        (f"fixed pool of {args.concurrency} threads (FastChat-style)", p)):
            r["wall_share"] = r["ok"] / r["wall"] / limit_per_s
            rows.append((latency, name, r))
            print(f"{latency:g}s {name}: {r['n']} requests, {r['wall']:.1f}s, share {r['share']:.0%}, "
                  f"in flight {r['inflight']}, {r['429']} 429s", flush=True)
    return rows


# -- fault mix --------------------------------------------------------------------------------------------
async def _fault_runs(server: FakeLLM, models: list[str], n: int, tmp: Path) -> dict:
    async def one(model: str):
        cfg = config_with(fake_model(server, model, requests_per_minute=600, timeout_s=5.0, max_retries=6,
                                     max_tokens=64, max_concurrency=REMOTE_MAX_CONCURRENCY))
        t0 = time.perf_counter()
        results, stats = await Gateway(cfg, Warehouse(tmp / f"{model}.duckdb")).arun(
            judge_prompts(n, model))
        return model, results, stats, time.perf_counter() - t0  # RunStats.elapsed_s keeps counting

    return {m: (res, st, wall) for m, res, st, wall in await asyncio.gather(*(one(m) for m in models))}


def fault_rows(args, tmp: Path) -> list[dict]:
    faults = {}
    for seed in range(args.seeds):
        faults[f"mixed-{seed}"] = {**FAULTS, "429": 0.05, "seed": seed}
        faults[f"base-{seed}"] = {**FAULTS, "seed": seed}
    server = FakeLLM.spawn(latency_s=1.0, retry_after="s", fault_retry_after_s=1.0, hang_s=10.0,
                           faults=faults)
    try:
        runs = asyncio.run(_fault_runs(server, list(faults), args.fault_n, tmp))
        st = server.stats()
    finally:
        server.stop()
    rows = []
    for seed in range(args.seeds):
        (mixed, ms, mwall), (base, bs, bwall) = runs[f"mixed-{seed}"], runs[f"base-{seed}"]
        lost = sum(1 for r in [*mixed, *base] if not (r.ok or (r.status == "failed" and r.error)))
        lost += 2 * args.fault_n - len(mixed) - len(base)
        rows.append({"seed": seed, "mixed": mwall, "base": bwall, "ratio": mwall / bwall,
                     "429": ms.rate_limited, "failed": ms.failed + bs.failed, "lost": lost,
                     "rate": args.fault_n / mwall})
        print(f"seed {seed}: {mwall:.1f}s vs {bwall:.1f}s without 429s "
              f"(ratio {rows[-1]['ratio']:.2f}), {ms.rate_limited} 429s, lost {lost}", flush=True)
    for r in rows:
        r["resent"] = st["resent_after_ok"]  # over every run on the server
    return rows


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--rpm", type=float, default=6000)
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--overhead-n", type=int, default=4000)
    ap.add_argument("--overhead-concurrency", type=int, default=16)
    ap.add_argument("--skip-baselines", action="store_true")
    ap.add_argument("--sections", default="judging,overhead,latency,faults")
    ap.add_argument("--latencies", default="0.1,2,10")
    ap.add_argument("--fault-n", type=int, default=600)
    ap.add_argument("--seeds", type=int, default=6)
    args = ap.parse_args(argv)
    sections = set(args.sections.split(","))
    os.environ.setdefault(KEY_ENV, "sk-bench")
    tmp = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    limit_per_s = args.rpm / 60.0
    parts = [header(args)]
    if "judging" in sections:
        parts.append(judging_section(args, tmp, limit_per_s))
    if "overhead" in sections:
        parts.append(overhead_section(args, tmp))
    if "latency" in sections:
        parts.append(render_latency(args, latency_rows(args, tmp)))
    if "faults" in sections:
        parts.append(render_faults(args, fault_rows(args, tmp)))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    parts.append(f"Load average at the end: {load:.1f}. The client and the server share the machine's cores "
                 "with whatever else runs.")
    table = "\n\n".join(parts)
    print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(table + "\n")
    return table


def header(args) -> str:
    flags = [f"--{k.replace('_', '-')} {v:g}" if isinstance(v, float) else f"--{k.replace('_', '-')} {v}"
             for k, v in vars(args).items() if not isinstance(v, bool)]
    cmd = " ".join(flags) + (" --skip-baselines" if args.skip_baselines else "")
    return ("# Gateway benchmark\n\n"
            f"Command: `.venv/bin/python -m bench.bench_gateway {cmd}`  \n"
            f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
            "fake server in its own process.")


def judging_section(args, tmp: Path, limit_per_s: float) -> str:
    rows = []
    server = FakeLLM.spawn(rpm=args.rpm, latency_s=args.latency, retry_after="ms")
    try:
        reqs = judge_prompts(args.n, "judge-bench")
        db = tmp / "judge.duckdb"
        spec = {"requests_per_minute": args.rpm, "max_concurrency": args.concurrency, "max_tokens": 64}
        g = measure(server, gateway_run, server, "judge-bench", reqs, db, **spec)
        rows.append(("gateway", g))
        print(f"gateway: {g['wall']:.1f}s, {g['ok']} ok, {g['429']} 429s, {g['received']} received",
              flush=True)
        rerun = measure(server, gateway_run, server, "judge-bench", reqs, db, **spec)
        if not args.skip_baselines:
            for name, fn in (("asyncio + semaphore + backoff", semaphore_client),
                             ("FastChat-style thread pool", fastchat_pool)):
                r = measure(server, fn, server.openai_base_url, "judge-bench", reqs, args.concurrency)
                rows.append((name, r))
                print(f"{name}: {r['wall']:.1f}s, {r['ok']} ok, {r['429']} 429s, {r['received']} received",
                      flush=True)
    finally:
        server.stop()
    lines = [
        f"## {args.n} judgments, server limit {args.rpm:g} requests/min, {args.latency * 1000:.0f} ms "
        f"latency, concurrency {args.concurrency}",
        "",
        "| client | wall (s) | answered | share of limit | 429s received | requests sent |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows:
        share = r["ok"] / r["wall"] / limit_per_s
        lines.append(f"| {name} | {r['wall']:.1f} | {r['ok']} | {share:.0%} | {r['429']} | {r['received']} |")
    lines += ["", f"Rerun of the finished partition with the gateway: {rerun['received']} requests sent, "
                  f"{rerun['stats'].cache_hits} journal hits, {rerun['wall']:.2f} s."]
    return "\n".join(lines)


def overhead_section(args, tmp: Path) -> str:
    server = FakeLLM.spawn()
    try:
        reqs = judge_prompts(args.overhead_n, "judge-fast")
        conc = args.overhead_concurrency
        spec = {"requests_per_minute": 1e9, "max_concurrency": conc, "max_tokens": 64}
        measure(server, gateway_run, server, "judge-warm", judge_prompts(200, "judge-warm"),
                tmp / "warm.duckdb", **spec)  # imports and first connections
        over = measure(server, gateway_run, server, "judge-fast", reqs, tmp / "fast.duckdb", **spec)
        bare = measure(server, lambda *a: asyncio.run(_bare_sdk(*a)), server.openai_base_url, "judge-bare",
                       reqs, conc)
        bare_aio = measure(server, lambda *a: asyncio.run(_bare_sdk(*a, aiohttp=True)),
                           server.openai_base_url, "judge-bare-aio", reqs, conc)
    finally:
        server.stop()
    lines = [
        f"## Overhead: {args.overhead_n} requests, unlimited zero-latency server, concurrency {conc}",
        "",
        "| client | requests/s | client CPU per request (ms) | requests/s one free core allows |",
        "|---|---:|---:|---:|",
    ]
    for name, r in [("gateway (limiter, retries, journal spool + DuckDB, aiohttp transport)", over),
                    ("bare AsyncOpenAI + semaphore, default transport (SDK only)", bare),
                    ("bare AsyncOpenAI + semaphore, aiohttp transport (SDK only)", bare_aio)]:
        cpu_ms = r["cpu"] / r["ok"] * 1000
        lines.append(f"| {name} | {r['ok'] / r['wall']:.0f} | {cpu_ms:.2f} | {1000 / cpu_ms:.0f} |")
    lines += ["", "The last column is the client's own CPU budget: 1 / CPU per request."]
    return "\n".join(lines)


def render_latency(args, rows: list[tuple]) -> str:
    lines = [
        f"## Share of the limit by latency: server limit {args.rpm:g} requests/min",
        "",
        "| latency | client | requests | wall (s) | share of limit (steady) | share (whole run) | "
        "most in flight | 429s |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for latency, name, r in rows:
        lines.append(f"| {latency:g} s | {name} | {r['n']} | {r['wall']:.1f} | {r['share']:.0%} | "
                     f"{r['wall_share']:.0%} | {r['inflight']} | {r['429']} |")
    return "\n".join(lines)


def render_faults(args, rows: list[dict]) -> str:
    lines = [
        f"## Fault mix: {args.fault_n} requests per run at 10 requests/s, 1 s latency, 5 s client timeout",
        "",
        "5% 429 (Retry-After: 1, independent of the send rate), 5% 500, 5% 503, 1% hangs (10 s), 1% "
        "malformed bodies; baseline: the same seed without the 429s. Lost: requests without a final status. "
        "Sent again after a valid answer: requests the server got for content it had already answered 200.",
        "",
        "| seed | wall with 429s (s) | wall without (s) | ratio | 429s | answers/s | failed for good "
        "| lost |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['seed']} | {r['mixed']:.1f} | {r['base']:.1f} | {r['ratio']:.2f} | {r['429']} | "
                     f"{r['rate']:.1f} | {r['failed']} | {r['lost']} |")
    worst = max((r["ratio"] for r in rows), default=math.nan)
    resent = rows[0]["resent"] if rows else 0
    lines += ["", f"Worst ratio {worst:.2f} (goal <= 1.6); requests sent again after a valid answer: "
                  f"{resent}."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
