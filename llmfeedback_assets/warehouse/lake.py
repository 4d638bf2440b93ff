"""DuckLake: the warehouse's tables in a lake, a catalog in PostgreSQL (or another DuckLake catalog database)
and data in Parquet files under a data path (a shared volume, S3, GCS), so many processes on many machines
write at once.

The DuckDB extensions come from PyPI packages (`duckdb-extension-ducklake`, `-postgres-scanner`, and
`-httpfs` for object storage) and are loaded from their files: a runtime extension download needs the
internet. Each process keeps one in-memory DuckDB per lake with the lake attached, and hands out cursors:
attaching costs a catalog round trip, a cursor costs nothing.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import random
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

ALIAS = "lake"


class LakeError(RuntimeError):
    """The lake cannot be opened (extension package missing, catalog unreachable, bad data path)."""


@dataclass(frozen=True)
class LakeSpec:
    """Where a lake lives. `catalog` is DuckLake's catalog string after `ducklake:` (for PostgreSQL,
    `postgres:dbname=... host=... user=...`; its password comes from $PGPASSWORD, never the config)."""

    catalog: str
    data_path: str
    metadata_schema: str | None = None

    def describe(self) -> str:
        """The lake for messages and metadata: any password in the catalog string is blanked."""
        catalog = blank_passwords(self.catalog)
        return f"ducklake:{catalog} (data {self.data_path}" + (
            f", schema {self.metadata_schema})" if self.metadata_schema else ")")


def blank_passwords(text: str) -> str:
    return re.sub(r"(password\s*=\s*)\S+", r"\1***", text, flags=re.I)


def _extension_file(package: str, name: str) -> str:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise LakeError(f"the DuckLake backend needs the Python package {package.replace('_', '-')} "
                        f"(pip install {package.replace('_', '-')}=={_duckdb_version()})")
    found = sorted(glob.glob(os.path.join(spec.submodule_search_locations[0], "extensions", "*",
                                          f"{name}.duckdb_extension")))
    if not found:
        raise LakeError(f"{package}: no {name}.duckdb_extension file inside the package")
    return found[-1]


def _duckdb_version() -> str:
    import duckdb

    return duckdb.__version__


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def is_remote(path: str) -> bool:
    return bool(re.match(r"^[a-z][a-z0-9+]*://", path)) and not path.startswith("file://")


def _object_store_secret(db: duckdb.DuckDBPyConnection, data_path: str) -> None:
    """httpfs and an S3 secret from the standard AWS environment variables (S3, MinIO, R2; GCS through its
    S3-compatible endpoint): the keys live only in this process's memory."""
    db.execute(f"LOAD {_quote(_extension_file('duckdb_extension_httpfs', 'httpfs'))}")
    env = os.environ
    if not env.get("AWS_ACCESS_KEY_ID"):
        return  # a public bucket; httpfs alone does not read a role's credentials: export the keys
    parts = ["TYPE s3", f"KEY_ID {_quote(env['AWS_ACCESS_KEY_ID'])}",
             f"SECRET {_quote(env.get('AWS_SECRET_ACCESS_KEY', ''))}"]
    if env.get("AWS_SESSION_TOKEN"):  # temporary credentials (STS)
        parts.append(f"SESSION_TOKEN {_quote(env['AWS_SESSION_TOKEN'])}")
    if env.get("AWS_REGION"):
        parts.append(f"REGION {_quote(env['AWS_REGION'])}")
    endpoint = env.get("AWS_ENDPOINT_URL") or env.get("LLMFEEDBACK_S3_ENDPOINT")
    if endpoint:
        secure = not endpoint.startswith("http://")
        parts += [f"ENDPOINT {_quote(re.sub(r'^https?://', '', endpoint))}", "URL_STYLE 'path'",
                  f"USE_SSL {str(secure).lower()}"]
    db.execute(f"CREATE OR REPLACE TEMPORARY SECRET llmfeedback_lake_s3 ({', '.join(parts)})")


def open_lake(spec: LakeSpec, snapshot: int | None = None) -> duckdb.DuckDBPyConnection:
    """A new in-memory DuckDB with the lake attached as `lake` and in use (read-only at `snapshot`)."""
    import duckdb

    db = duckdb.connect(config={"autoload_known_extensions": False, "autoinstall_known_extensions": False})
    try:
        attach(db, spec, ALIAS, snapshot)
        db.execute(f"USE {ALIAS}")
    except BaseException:
        db.close()
        raise
    return db


def attach(db: duckdb.DuckDBPyConnection, spec: LakeSpec, alias: str, snapshot: int | None = None) -> None:
    """Load the extensions from their packages and attach the lake to `db` as `alias`."""
    import duckdb

    try:
        if spec.catalog.startswith("postgres:"):
            scanner = _extension_file("duckdb_extension_postgres_scanner", "postgres_scanner")
            db.execute(f"LOAD {_quote(scanner)}")
        db.execute(f"LOAD {_quote(_extension_file('duckdb_extension_ducklake', 'ducklake'))}")
        if is_remote(spec.data_path):
            _object_store_secret(db, spec.data_path)
        else:
            Path(spec.data_path).mkdir(parents=True, exist_ok=True)
        options = [f"DATA_PATH {_quote(spec.data_path)}"]
        if spec.metadata_schema:
            options.append(f"METADATA_SCHEMA {_quote(spec.metadata_schema)}")
        if snapshot is not None:
            options += [f"SNAPSHOT_VERSION {int(snapshot)}", "READ_ONLY"]
        _attach_retrying(db, f"ATTACH {_quote('ducklake:' + spec.catalog)} AS {alias} ({', '.join(options)})")
    except duckdb.Error as exc:
        at = f" at snapshot {snapshot}" if snapshot is not None else ""
        raise LakeError(f"cannot open {spec.describe()}{at}: {blank_passwords(str(exc))}") from None


ATTACH_RACE_S = 30.0


def _attach_retrying(db: duckdb.DuckDBPyConnection, sql: str) -> None:
    """ATTACH, again while another process is creating the same new lake's catalog.

    The first ATTACH of an empty catalog creates DuckLake's metadata tables; processes starting together on
    a new lake all try, and in PostgreSQL the losers fail on a duplicate type name (3 of 4 processes, every
    time). Once the winner committed, an ATTACH finds the tables."""
    import duckdb

    deadline = time.monotonic() + ATTACH_RACE_S
    while True:
        try:
            db.execute(sql)
            return
        except duckdb.Error as exc:
            msg = str(exc).lower()
            raced = "failed to initialize ducklake" in msg and ("already exists" in msg
                                                                or "duplicate key" in msg)
            if not raced or time.monotonic() > deadline:
                raise
        time.sleep(0.05 + 0.2 * random.random())


_DATABASES: dict[tuple, duckdb.DuckDBPyConnection] = {}
_OPEN_LOCK = threading.Lock()
# One commit at a time per process, so `ducklake_last_committed_snapshot` (per attached database, not per
# cursor) names this commit's snapshot.
COMMIT_LOCK = threading.Lock()


def cursor(spec: LakeSpec, snapshot: int | None = None) -> duckdb.DuckDBPyConnection:
    """A cursor on this process's database for the lake (opened on first use; a forked child opens its
    own), with the lake as the default catalog."""
    key = (os.getpid(), spec, snapshot)
    with _OPEN_LOCK:
        db = _DATABASES.get(key)
        if db is None:
            db = _DATABASES[key] = open_lake(spec, snapshot)
    cur = db.cursor()
    cur.execute(f"USE {ALIAS}")
    return cur


def close_all() -> None:
    """Close this process's lake databases (tests; a long-lived process that changes its lake)."""
    with _OPEN_LOCK:
        for key in [k for k in _DATABASES if k[0] == os.getpid()]:
            _DATABASES.pop(key).close()


def is_conflict(exc: Exception) -> bool:
    """A commit another transaction won: the whole transaction may be run again on the new snapshot."""
    msg = str(exc).lower()
    return "transaction conflict" in msg or "conflict" in msg and "ducklake" in msg


def current_snapshot(con: duckdb.DuckDBPyConnection) -> int:
    return int(con.execute(f"SELECT * FROM {ALIAS}.current_snapshot()").fetchone()[0])


def last_committed_snapshot(con: duckdb.DuckDBPyConnection) -> int | None:
    """The snapshot of this process's last commit on the lake (None before its first): a commit that
    changed nothing makes no snapshot, and leaves this as it was."""
    value = con.execute(f"SELECT * FROM ducklake_last_committed_snapshot({_quote(ALIAS)})").fetchone()[0]
    return None if value is None else int(value)
