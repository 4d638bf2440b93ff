#!/usr/bin/env bash
# Convert a warehouse file written by DuckDB 2.x (projects set up before DuckDB was pinned to 1.5.5, the
# version the DuckLake extension packages are built for) into a file this project opens. DuckDB 1.5.5
# cannot read 2.x storage, so a throwaway venv with DuckDB 2.0.1 exports every table to Parquet and the
# project's own DuckDB imports them. The original stays beside the new file as <file>.duckdb2-backup.
#
#   scripts/convert_duckdb_file.sh data/warehouse.duckdb
set -euo pipefail
src=${1:?usage: scripts/convert_duckdb_file.sh <warehouse.duckdb>}
[ -f "$src" ] || { echo "no such file: $src" >&2; exit 1; }
here=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3.11}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet "duckdb==2.0.1"
"$work/venv/bin/python" - "$src" "$work/export" <<'PY'
import sys
import duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
con.execute(f"EXPORT DATABASE '{sys.argv[2]}' (FORMAT parquet)")
PY
"$here/.venv/bin/python" - "$work/export" "$src.converted" <<'PY'
import sys
import duckdb
con = duckdb.connect(sys.argv[2])
con.execute(f"IMPORT DATABASE '{sys.argv[1]}'")
tables = con.execute("SELECT count(*) FROM duckdb_tables()").fetchone()[0]
print(f"imported {tables} tables")
PY
mv "$src" "$src.duckdb2-backup"
mv "$src.converted" "$src"
echo "converted $src (the DuckDB 2 original is $src.duckdb2-backup)"
