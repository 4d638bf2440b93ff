"""One gateway run in its own process: what the crash test kills and the concurrency test runs four times.

    python -m llmfeedback_assets_tests.support.gateway_child --config C.yaml --db W.duckdb --model M --n 100

Sends `numbered_requests(model, n, prefix)` and prints one JSON line with the run's metadata.
"""

from __future__ import annotations

import argparse
import json
import sys

from llmfeedback_assets.config import load_config
from llmfeedback_assets.llm import Gateway
from llmfeedback_assets.warehouse import Warehouse

from .configs import numbered_requests


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--prefix", default="q")
    ap.add_argument("--flush-s", type=float, default=2.0)
    args = ap.parse_args(argv)
    gw = Gateway(load_config(args.config), Warehouse(args.db), journal_flush_s=args.flush_s,
                 backoff_base_s=0.05)
    results, stats = gw.run(numbered_requests(args.model, args.n, args.prefix))
    print(json.dumps({"ok": sum(r.ok for r in results), **stats.as_metadata()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
