"""Benchmark: the DuckDB file against a DuckLake (PostgreSQL catalog, Parquet data in a local temp folder),
for concurrent judge partitions and for reading the judgments table back.

One simulated project per backend, identical but for `warehouse:` (4 sim responders, `--judges` sim judges,
default 8; `--prompts` generated prompts, every third with a second turn; judging modes single + pairwise,
all pairs). For each backend:

  (a) setup, not measured against the other: `llmfeedback sync-partitions`, then `prompts`,
      `sim_ground_truth` and `responses` materialized in one `dagster asset materialize` process;
      then measured: one `dagster asset materialize --select judgments --partition <judge>` process per
      judge, all started at once (in_process executor, as in test_ops_concurrency.py), timed from the
      first start to the last exit; per run, the Dagster run's start -> end from the instance; CPU seconds
      of the processes (getrusage of the waited children); the 1-minute load average before and after.
      Checked: every run exits 0 and, per judge, the judgments table holds exactly the rows the inputs call
      for (k grades + k(k-1)/2 pairs per prompt turn with k answering responders), each judgment_id once;
      and the two backends hold the same judgment ids with the same verdicts.
  (b) reads in this process through the product's `Warehouse` (a file open per query; a lake cursor on the
      process's attached lake): `SELECT * FROM judgments` into pandas, and `SELECT judge_model, count(*)
      ... GROUP BY 1`; the first call is shown apart (the process's first warehouse query: it attaches
      the lake, or checks the file's schema), then the median of `--reps` further repetitions.

The lake gets a fresh PostgreSQL database per run (created with psycopg2 on --pg-host/--pg-port as
--pg-user, password from $PGPASSWORD, dropped afterwards) and its data path in the temp dir. Object storage
(S3) is not measured: its reads would add network round trips per Parquet file.

Run (the full measurement, on a quiet machine; roughly 5-15 minutes on 2 cores):
    .venv/bin/python -m bench.bench_lake --out bench/results/ducklake.md
Smoke test:
    .venv/bin/python -m bench.bench_lake --prompts 4 --judges 2 --reps 3 --out /tmp/ducklake_smoke.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import psutil
import yaml

from bench.bench_scale import code_state, kill_tree
from llmfeedback_assets_tests.support.ops import new_postgres_database

REPO = Path(__file__).resolve().parents[1]
BIN = REPO / ".venv" / "bin"
COMMAND = ".venv/bin/python -m bench.bench_lake " + " ".join(sys.argv[1:])
BACKENDS = ("duckdb", "ducklake")
TITLES = {"duckdb": "DuckDB file", "ducklake": "DuckLake (PostgreSQL + local Parquet)"}
IN_PROCESS = ["--config-json", '{"execution": {"config": {"in_process": {}}}}']
# 3,000 prompts (4,000 turns) -> 40,000 judgments per judge partition, 320,000 for eight: on 2 cores one
# partition alone takes tens of seconds (2,000 prompts: 28 s wall, 13 CPU s with a load of 13).
DEFAULT_PROMPTS = 3000
RESPONDERS = [
    {"name": "resp-a", "provider": "sim", "sim": {"quality": 0.88, "verbosity": 0.3}},
    {"name": "resp-b", "provider": "sim", "sim": {"quality": 0.66, "verbosity": 0.55}},
    {"name": "resp-c", "provider": "sim", "sim": {"quality": 0.47, "verbosity": 0.2}},
    {"name": "resp-d", "provider": "sim", "sim": {"quality": 0.25, "verbosity": 0.7}},
]
# Eight simulated judges with different noise and biases (any prefix is used with --judges < 8).
JUDGES = [
    {"name": f"judge-{i}", "provider": "sim",
     "sim_judge": {"noise": round(0.03 + 0.05 * i, 2), "position_bias": round(0.1 * (i % 4), 2),
                   "verbosity_bias": round(0.08 * (i % 3), 2)}}
    for i in range(8)]
VERDICT_COLUMNS = ["judgment_id", "judge_model", "mode", "score", "winner", "verdict_ab", "verdict_ba",
                   "parse_status"]
SUBJECTS = ("lighthouses", "sourdough", "B-trees", "tidal power", "river deltas", "chess endgames",
            "bridge cables", "bee colonies", "compilers", "glaciers", "postal codes", "violin varnish")
ASKS = ("Explain how {s} work to a curious teenager.", "List three common misconceptions about {s}.",
        "Compare two ways of studying {s} and say which you prefer.", "Write a short memo about {s}.")


# -- the project ------------------------------------------------------------------------------------------

def write_prompts(path: Path, n: int) -> None:
    """n distinct MT-bench-format prompts: every third has a second turn, every fourth a reference."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            subject = SUBJECTS[i % len(SUBJECTS)]
            turns = [f"({i}) " + ASKS[(i // len(SUBJECTS)) % len(ASKS)].format(s=subject)]
            if i % 3 == 0:
                turns.append(f"Now put the answer about {subject} into one sentence (item {i}).")
            rec = {"question_id": f"lake-bench-{i}", "category": ("writing", "reasoning", "stem")[i % 3],
                   "turns": turns}
            if i % 4 == 0:
                rec["reference"] = [f"A model answer about {subject}, number {i}."]
            out.write(json.dumps(rec) + "\n")


def write_project(root: Path, prompts: Path, judges: list[str], warehouse: dict | None) -> Path:
    """A config in `root` (its own DuckDB file and DAGSTER_HOME); `warehouse` is the lake section or None."""
    cfg = {"database": str(root / "warehouse.duckdb"), "models": RESPONDERS + JUDGES,
           "responders": [m["name"] for m in RESPONDERS], "judges": judges,
           "prompt_sources": [{"path": str(prompts)}],
           "judging": {"modes": ["single", "pairwise"]},
           "leaderboard": {"bootstrap_rounds": 50, "seed": 0}}
    if warehouse:
        cfg["warehouse"] = warehouse
    (root / "dagster_home").mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dagster.yaml", root / "dagster_home" / "dagster.yaml")
    path = root / "llmfeedback.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def project_env(root: Path, config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMFEEDBACK_", "DAGSTER_"))}
    env.update(DAGSTER_HOME=str(root / "dagster_home"), LLMFEEDBACK_CONFIG=str(config),
               PATH=os.pathsep.join([str(BIN), env.get("PATH", "")]), HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1")
    return env


# -- measuring --------------------------------------------------------------------------------------------

@dataclass
class BackendResult:
    backend: str
    where: str = ""
    setup_s: float = 0.0
    wall_s: float = 0.0
    run_s: list[float] = field(default_factory=list)  # Dagster run start -> end, per judge
    cpu_s: float = 0.0
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load before -> after the concurrent runs
    failed: dict[str, str] = field(default_factory=dict)  # judge -> tail of its output
    rows: int = 0
    expected: int = 0
    bad_judges: dict[str, str] = field(default_factory=dict)  # judge -> what is wrong with its rows
    read_first_ms: dict[str, float] = field(default_factory=dict)
    read_median_ms: dict[str, float] = field(default_factory=dict)
    storage: str = ""
    verdicts: pd.DataFrame | None = None


def _cmd(args: list[str], env: dict, log: Path, timeout: float) -> float:
    """Run a setup command to completion in the project folder (output appended to `log`); its wall
    seconds. The project folder, not the repo, is the working directory (Dagster puts it first on sys.path),
    so a PYTHONPATH copy of the package is what the runs import."""
    start = time.monotonic()
    with log.open("a") as sink:
        proc = subprocess.run(args, env=env, cwd=log.parent, stdout=sink, stderr=subprocess.STDOUT,
                              timeout=timeout)
    if proc.returncode:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise SystemExit(f"{' '.join(args[:4])} ... failed (exit {proc.returncode}):\n{tail}")
    return time.monotonic() - start


def judge_concurrently(env: dict, judges: list[str], logs: Path, timeout: float,
                       res: BackendResult) -> None:
    """One materialize process per judge, all started at once; wall time to the last exit."""
    logs.mkdir(parents=True, exist_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    res.load = (os.getloadavg()[0], 0.0)
    procs: dict[str, subprocess.Popen] = {}
    sinks = {judge: (logs / f"{judge}.log").open("w") for judge in judges}
    start = time.monotonic()
    try:
        for judge in judges:
            procs[judge] = subprocess.Popen(
                [str(BIN / "dagster"), "asset", "materialize", "-m", "llmfeedback_assets.definitions",
                 "--select", "judgments", "--partition", judge, *IN_PROCESS],
                env=env, cwd=logs.parent, stdout=sinks[judge], stderr=subprocess.STDOUT)
        while any(p.poll() is None for p in procs.values()):
            if time.monotonic() - start > timeout:
                raise TimeoutError(f"the judge runs exceeded {timeout:.0f} s")
            time.sleep(0.05)
        res.wall_s = time.monotonic() - start
    finally:
        for p in procs.values():
            if p.poll() is None:
                kill_tree(psutil.Process(p.pid))
                p.wait()
        for sink in sinks.values():
            sink.close()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    res.cpu_s = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    res.load = (res.load[0], os.getloadavg()[0])
    for judge, p in procs.items():
        if p.returncode != 0:
            res.failed[judge] = "\n".join((logs / f"{judge}.log").read_text(errors="replace")
                                          .splitlines()[-20:])


def run_times(home: Path) -> list[float]:
    """Start -> end of every judge-partition run recorded in the instance at `home`."""
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(home))
    try:
        return sorted(r.end_time - r.start_time for r in instance.get_run_records()
                      if r.dagster_run.tags.get("dagster/partition") and r.start_time and r.end_time)
    finally:
        instance.dispose()


def expected_judgments(wh, judge: str) -> int:
    """Rows one judge must write (modes single + pairwise, all pairs, judges never respond here): per prompt
    turn, k responders answered every turn so far -> k grades and k(k-1)/2 pairs."""
    turns = wh.query("SELECT prompt_id, n_turns FROM prompts")
    ok = wh.query("SELECT prompt_id, responder_model, list(DISTINCT turn) AS turns FROM responses "
                  "WHERE status = 'ok' AND sample = 0 AND responder_model <> ? GROUP BY 1, 2", [judge])
    answered: dict[str, list[set[int]]] = {}
    for r in ok.itertuples(index=False):
        answered.setdefault(r.prompt_id, []).append({int(t) for t in r.turns})
    total = 0
    for p in turns.itertuples(index=False):
        for t in range(1, int(p.n_turns) + 1):
            k = sum(1 for have in answered.get(p.prompt_id, []) if set(range(1, t + 1)) <= have)
            total += k + k * (k - 1) // 2
    return total


def check_rows(wh, judges: list[str], res: BackendResult) -> None:
    counts = wh.query("SELECT judge_model, count(*) AS n, count(DISTINCT judgment_id) AS ids "
                      "FROM judgments GROUP BY 1").set_index("judge_model")
    for judge in judges:
        want = expected_judgments(wh, judge)
        res.expected += want
        n, ids = (0, 0)
        if judge in counts.index:
            n, ids = int(counts.loc[judge, "n"]), int(counts.loc[judge, "ids"])
        res.rows += n
        if not want or n != want or ids != want:
            res.bad_judges[judge] = f"{n} rows, {ids} distinct ids, {want} expected"
    cols = ", ".join(VERDICT_COLUMNS)
    res.verdicts = wh.query(f"SELECT {cols} FROM judgments").sort_values("judgment_id").reset_index(drop=True)


def time_reads(wh, reps: int, res: BackendResult) -> None:
    queries = {"select_all": "SELECT * FROM judgments",
               "count_per_judge": "SELECT judge_model, count(*) AS n FROM judgments GROUP BY 1 ORDER BY 1"}
    for label, sql in queries.items():
        times = []
        for _ in range(reps + 1):
            t = time.perf_counter()
            frame = wh.query(sql)
            times.append((time.perf_counter() - t) * 1000)
            assert len(frame), f"{label}: no rows"
        res.read_first_ms[label] = times[0]
        res.read_median_ms[label] = statistics.median(times[1:])


def package_state(cwd: Path) -> str:
    """The code the runs import (asked of a process started as they are, in a project folder): the repo's
    working tree with its git state, or a copy that PYTHONPATH puts first."""
    probe = "import llmfeedback_assets; print(llmfeedback_assets.__file__)"
    where = subprocess.run([str(BIN / "python"), "-c", probe], cwd=cwd, capture_output=True, text=True,
                           env=project_env(cwd, cwd / "llmfeedback.yaml"), check=True).stdout.strip()
    if Path(where).resolve().is_relative_to(REPO):
        return code_state()
    return f"llmfeedback_assets imported from {Path(where).parent} (PYTHONPATH), not the repo's working tree"


def folder_size(path: Path, pattern: str = "*") -> tuple[int, int]:
    files = [p for p in path.rglob(pattern) if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def lake_snapshots(wh) -> int:
    from llmfeedback_assets.warehouse import lake

    return int(wh.query(f"SELECT count(*) AS n FROM ducklake_snapshots('{lake.ALIAS}')")["n"].iloc[0])


def run_backend(backend: str, root: Path, prompts: Path, judges: list[str], args,
                catalog: str | None) -> BackendResult:
    from llmfeedback_assets.warehouse import LakeSpec, Warehouse

    res = BackendResult(backend)
    root.mkdir(parents=True)
    spec = LakeSpec(catalog, str(root / "lake_data")) if catalog else None
    section = {"backend": "ducklake", "catalog": spec.catalog, "data_path": spec.data_path} if spec else None
    config = write_project(root, prompts, judges, section)
    env = project_env(root, config)
    log = root / "setup.log"
    print(f"== {TITLES[backend]}: project in {root}", flush=True)
    _cmd([str(BIN / "llmfeedback"), "sync-partitions"], env, log, args.timeout)
    inputs = [str(BIN / "dagster"), "asset", "materialize", "-m", "llmfeedback_assets.definitions",
              "--select", "prompts,sim_ground_truth,responses", *IN_PROCESS]
    res.setup_s = _cmd(inputs, env, log, args.timeout)
    print(f"   inputs materialized in {res.setup_s:.1f}s; {len(judges)} judge runs at once ...", flush=True)
    judge_concurrently(env, judges, root / "logs", args.timeout, res)
    res.run_s = run_times(root / "dagster_home")
    wh = Warehouse(root / ("side.duckdb" if spec else "warehouse.duckdb"), lake=spec)
    res.where = wh.describe()
    time_reads(wh, args.reps, res)  # first: its first query opens the lake in this process
    check_rows(wh, judges, res)
    if spec:
        n, size = folder_size(Path(spec.data_path), "*.parquet")
        res.storage = f"{n} Parquet files, {size / 2**20:.1f} MiB; {lake_snapshots(wh)} snapshots"
    else:
        res.storage = f"one file, {(root / 'warehouse.duckdb').stat().st_size / 2**20:.1f} MiB"
    print(f"   {res.wall_s:.1f}s wall, {res.cpu_s:.0f} CPU s, {res.rows}/{res.expected} judgment rows"
          + (f", FAILED runs {sorted(res.failed)}" if res.failed else "")
          + (f", WRONG rows {res.bad_judges}" if res.bad_judges else "")
          + "; reads (median ms) " + ", ".join(f"{k} {v:.1f}" for k, v in res.read_median_ms.items()),
          flush=True)
    for judge, tail in res.failed.items():
        print(f"--- {judge} ---\n{tail}", flush=True)
    return res


# -- the table --------------------------------------------------------------------------------------------

def same_verdicts(results: list[BackendResult]) -> tuple[bool, str]:
    """Whether the backends hold the same judgments (ids, scores, verdicts), and the sentence to print."""
    if len(results) < 2 or any(r.verdicts is None for r in results):
        return True, "not compared (one backend)"
    a, b = (r.verdicts for r in results)
    only_one = set(a["judgment_id"]) ^ set(b["judgment_id"])
    if only_one:
        return False, f"**no**: {len(only_one)} judgment ids are on one backend only"
    try:
        pd.testing.assert_frame_equal(a, b, check_dtype=False)
    except AssertionError:
        return False, "the same judgment ids, but **different verdicts**"
    return True, "yes: the same judgment ids with the same scores and verdicts on both"


def render(results: list[BackendResult], args, judges: list[str], n_prompts: int, load_start, code: str,
           import_duckdb: str) -> str:
    cores, ram = os.cpu_count(), psutil.virtual_memory().total / 2**30
    load_end = os.getloadavg()

    def ms(r: BackendResult, label: str) -> str:
        return f"{r.read_median_ms[label]:.1f} (first {r.read_first_ms[label]:.1f})"

    def runs(r: BackendResult) -> str:
        if not r.run_s:
            return "-"
        return f"{statistics.median(r.run_s):.1f} / {max(r.run_s):.1f}"

    def rows(r: BackendResult) -> str:
        ok = not r.failed and not r.bad_judges
        text = f"{r.rows:,} of {r.expected:,}, " + ("all present, each once" if ok else "**WRONG**")
        if r.failed:
            text += f"; failed runs: {', '.join(sorted(r.failed))}"
        if r.bad_judges:
            text += "; " + "; ".join(f"{j}: {w}" for j, w in sorted(r.bad_judges.items()))
        return text

    table = [
        ("inputs (prompts, sim_ground_truth, responses) in one process, s", lambda r: f"{r.setup_s:.1f}"),
        (f"**{len(judges)} concurrent judge partitions: wall s** (first start to last exit)",
         lambda r: f"**{r.wall_s:.1f}**"),
        ("per run, Dagster run start to end, s (median / max)", runs),
        ("CPU seconds of the judge processes", lambda r: f"{r.cpu_s:.0f}"),
        ("1-minute load average before → after the judge runs",
         lambda r: f"{r.load[0]:.1f} → {r.load[1]:.1f}"),
        ("judgment rows", rows),
        (f"`SELECT * FROM judgments` into pandas, ms (median of {args.reps})", lambda r: ms(r, "select_all")),
        (f"grouped count per judge, ms (median of {args.reps})", lambda r: ms(r, "count_per_judge")),
        ("storage after the runs", lambda r: r.storage),
    ]
    lines = [
        "# The warehouse on the DuckDB file vs on DuckLake: concurrent judge partitions and reads",
        "",
        f"Command: `{COMMAND.strip()}` (Python {platform.python_version()}, duckdb {import_duckdb}, "
        f"{cores} CPUs, {ram:.0f} GiB RAM). Load average (1 / 5 / 15 min) at the start "
        f"{load_start[0]:.2f} / {load_start[1]:.2f} / {load_start[2]:.2f}, at the end "
        f"{load_end[0]:.2f} / {load_end[1]:.2f} / {load_end[2]:.2f}; wall times move with other jobs' "
        "load, read them with the CPU seconds.",
        "",
        f"Project: {n_prompts} generated prompts (every third two-turn), responders "
        f"{', '.join(m['name'] for m in RESPONDERS)} and judges {', '.join(judges)}, all simulated; modes "
        "single + pairwise. Each judge partition is one `dagster asset materialize --select judgments "
        "--partition <judge>` process (in_process executor, the repo's dagster.yaml with SQLite run "
        "storage in a temp DAGSTER_HOME), all started at once after the inputs were materialized. The "
        "lake's catalog is a fresh PostgreSQL database on 127.0.0.1, its Parquet files in a local temp "
        "folder; reads go through `Warehouse.query` in the benchmark's process.",
        "",
        "| | " + " | ".join(TITLES[r.backend] for r in results) + " |",
        "|---|" + "---:|" * len(results),
    ]
    lines += [f"| {title} | " + " | ".join(cell(r) for r in results) + " |" for title, cell in table]
    if len(results) == 2:
        a, b = results
        full, grouped = (b.read_median_ms[k] / a.read_median_ms[k] for k in ("select_all", "count_per_judge"))
        lines += ["", f"{TITLES[b.backend]} against {TITLES[a.backend]}: {b.wall_s / a.wall_s:.2f}× the wall "
                  f"time of the concurrent judge runs; {full:.2f}× the full read and {grouped:.2f}× the "
                  "grouped count (medians of the repeated reads)."]
    lines += ["", f"Both backends' judgments identical: {same_verdicts(results)[1]}.", "",
              f"Code: {code}."]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=DEFAULT_PROMPTS,
                    help=f"generated prompts (default {DEFAULT_PROMPTS}: tens of seconds per judge "
                         "partition)")
    ap.add_argument("--judges", type=int, default=8, choices=range(1, 9), metavar="1..8",
                    help="judge partitions written at once (default 8)")
    ap.add_argument("--reps", type=int, default=7, help="repetitions of each read (default 7; median shown)")
    ap.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated: duckdb,ducklake")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per command before it is killed")
    ap.add_argument("--pg-host", default="127.0.0.1")
    ap.add_argument("--pg-port", type=int, default=5432)
    ap.add_argument("--pg-user", default="postgres", help="a role that may CREATE DATABASE ($PGPASSWORD)")
    ap.add_argument("--keep", action="store_true", help="keep the temp projects (prints the folder)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "ducklake.md")
    ap.add_argument("--no-write", action="store_true", help="print the table only")
    args = ap.parse_args()
    backends = [b for b in args.backends.split(",") if b]
    if not backends or set(backends) - set(BACKENDS):
        raise SystemExit(f"--backends: a comma-separated subset of {','.join(BACKENDS)}")
    if args.prompts < 1 or args.reps < 1:
        raise SystemExit("--prompts and --reps must be positive")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the finally blocks stop runs, drop the db

    import duckdb

    from llmfeedback_assets.warehouse import lake

    judges = [j["name"] for j in JUDGES[:args.judges]]
    load_start = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="llmfeedback-bench-lake-"))
    results = []
    try:
        code = package_state(tmp)
        prompts = tmp / "prompts" / "prompts.jsonl"
        write_prompts(prompts, args.prompts)
        for backend in backends:
            if backend == "duckdb":
                results.append(run_backend(backend, tmp / backend, prompts, judges, args, None))
                continue
            with new_postgres_database("llmf_bench_lake", args.pg_host, args.pg_port,
                                       args.pg_user) as db_name:
                catalog = (f"postgres:dbname={db_name} host={args.pg_host} port={args.pg_port} "
                           f"user={args.pg_user}")
                try:
                    results.append(run_backend(backend, tmp / backend, prompts, judges, args, catalog))
                finally:
                    lake.close_all()  # before the catalog database is dropped
    finally:
        if args.keep:
            print(f"kept {tmp}", flush=True)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    text = render(results, args, judges, args.prompts, load_start, code, duckdb.__version__)
    print(text)
    if not args.no_write:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"wrote {args.out}")
    broken = any(r.failed or r.bad_judges for r in results) or not same_verdicts(results)[0]
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
