"""The request journal: every answer is durable the moment it arrives.

Each answer is appended to a per-process spool file (one JSON line, handed to the kernel at once, so a
SIGKILL loses only the requests still in flight) and merged into the `llm_journal` DuckDB table in short
batched transactions, so the long model calls never hold the single-writer DuckDB lock. Lookups read the
table and every spool, so a rerun after a crash pays for nothing twice. Spools of dead processes are merged
and removed by the next process that opens the journal.

Batch jobs submitted to a provider are recorded in `llm_batches` (id, model, request keys) the moment they
are accepted, so a later run polls and collects them instead of paying for the same requests again.

While a gateway run holds claims (claims.py), each flush also releases the claims of the keys it writes and
refreshes the run's heartbeat, in the same transaction: a key's claim disappears only once its answer is in
the table.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path

import pandas as pd

from ..warehouse import Warehouse, columns
from .types import ChatResult

JOURNAL_COLUMNS = columns("llm_journal")


# A spool written on another host (another container) cannot be checked for a live writer; once it has not
# changed for this long its writer is taken to be gone.
FOREIGN_SPOOL_STALE_S = 3600.0
_HOST = socket.gethostname().replace("@", "_").replace("/", "_")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _stat(pid: int) -> list[str]:
    """Fields of /proc/<pid>/stat after the command name (state first), or [] where there is none."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _start_time(pid: int) -> str:
    """The kernel's start time of a process, so a reused pid is not mistaken for the spool's writer."""
    fields = _stat(pid)
    return fields[19] if len(fields) > 19 else "0"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _stat(pid)
    return not (fields and fields[0] in ("Z", "X"))  # a zombie has exited; only its exit status is left


def process_gone(pid: int, start: str) -> bool:
    """Whether process `pid` of this host, started at kernel time `start` ("0": unknown), has exited."""
    if not _pid_alive(pid):
        return True
    return start != "0" and _start_time(pid) not in ("0", start)


def _writer_gone(path: Path) -> bool:
    """Spool names are `<pid>-<start time>-<random>@<host>.jsonl`."""
    stem = path.name[: -len(".jsonl")]
    ident, _, host = stem.rpartition("@")
    try:
        pid_s, start, _ = ident.split("-", 2)
        pid = int(pid_s)
    except ValueError:
        return False  # not one of ours
    if host != _HOST:
        try:
            return time.time() - path.stat().st_mtime > FOREIGN_SPOOL_STALE_S
        except FileNotFoundError:
            return False
    return process_gone(pid, start)


HOST = _HOST
process_start_time = _start_time


class Journal:
    def __init__(self, warehouse: Warehouse, flush_every_s: float = 2.0, flush_rows: int = 5000,
                 recover: bool = True):
        self.warehouse = warehouse
        self.spool_dir = Path(str(warehouse.path) + ".journal")
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        pid = os.getpid()
        self.spool_path = self.spool_dir / f"{pid}-{_start_time(pid)}-{uuid.uuid4().hex[:8]}@{_HOST}.jsonl"
        self._fh = None
        self._pending: list[dict] = []
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()
        self.flush_every_s = flush_every_s
        self.flush_rows = flush_rows
        self.claims = None  # a claims.Claims while a gateway run holds claims: released as rows are written
        self.recovered = self.recover_orphans() if recover else 0

    # -- recovery --------------------------------------------------------------------------------------
    def recover_orphans(self) -> int:
        """Merge spool files left by processes that died (SIGKILL, OOM) and delete them."""
        merged = 0
        for path in sorted(self.spool_dir.glob("*.jsonl")):
            if path == self.spool_path or not _writer_gone(path):
                continue
            rows = _read_spool(path)
            if rows:
                self._write_rows(rows)
                merged += len(rows)
            path.unlink(missing_ok=True)
        return merged

    # -- lookups ---------------------------------------------------------------------------------------
    def lookup(self, keys: list[str]) -> dict[str, dict]:
        """Finished answers (status ok) for these keys, from the table and every spool.

        Spools are read before the table: a spool is deleted only after its rows are committed to the table,
        so an answer being merged by another process at this moment is seen in one or the other."""
        if not keys:
            return {}
        found: dict[str, dict] = {}
        wanted = pd.DataFrame({"request_key": list(dict.fromkeys(keys))})
        keyset = set(wanted["request_key"])
        spooled: dict[str, dict] = {}
        for path in self.spool_dir.glob("*.jsonl"):
            for row in _read_spool(path):
                if row["request_key"] in keyset and row["status"] == "ok":
                    spooled.setdefault(row["request_key"], row)
        self.warehouse.ensure_schema()
        with self.warehouse.connect(read_only=True) as con:
            con.register("_wanted", wanted)
            df = con.execute(
                "SELECT j.* FROM llm_journal j JOIN _wanted w USING (request_key) WHERE j.status = 'ok'"
            ).df()
        for row in df.to_dict("records"):
            found[row["request_key"]] = row
        for key, row in spooled.items():
            found.setdefault(key, row)
        return found

    # -- writes ----------------------------------------------------------------------------------------
    def record(self, result: ChatResult, provider: str, batch: bool = False) -> None:
        row = {
            "request_key": result.request_key,
            "provider": provider,
            "model": result.model,
            "status": result.status,
            "text": result.text,
            "input_tokens": int(result.input_tokens),
            "output_tokens": int(result.output_tokens),
            "cost_usd": float(result.cost_usd),
            "latency_s": float(result.latency_s),
            "attempts": int(result.attempts),
            "error": result.error,
            "batch": batch,
            "created_at": _now().isoformat(timespec="microseconds"),
        }
        line = json.dumps(row, ensure_ascii=False) + "\n"
        with self._lock:
            if self._fh is None:
                self._fh = open(self.spool_path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for appends
            self._fh.write(line)
            self._fh.flush()  # in the kernel now: survives a SIGKILL of this process
            self._pending.append(row)

    def due(self) -> bool:
        return bool(self._pending) and (
            len(self._pending) >= self.flush_rows or time.monotonic() - self._last_flush >= self.flush_every_s
        )

    def flush(self) -> int:
        """Merge pending rows into DuckDB in one short transaction."""
        with self._lock:
            rows, self._pending = self._pending, []
            self._last_flush = time.monotonic()
        if rows:
            try:
                self._write_rows(rows)
            except BaseException:
                with self._lock:
                    self._pending[:0] = rows  # still in the spool; try again next time
                raise
        return len(rows)

    def _write_rows(self, rows: list[dict]) -> None:
        df = pd.DataFrame(rows, columns=JOURNAL_COLUMNS)
        # ISO8601, not a format inferred from the first row: spools of older versions (and any datetime that
        # fell on a whole second) have no fraction, and one such row beside fractional ones failed the flush
        df["created_at"] = pd.to_datetime(df["created_at"], format="ISO8601")
        # A later ok answer replaces an earlier failure; an ok answer is never replaced by a failure.
        df = df.sort_values("status", key=lambda s: s.eq("ok"), kind="stable").drop_duplicates(
            "request_key", keep="last")
        cols = ", ".join(f'"{c}"' for c in JOURNAL_COLUMNS)

        def body(con):
            con.register("_rows", df)
            con.execute(
                "DELETE FROM llm_journal WHERE request_key IN (SELECT request_key FROM _rows) "
                "AND (status <> 'ok' OR request_key IN (SELECT request_key FROM _rows WHERE status = 'ok'))"
            )
            con.execute(
                f"INSERT INTO llm_journal ({cols}) SELECT {cols} FROM _rows "
                f"WHERE request_key NOT IN (SELECT request_key FROM llm_journal)"
            )
            alive = self.claims.on_journal_write(con, "_rows") if self.claims is not None else True
            con.unregister("_rows")
            return alive

        alive = self.warehouse.write(body)
        if self.claims is not None and self.claims.registered:
            self.claims.after_beat(alive)

    def close(self) -> None:
        """Flush everything, then drop this process's spool: its rows are in the table now."""
        self.flush()
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None
        self.spool_path.unlink(missing_ok=True)

    # -- batch jobs ------------------------------------------------------------------------------------
    def add_batch(self, batch_id: str, provider: str, model: str, keys: list[str]) -> None:
        row = pd.DataFrame([{"batch_id": batch_id, "provider": provider, "model": model,
                             "status": "submitted", "n_requests": len(keys), "request_keys": list(keys),
                             "submitted_at": _now(), "finished_at": None, "detail": None}],
                           columns=columns("llm_batches"))
        self.warehouse.upsert("llm_batches", row)

    def close_batch(self, batch_id: str, status: str, detail: str = "") -> None:
        self.warehouse.execute(
            "UPDATE llm_batches SET status = ?, finished_at = ?, detail = ? WHERE batch_id = ?",
            [status, _now(), detail, batch_id])

    def open_batches(self, model: str) -> list[dict]:
        """Batches of this model that were submitted and not yet collected (oldest first)."""
        df = self.warehouse.query(
            "SELECT batch_id, request_keys, submitted_at FROM llm_batches "
            "WHERE model = ? AND status = 'submitted' ORDER BY submitted_at", [model])
        return [{"batch_id": r["batch_id"], "keys": list(r["request_keys"]),
                 "submitted_at": r["submitted_at"]} for r in df.to_dict("records")]


def _read_spool(path: Path) -> list[dict]:
    rows = []
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if not line.endswith("\n"):
                    break  # a line torn by a kill mid-write: the request simply reruns
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    except FileNotFoundError:
        return []
    return rows
