"""`llmfeedback` command line: run the whole graph, sync judge partitions, print the leaderboard, show
judgments side by side.

`llmfeedback run` materializes the graph in stages (unpartitioned inputs, every judge partition, then
the analysis assets) against the persistent instance in $DAGSTER_HOME, the same instance `dagster dev`
and `dagster asset materialize` use, so runs and partitions show up in the UI afterwards.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .config import PROJECT_ROOT, ConfigError, load_config


def _instance():
    import dagster as dg

    home = os.environ.get("DAGSTER_HOME")
    if not home:
        home = str(PROJECT_ROOT / ".dagster_home")
        os.environ["DAGSTER_HOME"] = home
    Path(home).mkdir(parents=True, exist_ok=True)
    yaml_path = Path(home) / "dagster.yaml"
    if not yaml_path.exists() and (PROJECT_ROOT / "dagster.yaml").exists():
        yaml_path.write_text((PROJECT_ROOT / "dagster.yaml").read_text())
    return dg.DagsterInstance.get()


def cmd_sync(args) -> int:
    from .defs.partitions import sync_judge_partitions

    config = load_config(args.config)
    added, stale = sync_judge_partitions(_instance(), config.judge_partitions)
    print(f"judge_model partitions: added {added or 'none'}; configured {config.judge_partitions}")
    if stale:
        print(f"kept partitions of judges no longer in the config: {stale}")
    return 0


def waves(defs, instance) -> list[tuple[list, list[str | None]]]:
    """Run order for the whole graph: waves of assets whose inputs are done, each wave split by partitions
    definition, with the partition keys to run (None for an unpartitioned group)."""
    graph = defs.resolve_asset_graph()
    todo = set(graph.get_all_asset_keys())
    done: set = set()
    order: list[tuple[list, list[str | None]]] = []
    while todo:
        ready = sorted((k for k in todo if not graph.get(k).parent_keys & todo), key=lambda k: k.to_string())
        if not ready:
            raise RuntimeError(f"cycle in the asset graph among {sorted(k.to_string() for k in todo)}")
        groups: dict = {}
        for k in ready:
            groups.setdefault(graph.get(k).partitions_def, []).append(k)
        for pdef, keys in sorted(groups.items(), key=lambda kv: kv[0] is not None):
            if pdef is None:
                order.append((keys, [None]))
            else:
                order.append((keys, list(pdef.get_partition_keys(dynamic_partitions_store=instance))))
        done |= set(ready)
        todo -= set(ready)
    return order


def cmd_run(args) -> int:
    import dagster as dg

    from .definitions import defs
    from .defs.partitions import sync_judge_partitions
    from .defs.resources import LLMFeedbackResource

    if args.config:
        os.environ["LLMFEEDBACK_CONFIG"] = str(Path(args.config).resolve())
    config = load_config()
    _database(config)
    config.check_secrets()
    instance = _instance()
    sync_judge_partitions(instance, config.judge_partitions)
    resources = {"llmfeedback": LLMFeedbackResource(config_path=str(config.source))}
    assets = list(defs.assets or [])
    checks = list(defs.asset_checks or [])
    for keys, partitions in waves(defs, instance):
        selection = dg.AssetSelection.assets(*keys)
        for partition in partitions:
            if (partition is not None and partition not in config.judge_partitions
                    and _is_judge_partitioned(defs, keys)):
                continue  # a removed judge's partition is kept, but not rerun
            label = ", ".join(k.to_user_string() for k in keys) + (f" [{partition}]" if partition else "")
            print(f"materializing {label}", flush=True)
            result = dg.materialize([*assets, *checks], selection=selection, partition_key=partition,
                                    instance=instance, resources=resources, raise_on_error=False,
                                    run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}})
            if not result.success:
                print(f"run failed: {label} (see `make dev` for the run's logs)", file=sys.stderr)
                return 1
    return cmd_leaderboard(args)


def _is_judge_partitioned(defs, keys) -> bool:
    from .defs.partitions import JUDGE_PARTITIONS_NAME

    pdef = defs.resolve_asset_graph().get(keys[0]).partitions_def
    return getattr(pdef, "name", None) == JUDGE_PARTITIONS_NAME


def _database(config, *, must_exist: bool = False, as_of: int | None = None):
    """The config's warehouse, announced on the command's first line; a database that does not exist yet is
    said out loud (a config outside data/config/ resolves `database` against its own folder). `as_of`: the
    lake as it was at that snapshot."""
    from .warehouse import Warehouse

    if config.warehouse.backend == "ducklake":
        wh = Warehouse.from_config(config)
        wh = wh.at(as_of) if as_of is not None else wh
        print(f"warehouse: {wh.describe()}", flush=True)
        return wh
    if as_of is not None:
        raise ConfigError("--as-of reads an old snapshot, which needs warehouse.backend: ducklake "
                          "(the DuckDB file keeps no history)")
    path = config.database_path
    new = not path.exists()
    print(f"database: {path}" + (" (new)" if new else ""), flush=True)
    if new:
        print(f"warning: {path} does not exist yet{'' if must_exist else ': starting an empty database'} "
              f"(config {config.source}; relative paths resolve against {config.root})", file=sys.stderr)
    return None if new and must_exist else Warehouse(path)


def board_name(boards: list[str], name: str | None) -> str | None:
    """The stored board a user means: pooled by default, a judge, or a source by its configured name
    (`crowd` for `crowd (external)`, `gpt-4` for `gpt-4 (imported)`)."""
    from .analysis.pipeline import POOLED

    if name in (None, "pooled", POOLED):
        return POOLED if POOLED in boards else None
    for candidate in (name, f"{name} (external)", f"{name} (imported)"):
        if candidate in boards:
            return candidate
    return None


def cmd_leaderboard(args) -> int:
    from .analysis.pipeline import POOLED

    config = load_config(os.environ.get("LLMFEEDBACK_CONFIG") if args.config is None else args.config)
    wh = _database(config, must_exist=True, as_of=getattr(args, "as_of", None))
    if wh is None:
        print("no leaderboard: run `make run` (or `llmfeedback run`) first", file=sys.stderr)
        return 1
    counts = wh.query("SELECT judge_model, count(*) AS n FROM leaderboard GROUP BY 1 "
                      "ORDER BY judge_model <> ?, judge_model", [POOLED])  # pooled first
    boards = counts["judge_model"].tolist()
    if getattr(args, "list", False):
        for r in counts.itertuples(index=False):
            print(f"{'pooled' if r.judge_model == POOLED else r.judge_model}\t{r.n} models")
        return 0 if boards else 1
    if not boards:
        print("the leaderboard is empty: run `make run` first")
        return 1
    judge = getattr(args, "judge", None)
    chosen = board_name(boards, judge)
    if chosen is None:
        shown = ", ".join("pooled" if b == POOLED else repr(b) for b in boards)
        print(f"no leaderboard for {judge!r}; stored boards: {shown} (`llmfeedback leaderboard --list`)",
              file=sys.stderr)
        return 1
    board = wh.table("leaderboard", "WHERE judge_model = ? ORDER BY rank, bt_score DESC", [chosen])
    shown = board[["rank", "model", "bt_score", "bt_low", "bt_high", "elo", "win_rate_adjusted",
                   "mean_score_turn1", "mean_score_turn2", "n_comparisons", "true_quality"]]
    sim = bool(board["simulated"].all())
    title = "all judges pooled" if chosen == POOLED else chosen
    print(f"\nLeaderboard ({title}) from {wh.describe()}"
          + (" -- SIMULATED models and judges (offline simulator)" if sim else ""))
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    _print_mt_bench(wh, None if chosen == POOLED else chosen)
    return 0


def _print_mt_bench(wh, judge: str | None) -> None:
    """MT-bench overall score per judge with its bootstrap interval, as FastChat's show_result prints it."""
    scores = wh.table("mt_bench_scores", "WHERE scope IN ('turn1', 'turn2', 'overall')"
                      + (" AND judge_model = ?" if judge else ""), [judge] if judge else None)
    for name, frame in scores.groupby("judge_model"):
        wide = frame.pivot(index="model", columns="scope", values="score")
        overall = frame[frame["scope"] == "overall"].set_index("model")
        wide["overall_low"], wide["overall_high"] = overall["low"], overall["high"]
        wide = wide.sort_values("overall", ascending=False).reset_index()
        print(f"\nMT-bench scores ({name})")
        print(wide.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def cmd_estimate_cost(args) -> int:
    """Dry run: price judging the stored responses with each configured judge (journal hits are free), with
    the pairs, prompts and choices the judgments asset would use."""
    from .judging import plan_judgments
    from .judging.spine import judge_options
    from .llm.cost import estimate_cost, format_estimate

    config = load_config(args.config)
    wh = _database(config, must_exist=True)
    if wh is None:
        print("no stored responses yet: materialize `responses` first (make run or the UI)")
        return 1
    prompts, responses = wh.table("prompts"), wh.table("responses")
    if responses.empty:
        print("no stored responses yet: materialize `responses` first (make run or the UI)")
        return 1
    judges = [args.judge] if args.judge else config.judges
    requests = [r for j in judges
                for r in plan_judgments(prompts, responses, j, judge_options(config, config.judge_roles(j),
                                                                              responses))[1]]
    print(format_estimate(estimate_cost(config, wh, requests)))
    return 0


def cmd_show(args) -> int:
    """Judgments side by side: question, answers, verdict or grade, the judge's reply (analysis/show.py)."""
    import shutil

    from .analysis.judgment_view import Filters
    from .analysis.show import show

    config = load_config(args.config)
    wh = _database(config, must_exist=True)
    if wh is None:
        print("no judgments: run `make run` (or `llmfeedback run`) first", file=sys.stderr)
        return 1
    filters = Filters(prompt=args.prompt, model=args.model, judge=args.judge, disagree=args.disagree)
    text, matched = show(wh, filters, args.limit, args.width or shutil.get_terminal_size((120, 40)).columns)
    print(text, file=sys.stdout if matched else sys.stderr)
    return 0 if matched else 1


def cmd_migrate(args) -> int:
    """Copy the file warehouse into the configured lake (--to ducklake) or the lake into the file."""
    from .warehouse import Warehouse
    from .warehouse.migrate import MigrationError, migrate

    config = load_config(args.config)
    if not (config.warehouse.catalog and config.warehouse.data_path):
        raise ConfigError("migrate needs the lake in the config: warehouse.catalog and warehouse.data_path")
    file_wh = Warehouse(config.database_path)
    lake_wh = Warehouse.from_config(config, backend="ducklake")
    source, target = (file_wh, lake_wh) if args.to == "ducklake" else (lake_wh, file_wh)
    if source is file_wh and not file_wh.path.exists():
        print(f"error: {file_wh.path} does not exist: nothing to copy", file=sys.stderr)
        return 1
    print(f"copying {source.describe()} -> {target.describe()}", flush=True)
    try:
        counts = migrate(source, target, replace=args.replace)
    except MigrationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name, (n_src, n_dst) in counts.items():
        if n_src:
            print(f"{name}\t{n_src} -> {n_dst}")
    print(f"copied {sum(c[0] for c in counts.values())} rows in {len(counts)} tables; every count matches. "
          f"Set warehouse.backend: {args.to} to use the copy.")
    return 0


def cmd_synth_cost(args) -> int:
    from .synth import estimate_synth_cost, format_synth_cost

    print(format_synth_cost(estimate_synth_cost(load_config(args.config))))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llmfeedback", description=__doc__.splitlines()[0])
    config_help = "config YAML (default $LLMFEEDBACK_CONFIG or data/config/llmfeedback.yaml)"
    parser.add_argument("--config", help=config_help)
    # --config is accepted after the subcommand too; SUPPRESS keeps a value given before it
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help=config_help)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("run", parents=[common], help="materialize the whole graph and print the leaderboard"
                   ).set_defaults(fn=cmd_run)
    sub.add_parser("sync-partitions", parents=[common],
                   help="register configured judges as judge_model partitions").set_defaults(fn=cmd_sync)
    lb = sub.add_parser("leaderboard", parents=[common], help="print a stored leaderboard")
    lb.add_argument("--judge",
                    help="one judge's board, or a source's by its configured name (default: pooled)")
    lb.add_argument("--list", action="store_true", help="list the stored boards")
    lb.add_argument("--as-of", type=int, metavar="SNAPSHOT",
                    help="the board as it was at this DuckLake snapshot (a leaderboard materialization "
                         "names the snapshot it wrote)")
    lb.set_defaults(fn=cmd_leaderboard)
    est = sub.add_parser("estimate-cost", parents=[common], help="price judging the stored responses before "
                         "any call")
    est.add_argument("--judge", help="one judge (default: every configured judge)")
    est.set_defaults(fn=cmd_estimate_cost)
    show = sub.add_parser("show", parents=[common], help="print judgments side by side: question, answers, "
                          "verdict and the judge's reply")
    show.add_argument("--prompt", help="a prompt id (or its first characters), the file's question id, or "
                                       "text in the question")
    show.add_argument("--model", help="judgments of this responder's answers")
    show.add_argument("--judge", help="judgments by this judge (an imported judge by its configured name)")
    show.add_argument("--disagree", choices=["judges", "orders"],
                      help="judges: pairs on which judges disagree; orders: pairwise judgments whose two "
                           "orders disagree")
    show.add_argument("--limit", type=int, default=10, help="judgments printed (default 10; 0 prints all)")
    show.add_argument("--width", type=int, help="characters per line (default: the terminal's)")
    show.set_defaults(fn=cmd_show)
    mig = sub.add_parser("migrate", parents=[common], help="copy the DuckDB file into the configured "
                         "DuckLake, or back; row counts checked")
    mig.add_argument("--to", choices=["ducklake", "duckdb"], required=True)
    mig.add_argument("--replace", action="store_true", help="overwrite a target that already holds rows")
    mig.set_defaults(fn=cmd_migrate)
    sub.add_parser("estimate-synth-cost", parents=[common],
                   help="price the planned persona conversations before any call"
                   ).set_defaults(fn=cmd_synth_cost)
    args = parser.parse_args(argv)
    try:
        return args.fn(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
