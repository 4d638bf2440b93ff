"""`python -m llmfeedback_assets.export`: export the warehouse's synthetic data to the configured database, in
Yupp's synthetic-backfill layout.

The same export the `backfill_export` asset runs, from a shell (or a test that interrupts it half-way).
"""

from __future__ import annotations

import argparse
import sys

from ..config import ConfigError, load_config
from ..warehouse import Warehouse
from .job import backfill_attributes
from .pipeline import export_backfill, load_backfill_data, resolve_database_url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llmfeedback_assets.export",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--config",
                        help="config YAML (default $LLMFEEDBACK_CONFIG or data/config/llmfeedback.yaml)")
    parser.add_argument("--url", help="SQLAlchemy database URL (default: export.database_url in the config)")
    parser.add_argument("--schema", help="database schema to write into (PostgreSQL)")
    parser.add_argument("--batch-size", type=int, help="chats per transaction (default: export.batch_size)")
    parser.add_argument("--job-id",
                        help="backfill job id (synthetic_backfill_attributes.id) recorded on every "
                             "inserted row (default: a new UUID)")
    parser.add_argument("--pause-between-batches", type=float, default=0.0, metavar="SECONDS",
                        help="sleep between batches (to demonstrate or test an interrupted export)")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    url = resolve_database_url(args.url or config.export.database_url, config.root)
    data = load_backfill_data(Warehouse.from_config(config))
    report = export_backfill(url, data, job_id=args.job_id,
                             batch_size=args.batch_size or config.export.batch_size,
                             schema=args.schema, source="cli", pause_s=args.pause_between_batches,
                             attributes=backfill_attributes(config),
                             progress=lambda line: print(line, flush=True))
    print(f"backfill job {report.job_id} into {report.url}: inserted {report.inserted}, "
          f"updated {report.updated}")
    cleaned = {t: n for t, n in report.nul_replaced.items() if n}
    if cleaned:
        print(f"replaced NUL by U+FFFD in text values (PostgreSQL cannot store NUL): {cleaned}")
    for r in report.refused:
        print(f"refused {r.table} {r.id}: {r.reason}", file=sys.stderr)
    if report.refused:
        print(f"error: {len(report.refused)} chat(s) or user(s) refused by the database and left out; the "
              f"rest is written (job status {report.status})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
