"""DS2 on a user's own pool at the paper's scale, end to end through the real assets: a synthetic
instruction-tuning pool of --n rows (simulator answers of five quality levels, distinct instructions) in
JSONL, a project whose `sft_sources` points at it, and `dagster asset materialize` runs of
`curation_examples`, `embeddings`, then one judge's `quality_scores` and `curated_scores` and the `ds2`
selection. Each step's wall time and the peak RSS of its process tree are recorded; the embedding store
commits chunk by chunk, so a rerun of `embeddings` shows the cached path.

    .venv/bin/python -m bench.bench_pool --n 300000 --out bench/results/pool_300k.md
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml

from bench.bench_scale import kill_tree, tree_rss
from llmfeedback_assets.config import ModelSpec, SimResponderSpec
from llmfeedback_assets.ids import rng_for
from llmfeedback_assets.llm import sim

REPO = Path(__file__).resolve().parents[1]
JUDGE = "sim-judge-biased"
RESPONDERS = {"sim-strong": (0.85, 0.3), "sim-good": (0.7, 0.6), "sim-mid": (0.55, 0.2),
              "sim-verbose": (0.42, 0.95), "sim-weak": (0.3, 0.4)}
VERBS = ("Explain", "Summarise", "Compare", "Describe", "Critique", "Outline", "Justify", "Illustrate")
TOPICS = ("tidal energy", "sourdough baking", "B-tree indexes", "medieval trade", "vaccine trials",
          "jazz harmony", "soil erosion", "compiler passes", "urban cycling", "coral reefs", "tax policy",
          "glacier retreat", "chess openings", "solar sails", "sleep hygiene", "river deltas")


def write_pool(path: Path, n: int) -> None:
    """n rows, each a distinct instruction answered by one of the five simulated responders in turn."""
    specs = [ModelSpec(name=m, provider="sim", sim=SimResponderSpec(quality=q, verbosity=v))
             for m, (q, v) in RESPONDERS.items()]
    with path.open("w") as out:
        for i in range(n):
            instruction = (f"{VERBS[i % len(VERBS)]} {TOPICS[(i // len(VERBS)) % len(TOPICS)]} for reader "
                           f"#{i}, in a way a newcomer can follow.")
            spec = specs[i % len(specs)]
            answer = sim.write_answer(spec, instruction, rng_for("pool", spec.name, str(i)))
            out.write(json.dumps({"instruction": instruction, "input": "", "output": answer}) + "\n")


def make_project(tmp: Path, n: int) -> Path:
    pool = tmp / "pool.jsonl"
    write_pool(pool, n)
    (tmp / "prompts").mkdir()
    (tmp / "prompts" / "p.jsonl").write_text(json.dumps({"question_id": 1, "turns": ["Say hello."]}) + "\n")
    models = [{"name": m, "provider": "sim", "sim": {"quality": q, "verbosity": v}}
              for m, (q, v) in RESPONDERS.items()]
    models.append({"name": JUDGE, "provider": "sim", "price_input_per_mtok": 0.15,
                   "price_output_per_mtok": 0.6,
                   "sim_judge": {"noise": 0.3, "position_bias": 0.3, "verbosity_bias": 0.3}})
    config = {"database": str(tmp / "warehouse.duckdb"), "models": models, "responders": list(RESPONDERS),
              "judges": [JUDGE], "prompt_sources": [{"path": str(tmp / "prompts")}],
              "sft_sources": [{"path": str(pool)}], "judging": {"modes": ["quality"]},
              "curation": {"target_size": n // 30}}
    path = tmp / "llmfeedback.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def materialize(env: dict, select: str, partition: str | None, log: Path, timeout: float) -> dict:
    cmd = [str(REPO / ".venv" / "bin" / "dagster"), "asset", "materialize", "-m",
           "llmfeedback_assets.definitions", "--select", select]
    if partition:
        cmd += ["--partition", partition]
    start, peak = time.monotonic(), 0
    with log.open("a") as sink:
        proc = subprocess.Popen(cmd, env=env, stdout=sink, stderr=subprocess.STDOUT, cwd=REPO)
        ps = psutil.Process(proc.pid)
        try:
            while proc.poll() is None:
                peak = max(peak, tree_rss(ps))
                if time.monotonic() - start > timeout:
                    kill_tree(ps)
                    raise TimeoutError(f"{select} exceeded {timeout} s")
                time.sleep(0.5)
        finally:
            if proc.poll() is None:
                kill_tree(ps)
    if proc.returncode:
        raise RuntimeError(f"{select} failed (exit {proc.returncode}); see {log}")
    return {"step": select + (f" [{partition}]" if partition else ""),
            "wall_s": round(time.monotonic() - start, 1), "peak_gib": round(peak / 2**30, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=300_000)
    ap.add_argument("--timeout", type=float, default=4 * 3600)
    ap.add_argument("--workdir", type=Path, default=None, help="keep the project here (default: a temp dir)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    tmp = args.workdir or Path(tempfile.mkdtemp(prefix="bench_pool_"))
    tmp.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    config = make_project(tmp, args.n)
    write_s = time.monotonic() - t0
    env = {**os.environ, "LLMFEEDBACK_CONFIG": str(config), "DAGSTER_HOME": str(tmp / "dagster_home")}
    (tmp / "dagster_home").mkdir(exist_ok=True)
    (tmp / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    log = tmp / "materialize.log"
    cli = str(REPO / ".venv" / "bin" / "llmfeedback")
    subprocess.run([cli, "sync-partitions", "--config", str(config)], env=env, check=True, cwd=REPO,
                   capture_output=True)
    steps = []
    for select, partition in (("curation_examples", None), ("embeddings", None), ("embeddings", None),
                              ("quality_scores", JUDGE), ("curated_scores", JUDGE),
                              ("selected_dataset", "ds2")):
        steps.append(materialize(env, select, partition, log, args.timeout))
        print(json.dumps(steps[-1]), flush=True)
    load = os.getloadavg()
    lines = [f"# DS2 on a {args.n:,}-row pool, end to end (`python -m bench.bench_pool --n {args.n}`)", "",
             f"Pool file written in {write_s:.0f} s. Machine: {os.cpu_count()} cores; load average at "
             f"the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}. The second `embeddings` run "
             "finds every vector in the store.", "", "| step | wall s | peak RSS GiB |", "|---|---:|---:|"]
    lines += [f"| {s['step']} | {s['wall_s']} | {s['peak_gib']} |" for s in steps]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
