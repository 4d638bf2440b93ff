"""Benchmark: the whole graph (`llmfeedback run`) at 1x, 10x and 50x the bundled prompt count.

Each scale s gets its own project in a temp dir: the bundled config (data/config/llmfeedback.yaml) copied with
`database` and the SQLite export pointed into the temp dir, every other setting as bundled (models, judges,
judging modes, curation.target_size, synth, reward ...), and as prompts:
  - 1x: the 40 bundled prompts (data/prompts, read in place);
  - s x: those 40 plus 40 * (s - 1) real prompts, written to one MT-bench-format JSONL in the temp dir: a
    seeded shuffle of MT-bench's 80 two-turn questions (with their references), LLMFAO's 19 prompts, the
    1,000 SuperNI instructions with their inputs (sparse_feedback), and the 805 AlpacaEval instructions
    (sparse_feedback's davinci003.json, instruction only) - 1,904, less one SuperNI input longer than
    max_prompt_chars; 50x needs 1,960, so the first turns of the two-turn MT-bench questions follow as
    single-turn prompts (those AlpacaEval already holds skipped). The 10x prompts are a prefix of the 50x.
Every prompt is distinct (ingestion de-duplicates by content hash); the table counts the ingested ones.

`.venv/bin/llmfeedback run` runs in a subprocess with DAGSTER_HOME=<tmp>/dagster_home (the repo's
dagster.yaml), LLMFEEDBACK_CONFIG=<tmp config> and the Hugging Face hub offline. Measured: wall time; CPU
seconds of the process tree (getrusage of the waited children); peak RSS of the whole tree (psutil every
0.2 s, the process plus all its descendants); the 1-minute load average before and after. Per step, start
and end from the Dagster instance afterwards (`get_run_step_stats` over every run `llmfeedback run`
launched); partitioned assets (judge_model, selection strategy) are summed over partitions. A scale over
`--timeout` is killed and its finished steps are still shown; the step it was in is shown as a lower bound.

Growth (per input) = (time at the largest finished scale / at the smallest) / (ratio of ingested prompts):
1.0 linear, below 1 a fixed cost, above 1.5 flagged super-linear; a timed-out scale gives a lower bound.
Wall times on a shared machine move with other jobs' load: read them with the load average and CPU seconds.

Run: .venv/bin/python -m bench.bench_scale [--scales 1,10,50] [--timeout 1800] [--keep] [--no-write]
     [--rev HEAD] [--json FILE] [--merge FILE] (--help says more)   Writes bench/results/scale.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil
import yaml

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO / ".." / "shared" / "datasets"
RESULTS = REPO / "bench" / "results" / "scale.md"
CONFIG = REPO / "data" / "config" / "llmfeedback.yaml"
BUNDLED_PROMPTS = REPO / "data" / "prompts"
BASE = 40  # bundled prompts: the 1x input
SUPERLINEAR = 1.5
POLL_S = 0.2
COMMAND = ".venv/bin/python -m bench.bench_scale " + " ".join(sys.argv[1:])  # as run with -m


# -- prompts ----------------------------------------------------------------------------------------------

def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def prompt_pool(datasets: Path = DATASETS) -> tuple[list[tuple[str, dict]], list[tuple[str, dict]]]:
    """(real prompts in a seeded shuffle, fill-ups): (source label, MT-bench-format record) each; prompts
    over the config's max_prompt_chars are left out, so every scale ingests exactly 40 * s prompts."""
    real: list[tuple[str, dict]] = []
    mt = _jsonl(datasets / "mt_bench" / "question.jsonl")
    for q in mt:
        rec = {"question_id": f"mtbench-{q['question_id']}", "category": q["category"], "turns": q["turns"]}
        if q.get("reference"):
            rec["reference"] = q["reference"]
        real.append(("mt_bench", rec))
    for p in _jsonl(datasets / "llmfao" / "prompts.jsonl"):
        rec = {"question_id": f"llmfao-{p['id']}", "category": p["type"], "turns": [p["text"]]}
        real.append(("llmfao", rec))
    sparse = datasets / "sparse_feedback"
    for i, r in enumerate(json.loads((sparse / "instructions" / "natural_instructions.json").read_text())):
        text = f"{r['instruction'].strip()}\n\n{r['input'].strip()}" if r.get("input") else r["instruction"]
        real.append(("superni", {"question_id": f"superni-{i}", "turns": [text]}))
    davinci = json.loads((sparse / "inference_model_outputs" / "davinci003.json").read_text())
    for i, r in enumerate(davinci):
        real.append(("alpaca_eval", {"question_id": f"alpacaeval-{i}", "turns": [r["instruction"]]}))
    random.Random(0).shuffle(real)
    # Dropped after the shuffle, so the order of the rest stays as first measured: prompts over the bundled
    # max_prompt_chars, which ingestion rejects (one SuperNI input is 111,452 characters).
    limit = yaml.safe_load(CONFIG.read_text()).get("max_prompt_chars", 100_000)
    real = [(label, rec) for label, rec in real
            if sum(map(len, rec["turns"])) + sum(map(len, rec.get("reference", []))) <= limit]
    fill = [("mt_bench turn 1", {"question_id": f"mtbench-{q['question_id']}-t1", "category": q["category"],
                                 "turns": q["turns"][:1]}) for q in mt if len(q["turns"]) > 1]
    return real, fill


def _content(turns: list[str]) -> tuple[str, ...]:
    # what ingestion's content hash sees: line endings and outer whitespace do not count
    return tuple(t.replace("\r\n", "\n").replace("\r", "\n").strip() for t in turns)


def extra_prompts(n: int, datasets: Path = DATASETS) -> list[tuple[str, dict]]:
    """The first n distinct prompts of the pool that the bundled ones do not already hold (AlpacaEval repeats
    a few MT-bench first turns), so ingestion, which merges duplicates, keeps all of them."""
    real, fill = prompt_pool(datasets)
    seen = {_content(r["turns"]) for r in _jsonl(BUNDLED_PROMPTS / "llmfeedback_prompts.jsonl")}
    out = []
    for label, rec in real + fill:
        key = _content(rec["turns"])
        if key not in seen:
            seen.add(key)
            out.append((label, rec))
    if n > len(out):
        raise SystemExit(f"scale needs {n} extra prompts; the datasets give {len(out)} distinct ones")
    return out[:n]


# -- one scale --------------------------------------------------------------------------------------------

@dataclass
class ScaleResult:
    scale: int
    prompts: int
    sources: dict[str, int]
    status: str = "ok"  # ok | timeout | failed (rc N)
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_gib: float = 0.0
    load_before: float = 0.0
    load_after: float = 0.0
    steps: dict[str, dict] = field(default_factory=dict)  # label -> {seconds, count, partial, kind}
    runs: int = 0
    run_s: float = 0.0
    code: str = ""  # the package's git state when the run started
    ingested: int | None = None  # rows of the `prompts` table after the run
    mean_chars: float | None = None  # their mean first-turn length
    timeout_s: float | None = None
    command: str = ""  # the command that measured this scale


def make_project(tmp: Path, scale: int, datasets: Path) -> tuple[Path, dict[str, int]]:
    """Write the config (and the extra prompts) for one scale under `tmp`; the config's path and the
    prompt count per source."""
    cfg = yaml.safe_load(CONFIG.read_text())
    cfg["database"] = str(tmp / "warehouse.duckdb")
    export_db = tmp / "exports" / "backfill.sqlite"
    cfg["export"] = {**cfg.get("export", {}), "database_url": f"sqlite:///{export_db}"}
    sources, counts = [{"path": str(BUNDLED_PROMPTS)}], {"bundled": BASE}
    if scale > 1:
        extra = extra_prompts(BASE * (scale - 1), datasets)
        path = tmp / "prompts" / "extra_prompts.jsonl"
        path.parent.mkdir(parents=True)
        path.write_text("".join(json.dumps(rec, ensure_ascii=False) + "\n" for _, rec in extra),
                        encoding="utf-8")
        sources.append({"path": str(path)})
        for label, _ in extra:
            counts[label] = counts.get(label, 0) + 1
    cfg["prompt_sources"] = sources
    # The config's own folder is its project root: models_dir, incoming_dir and curation exports land in tmp.
    config_path = tmp / "llmfeedback.yaml"
    config_path.write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
    (tmp / "dagster_home").mkdir()
    shutil.copy(REPO / "dagster.yaml", tmp / "dagster_home" / "dagster.yaml")
    return config_path, counts


def code_state() -> str:
    """HEAD and the package files changed in the working tree: the code a run imported (steps import
    some modules only when they run, so edits made during a run can reach it)."""
    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True).stdout.rstrip("\n")

    changed = [ln[3:].removeprefix("llmfeedback_assets/") for ln in git("status", "--short", "--",
                                                                         "llmfeedback_assets").splitlines()]
    return f"HEAD {git('rev-parse', '--short', 'HEAD')}" + (
        f" + working-tree changes in {', '.join(changed)}" if changed else " (clean)")


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    with contextlib.suppress(psutil.NoSuchProcess):
        for p in [proc, *proc.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                total += p.memory_info().rss
    return total


def kill_tree(proc: psutil.Process) -> None:
    """SIGTERM the process we started and its descendants, SIGKILL what is left after 10 s."""
    with contextlib.suppress(psutil.NoSuchProcess):
        procs = [proc, *proc.children(recursive=True)]
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.terminate()
        for p in psutil.wait_procs(procs, timeout=10)[1]:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()


def snapshot(rev: str, dest: Path) -> str:
    """`llmfeedback_assets` as committed at `rev`, unpacked under `dest` (git archive: the repo is only read),
    so a run imports that code and not a working tree others are editing. Returns the commit."""
    sha = subprocess.run(["git", "rev-parse", "--short", rev], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout.strip()
    archive = subprocess.run(["git", "archive", "--format=tar", sha, "llmfeedback_assets"], cwd=REPO,
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    where = subprocess.run([str(REPO / ".venv" / "bin" / "python"), "-c",
                            "import llmfeedback_assets; print(llmfeedback_assets.__file__)"],
                           env={**os.environ, "PYTHONPATH": str(dest)}, cwd=dest, capture_output=True,
                           text=True, check=True).stdout.strip()
    if not Path(where).resolve().is_relative_to(dest.resolve()):  # the editable install must not win
        raise SystemExit(f"--rev: the venv still imports {where}, not the snapshot in {dest}")
    return sha


def run_scale(scale: int, timeout: float, datasets: Path, keep: bool, src: Path | None = None,
              code: str | None = None) -> ScaleResult:
    tmp = Path(tempfile.mkdtemp(prefix=f"llmfeedback-scale{scale}-"))
    try:
        config_path, counts = make_project(tmp, scale, datasets)
        res = ScaleResult(scale, sum(counts.values()), counts, timeout_s=timeout, command=COMMAND)
        env = {**os.environ, "DAGSTER_HOME": str(tmp / "dagster_home"),
               "LLMFEEDBACK_CONFIG": str(config_path), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        if src is not None:  # the snapshot comes first on sys.path, before the venv's editable finder
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(src), os.environ.get("PYTHONPATH")) if p)
        log = tmp / "run.log"
        res.code = code or code_state()
        res.load_before = os.getloadavg()[0]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        print(f"== {scale}x: {res.prompts} prompts, project in {tmp}", flush=True)
        t0 = time.time()
        with log.open("wb") as out:
            popen = subprocess.Popen([str(REPO / ".venv" / "bin" / "llmfeedback"), "run"], env=env, cwd=tmp,
                                     stdout=out, stderr=subprocess.STDOUT)
            proc = psutil.Process(popen.pid)
            peak = 0
            try:
                while popen.poll() is None:
                    peak = max(peak, tree_rss(proc))
                    if time.time() - t0 > timeout:
                        res.status = "timeout"
                        break
                    time.sleep(POLL_S)
            finally:  # on the timeout, and when this benchmark is interrupted or terminated itself
                if popen.poll() is None:
                    kill_tree(proc)
                    popen.wait()
        end = time.time()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        res.wall_s = end - t0
        res.cpu_s = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        res.peak_rss_gib = peak / 2 ** 30
        res.load_after = os.getloadavg()[0]
        if res.status == "ok" and popen.returncode != 0:
            res.status = f"failed (rc {popen.returncode})"
        res.steps, res.runs, res.run_s = step_times(tmp / "dagster_home", end)
        res.ingested, res.mean_chars = ingested_prompts(tmp / "warehouse.duckdb")
        print(f"   {res.status}: {res.wall_s:.1f}s wall, {res.cpu_s:.0f} CPU s, peak RSS "
              f"{res.peak_rss_gib:.2f} GiB, load {res.load_before:.1f} -> {res.load_after:.1f}", flush=True)
        if res.status != "ok":
            print("\n".join(log.read_text(errors="replace").splitlines()[-15:]), flush=True)
        return res
    finally:
        if keep:
            print(f"   kept {tmp}", flush=True)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def ingested_prompts(db: Path) -> tuple[int | None, float | None]:
    """(prompts in the warehouse, their mean first-turn characters); None when there is no table."""
    import duckdb

    try:
        with duckdb.connect(str(db), read_only=True) as con:
            n, chars = con.execute("SELECT count(*), avg(length(turns[1])) FROM prompts").fetchone()
    except (duckdb.Error, OSError):
        return None, None
    return int(n), (float(chars) if chars is not None else None)


def step_times(home: Path, killed_at: float) -> tuple[dict[str, dict], int, float]:
    """Seconds per asset (or check) over every run in the instance at `home`, summed over partitions. A
    step that did not succeed is marked partial: one still running counts until `killed_at`; one that a
    kill interrupted (Dagster turns SIGTERM into a step failure) has its own end time."""
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(home))
    steps: dict[str, dict] = defaultdict(
        lambda: {"seconds": 0.0, "count": 0, "partial": False, "kind": "asset"})
    run_s = 0.0
    try:
        records = instance.get_run_records()
        for rec in records:
            if rec.start_time:
                run_s += (rec.end_time or killed_at) - rec.start_time
            labels = step_labels(instance, rec.dagster_run.run_id)
            for st in instance.get_run_step_stats(rec.dagster_run.run_id):
                if st.start_time is None:
                    continue
                label, kind = labels.get(st.step_key, (st.step_key, "asset"))
                entry = steps[label]
                entry["kind"] = kind
                entry["seconds"] += (st.end_time or killed_at) - st.start_time
                entry["count"] += 1
                entry["partial"] |= st.end_time is None or getattr(st.status, "value", None) != "SUCCESS"
    finally:
        instance.dispose()
    return dict(steps), len(records), run_s


def step_labels(instance, run_id: str) -> dict[str, tuple[str, str]]:
    """step key -> (asset or check name, kind) from the run's materialization and check events."""
    import dagster as dg

    out: dict[str, tuple[str, str]] = {}
    mats = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    by_step: dict[str, list[str]] = defaultdict(list)
    for r in mats:
        ev = r.event_log_entry.dagster_event
        by_step[ev.step_key].append(ev.asset_key.to_user_string())
    for key, names in by_step.items():
        out[key] = (", ".join(sorted(set(names))), "asset")
    checks = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    for r in checks:
        ev = r.event_log_entry.dagster_event
        check = ev.event_specific_data.asset_check_key
        out.setdefault(ev.step_key, (f"{check.asset_key.to_user_string()}:{check.name}", "check"))
    return out


# -- table ------------------------------------------------------------------------------------------------

def _fmt_cell(entry: dict | None, res: ScaleResult) -> str:
    if entry is None:
        return "not reached" if res.status != "ok" else "-"
    text = f"{entry['seconds']:.1f}"
    if entry["partial"]:
        return f">= {text} (killed)" if res.status == "timeout" else f"{text} (failed)"
    return text


def inputs(r: ScaleResult) -> int:
    """The run's input size: the prompts it ingested when known, else the prompts it was given."""
    return r.ingested or r.prompts


def growth(a: dict | None, b: dict | None, ratio: float) -> float | None:
    if not a or not b or a["partial"] or b["partial"] or a["seconds"] <= 0:
        return None
    return b["seconds"] / a["seconds"] / ratio


def render(results: list[ScaleResult], args, import_note: str) -> str:
    first = results[0]
    done = [r for r in results if r.status == "ok"]
    last = done[-1] if done and done[-1] is not first else first  # the largest finished scale
    ratio = inputs(last) / inputs(first)
    gcol = f"growth {first.scale}→{last.scale} (per input)" if last is not first else "growth (2 runs needed)"
    over = results[-1] if results[-1] is not last else None  # the largest scale, when it did not finish
    if over is not None:
        gcol += f" | growth {first.scale}→{over.scale} lower bound ({over.status})"
    labels = {label: e["kind"] for r in results for label, e in r.steps.items()}

    def slowest(k: str) -> float:
        return max(r.steps[k]["seconds"] for r in results if k in r.steps)

    order = sorted(labels, key=lambda k: (labels[k] == "check", -slowest(k), k))
    bundled = yaml.safe_load(CONFIG.read_text())
    for r in results:
        r.command = r.command or COMMAND
    commands = list(dict.fromkeys(r.command for r in results))
    mix = "; ".join(f"{r.scale}× = {r.prompts:,} ("
                    + ", ".join(f"{k} {v}" for k, v in r.sources.items()) + ")" for r in results)
    lines = [
        "# Scaling benchmark: `llmfeedback run` at several prompt counts",
        "",
        ("Command: " if len(commands) == 1 else "Commands: ") + "; ".join(
            f"`{c}`" + (f" ({', '.join(f'{r.scale}×' for r in results if r.command == c)})"
                        if len(commands) > 1 else "") for c in commands) + " "
        f"(Python {platform.python_version()}, {os.cpu_count()} CPUs shared with other jobs, "
        f"{psutil.virtual_memory().total / 2 ** 30:.0f} GiB RAM).",
        "",
        "Config: the bundled `data/config/llmfeedback.yaml`, `database` and `export.database_url` in a temp "
        f"dir, everything else as bundled: responders {bundled['responders']}, judges {bundled['judges']}"
        f", judging.modes {bundled['judging']['modes']}, curation {bundled.get('curation')}, "
        f"leaderboard {bundled.get('leaderboard')}, synth personas {len(bundled['synth']['personas'])} + "
        f"{bundled['synth']['generate_num_personas']} generated. Prompts: {mix}. Sources: data/prompts, "
        "../shared/datasets mt_bench/question.jsonl, llmfao/prompts.jsonl, sparse_feedback/instructions/"
        "natural_instructions.json (instruction + input), sparse_feedback/inference_model_outputs/"
        "davinci003.json (AlpacaEval instructions only), and single-turn first turns of MT-bench's two-turn "
        "questions as fill-up; one seeded shuffle, each scale's prompts a prefix of the next. "
        "Timeout per scale: " + ", ".join(f"{r.scale}× {r.timeout_s or args.timeout:.0f} s" for r in results)
        + ("; scales not run by this command come from --merge files." if args.merge else "."),
        "",
        "Per-step seconds from the Dagster instance (step start to end), summed over partitions (×n = "
        "steps). "
        f"Growth = time ratio / input ratio ({ratio:.0f}x the prompts): 1.0 linear, < 1 mostly fixed cost, "
        f"**> {SUPERLINEAR}** flagged super-linear.",
        "",
        "| step | " + " | ".join(f"{r.scale}× s" for r in results) + f" | {gcol} |",
        "|---|" + "---:|" * (len(results) + 1 + (over is not None)),
    ]
    for label in order:
        counts = {r.steps[label]["count"] for r in results if label in r.steps}
        name = label + (f" (×{max(counts)})" if max(counts) > 1 else "")
        if labels[label] == "check":
            name = f"check {name}"
        g = growth(first.steps.get(label), last.steps.get(label), ratio) if last is not first else None
        gtext = "-" if g is None else (f"**{g:.2f}** super-linear" if g > SUPERLINEAR else f"{g:.2f}")
        if over is not None:  # a killed step's time so far still bounds its growth from below
            e, a = over.steps.get(label), first.steps.get(label)
            lb = (e["seconds"] / a["seconds"] / (inputs(over) / inputs(first))
                  if e and a and a["seconds"] else None)
            gtext += " | " + ("-" if lb is None else f">= {lb:.2f}" + (" super-linear" if lb > SUPERLINEAR
                                                                      else ""))
        lines.append(f"| {name} | " + " | ".join(_fmt_cell(r.steps.get(label), r) for r in results)
                     + f" | {gtext} |")

    def row(title: str, values: list[str], g: str = "") -> None:
        lines.append(f"| {title} | " + " | ".join(values) + f" | {g} |" + (" |" if over is not None else ""))

    step_sum = [sum(e["seconds"] for e in r.steps.values()) for r in results]
    multi = last is not first
    row("prompts ingested (mean turn-1 characters)",
        ["-" if r.ingested is None else f"{r.ingested:,} ({r.mean_chars:,.0f})" for r in results])
    row("**sum of steps**", [f"{s:.1f}" for s in step_sum],
        f"{step_sum[results.index(last)] / step_sum[0] / ratio:.2f}" if multi and step_sum[0] else "")
    row("Dagster runs: count, seconds inside runs", [f"{r.runs}, {r.run_s:.1f}" for r in results])
    row("outside steps (process start, imports, run setup, leaderboard)",
        [f"{r.wall_s - s:.1f}" for r, s in zip(results, step_sum, strict=True)])
    row("**total wall time**", [f"{r.wall_s:.1f}" + ("" if r.status == "ok" else f" ({r.status})")
                                for r in results],
        f"{last.wall_s / first.wall_s / ratio:.2f}" if multi else "")
    row("CPU seconds (process tree)", [f"{r.cpu_s:.0f}" for r in results])
    row("peak RSS of the process tree, GiB", [f"{r.peak_rss_gib:.2f}" for r in results])
    row("1-min load average before → after", [f"{r.load_before:.1f} → {r.load_after:.1f}" for r in results])
    lines += ["", "Code each scale ran (the package when its run started; edits during a run can reach it):",
              ""]
    lines += [f"- {r.scale}×: {r.code or 'not recorded'}" for r in results]
    lines += ["", import_note]
    return "\n".join(lines) + "\n"


def import_time() -> str:
    """`-X importtime` of the code location: total, and the ten largest packages and modules by own time."""
    cmd = [str(REPO / ".venv" / "bin" / "python"), "-X", "importtime", "-c",
           "import llmfeedback_assets.definitions"]
    t = time.perf_counter()
    err = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}).stderr
    wall = time.perf_counter() - t
    rows = []  # (self us, cumulative us, module)
    for line in err.splitlines():
        if line.startswith("import time:") and "self [us]" not in line:
            own, cum, name = (p.strip() for p in line[len("import time:"):].split("|", 2))
            rows.append((int(own), int(cum), name))
    total = sum(own for own, _c, _n in rows)
    packages: dict[str, int] = defaultdict(int)
    for own, _c, name in rows:
        packages[name.split(".")[0]] += own
    top_pkg = sorted(packages.items(), key=lambda kv: -kv[1])[:10]
    top_mod = sorted(rows, reverse=True)[:10]
    return ("Import time of the code location (`.venv/bin/python -X importtime -c \"import "
            f"llmfeedback_assets.definitions\"`): {total / 1e6:.2f} s of imports ({wall:.2f} s wall with "
            f"interpreter start), {len(rows):,} modules. Ten largest packages (own time of their modules): "
            + ", ".join(f"`{n}` {us / 1e6:.2f} s" for n, us in top_pkg) + ". Ten largest modules (own time): "
            + ", ".join(f"`{n}` {own / 1e6:.2f} s" for own, _c, n in top_mod) + ".")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", default="1,10,50",
                    help="comma-separated multiples of the 40 bundled prompts; '' with --merge only renders")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per scale before the run is killed")
    ap.add_argument("--datasets", type=Path, default=DATASETS)
    ap.add_argument("--keep", action="store_true", help="keep each scale's temp project (prints its path)")
    ap.add_argument("--rev", help="run the package as committed at this git revision (e.g. HEAD), unpacked "
                                  "to a temp dir, instead of the working tree")
    ap.add_argument("--json", type=Path, help="also save the measurements of every scale to this JSON file")
    ap.add_argument("--merge", type=Path, action="append", default=[],
                    help="a --json file of earlier scales to show in the same table (scales run now win)")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the run under way is stopped too
    scales = sorted({int(s) for s in args.scales.split(",") if s.strip()})
    if (not scales and not args.merge) or (scales and scales[0] < 1):
        raise SystemExit("--scales: positive integers, e.g. 1,10,50 (empty only with --merge)")
    if scales and scales[-1] > 1 and not args.datasets.is_dir():
        raise SystemExit(f"scales above 1 need the shared datasets at {args.datasets.resolve()}")
    by_scale: dict[int, ScaleResult] = {}
    known = set(ScaleResult.__dataclass_fields__)  # files from other versions of this script still load
    for path in args.merge:
        for raw in json.loads(path.read_text()):
            by_scale[raw["scale"]] = ScaleResult(**{k: v for k, v in raw.items() if k in known})
    with tempfile.TemporaryDirectory(prefix="llmfeedback-src-") as src:
        code = None
        if args.rev:
            code = f"{args.rev} = commit {snapshot(args.rev, Path(src))} (git archive; working tree not used)"
        for s in scales:
            by_scale[s] = run_scale(s, args.timeout, args.datasets, args.keep,
                                    Path(src) if args.rev else None, code)
    results = [by_scale[s] for s in sorted(by_scale)]
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1))
    table = render(results, args, import_time())
    print(table)
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(table)
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
