"""One gateway run in its own process: what the crash test kills and the concurrency test runs four times.

    python -m llmfeedback_assets_tests.support.gateway_child --config C.yaml --db W.duckdb --model M --n 100

Sends `numbered_requests(model, first + n, prefix)[first:]` and prints one JSON line with the run's metadata.
--lease-s / --poll-s set the claim lease and the polling of a run waiting for another's answers;
--watch-parent stops the run (RunOrphaned, exit 3) when the process that started this one dies.
--lake-catalog / --lake-data put the warehouse on a DuckLake (--db then only places the journal spool).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from llmfeedback_assets.config import load_config
from llmfeedback_assets.llm import Gateway
from llmfeedback_assets.llm.claims import RunOrphaned
from llmfeedback_assets.warehouse import LakeSpec, Warehouse

from .configs import numbered_requests


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--prefix", default="q")
    ap.add_argument("--flush-s", type=float, default=2.0)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--lease-s", type=float, default=30.0)
    ap.add_argument("--poll-s", type=float, default=1.0)
    ap.add_argument("--watch-parent", action="store_true")
    ap.add_argument("--lake-catalog")
    ap.add_argument("--lake-data")
    args = ap.parse_args(argv)
    if (args.lake_catalog is None) != (args.lake_data is None):
        ap.error("--lake-catalog and --lake-data go together")
    lake = LakeSpec(args.lake_catalog, args.lake_data) if args.lake_catalog is not None else None
    gw = Gateway(load_config(args.config), Warehouse(args.db, lake=lake), journal_flush_s=args.flush_s,
                 backoff_base_s=0.05, claim_lease_s=args.lease_s, claim_poll_s=args.poll_s,
                 parent_pid=os.getppid() if args.watch_parent else None)
    print(json.dumps({"started": os.getpid()}), flush=True)
    try:
        results, stats = gw.run(numbered_requests(args.model, args.first + args.n, args.prefix)[args.first:])
    except RunOrphaned as exc:
        print(json.dumps({"orphaned": str(exc)}), flush=True)
        return 3
    print(json.dumps({"ok": sum(r.ok for r in results), **stats.as_metadata()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
