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

Run: .venv/bin/python -m bench.bench_gateway [--n 2000] [--rpm 6000] [--latency 0.1] [--concurrency 32]
     [--overhead-n 4000] [--skip-baselines]
Writes bench/results/gateway.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai

from llmfeedback_assets.llm import ChatRequest, Gateway
from llmfeedback_assets.warehouse import Warehouse
from llmfeedback_assets_tests.support.configs import KEY_ENV, config_with, fake_model
from llmfeedback_assets_tests.support.fake_llm import FakeLLM

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


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--rpm", type=float, default=6000)
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--overhead-n", type=int, default=4000)
    ap.add_argument("--overhead-concurrency", type=int, default=16)
    ap.add_argument("--skip-baselines", action="store_true")
    args = ap.parse_args(argv)
    os.environ.setdefault(KEY_ENV, "sk-bench")
    tmp = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    limit_per_s = args.rpm / 60.0
    rows = []

    # 1. rate-limited judging
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

    # 2. overhead against an unlimited, zero-latency server
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

    bares = {"bare AsyncOpenAI + semaphore, default transport (SDK only)": bare,
             "bare AsyncOpenAI + semaphore, aiohttp transport (SDK only)": bare_aio}
    table = render(args, rows, rerun, over, bares, limit_per_s)
    print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(table + "\n")
    return table


def render(args, rows, rerun, over, bare: dict, limit_per_s) -> str:
    cpu = os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        "# Gateway benchmark",
        "",
        f"Command: `.venv/bin/python -m bench.bench_gateway --n {args.n} --rpm {args.rpm:g} "
        f"--latency {args.latency:g}"
        f" --concurrency {args.concurrency} --overhead-n {args.overhead_n}`  ",
        f"Machine: {platform.machine()}, {cpu} cores, Python {platform.python_version()}, "
        f"load average {load:.1f} at the end; fake server in its own process.",
        "",
        f"## {args.n} judgments, server limit {args.rpm:g} requests/min, "
        f"{args.latency * 1000:.0f} ms latency, "
        f"concurrency {args.concurrency}",
        "",
        "| client | wall (s) | answered | share of limit | 429s received | requests sent |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows:
        share = r["ok"] / r["wall"] / limit_per_s
        lines.append(f"| {name} | {r['wall']:.1f} | {r['ok']} | {share:.0%} | {r['429']} | {r['received']} |")
    lines += [
        "",
        f"Rerun of the finished partition with the gateway: {rerun['received']} requests sent, "
        f"{rerun['stats'].cache_hits} journal hits, {rerun['wall']:.2f} s.",
        "",
        f"## Overhead: {args.overhead_n} requests, unlimited zero-latency server, concurrency "
        f"{args.overhead_concurrency}",
        "",
        "| client | requests/s | client CPU per request (ms) | requests/s one free core allows |",
        "|---|---:|---:|---:|",
    ]
    gateway_name = "gateway (limiter, retries, journal spool + DuckDB, aiohttp transport)"
    for name, r in [(gateway_name, over), *bare.items()]:
        cpu_ms = r["cpu"] / r["ok"] * 1000
        lines.append(f"| {name} | {r['ok'] / r['wall']:.0f} | {cpu_ms:.2f} | {1000 / cpu_ms:.0f} |")
    lines += [
        "",
        "The client and the server share the machine's cores with whatever else runs; the last column is the "
        "client's own CPU budget: 1 / CPU per request.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
