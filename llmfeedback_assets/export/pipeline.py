"""Bulk-load personas (as synthetic users), chats, turns, messages and evals into a SQL database, in Yupp's
backfill layout (see `schema`).

Any SQLAlchemy URL works: a SQLite file by default, PostgreSQL in production. The schema is created when
absent. Guarantees:
- idempotent: ids are the warehouse's content hashes; rows already present are skipped (INSERT ... ON
  CONFLICT DO NOTHING on SQLite and PostgreSQL, INSERT IGNORE on MySQL, and on any other database a plain
  insert of the rows a lookup found missing), so exporting the same data twice inserts nothing twice;
- atomic per chat: a chat and all its turns, chat messages and evals are written in one transaction (one per
  batch of `batch_size` chats), and so are a user and its synthetic attributes, so an export killed half-way
  leaves whole chats or none, and a rerun adds what is missing;
- traceable: every row carries the id of the backfill job that inserted it; `synthetic_backfill_attributes`
  keeps each job's start, end (NULL if it never finished), row counts and the run's config (model names and
  the NAMES of the variables holding API keys, never a key).
A chat that was partial and is complete in the warehouse now gets its new turns and its updated status.

Bad values never block the other rows:
- NUL: PostgreSQL text cannot hold the NUL character (U+0000), which DuckDB and SQLite accept (an LLM
  answer, an error body or a generated persona can carry one). Every NUL in a text value is replaced by
  U+FFFD (the Unicode replacement character) on every database, so SQLite and PostgreSQL hold the same
  rows; the warehouse keeps the original. The report counts, per table, the text values of the exported
  data that held a NUL (`nul_replaced`, rows already present included).
- a row the database refuses anyway (a constraint, a value it cannot store): the batch is rolled back and
  retried one chat (or user) per transaction; the chat it belongs to is left out whole and listed in the
  report's `refused` (table, id, the database's reason), the other chats and batches are written, and the
  job ends with status `incomplete` instead of `complete`. A rerun retries the refused chats. Errors of the
  connection or the schema (not of one row) still stop the export.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from ..ids import stable_id
from ..warehouse import Warehouse
from .schema import (
    ASSISTANT_MESSAGE,
    CHAT_TABLES,
    DATA_TABLES,
    JOBS,
    PRIMARY_KEYS,
    SLIDER,
    TITLE_CHARS,
    UPDATABLE,
    USER_MESSAGE,
    USER_TABLES,
    product_metadata,
)

log = logging.getLogger("llmfeedback.export")

LOOKUP_CHUNK = 500  # ids per IN (...) lookup: far below every database's bound-parameter limit
NUL_REPLACEMENT = "\ufffd"  # what a NUL in a text value becomes (PostgreSQL text cannot hold U+0000)
REFUSED_PREVIEW = 20  # refused rows listed in the metadata
# Errors caused by the rows of a transaction, not by the connection or the schema: the rows are retried
# one chat at a time and only the chat that fails is left out. Drivers raise ValueError/TypeError
# themselves for values they cannot send (psycopg2: NUL, lone surrogates).
ROW_ERRORS = (sa.exc.DataError, sa.exc.IntegrityError, ValueError, TypeError)


class ExportError(RuntimeError):
    """Data that cannot be exported as it stands (named, with the offending ids)."""


# -- warehouse rows -> backfill rows ----------------------------------------------------------------------
# The frame of BackfillData each table's rows come from (a user's two tables share one frame).
TABLE_FRAME = {"users": "users", "synthetic_user_attributes": "users", "chats": "chats", "turns": "turns",
               "chat_messages": "messages", "evals": "evals"}


@dataclass
class BackfillData:
    """Backfill rows, one frame per kind, columns named as in the schema (no job id yet). `users` holds the
    columns of `users` and `synthetic_user_attributes`; `messages` and `evals` also carry their `chat_id`
    (not a column of their tables) so a chat's rows are written together."""

    users: pd.DataFrame
    chats: pd.DataFrame
    turns: pd.DataFrame
    messages: pd.DataFrame
    evals: pd.DataFrame

    def frame(self, table: str) -> pd.DataFrame:
        return getattr(self, TABLE_FRAME[table])

    def counts(self) -> dict[str, int]:
        return {t: len(self.frame(t)) for t in DATA_TABLES}


def turn_id(conversation_id: str, turn: int) -> str:
    return stable_id("turn", conversation_id, int(turn))


def backfill_rows(personas: pd.DataFrame, conversations: pd.DataFrame, messages: pd.DataFrame,
                  judgments: pd.DataFrame) -> BackfillData:
    """Map the warehouse tables (personas, conversations, conversation_messages, conversation_judgments)."""
    missing = sorted(set(conversations["persona_id"]) - set(personas["persona_id"]))
    if missing:
        raise ExportError(f"conversations refer to {len(missing)} persona(s) missing from `personas` "
                          f"(e.g. {missing[:3]}): materialize personas and conversations together")
    users = pd.DataFrame({
        "user_id": personas["persona_id"],
        "email": [f"{p}@synthetic.invalid" for p in personas["persona_id"]], "is_synthetic": True,
        "persona": personas["persona"],
        "interests": [json.dumps([str(i) for i in (v if v is not None else [])])
                      for v in personas["interests"]],
        "style": personas["style"], "origin": personas["source"]})
    known = set(conversations["conversation_id"])
    messages = messages[messages["conversation_id"].isin(known)]
    owner = dict(zip(conversations["conversation_id"], conversations["persona_id"], strict=True))
    firsts = (messages[messages["side"] == 0].sort_values("turn")
              .drop_duplicates("conversation_id").set_index("conversation_id")["content"])
    chats = pd.DataFrame({
        "chat_id": conversations["conversation_id"], "creator_user_id": conversations["persona_id"],
        "title": [str(firsts.get(c) or "")[:TITLE_CHARS] for c in conversations["conversation_id"]],
        "path": [f"/chat/{c}" for c in conversations["conversation_id"]], "is_public": True,
        "user_model": conversations["user_model"], "model_1": conversations["model_1"],
        "model_2": conversations["model_2"], "planned_turns": conversations["n_turns_planned"].astype(int),
        "n_turns": conversations["n_turns"].astype(int), "status": conversations["status"],
        "error": conversations["error"]})
    sides = messages["side"].astype(int).to_numpy()
    convs = messages["conversation_id"]
    msgs = pd.DataFrame({
        "message_id": messages["message_id"].to_numpy(), "chat_id": convs.to_numpy(),
        "turn_id": [turn_id(c, t) for c, t in zip(convs, messages["turn"], strict=True)],
        "message_type": [USER_MESSAGE if s == 0 else ASSISTANT_MESSAGE for s in sides],
        "turn_sequence_number": sides,  # Yupp: the message's place in its turn
        "assistant_model_name": [None if s == 0 else m
                                 for s, m in zip(sides, messages["model"], strict=True)],
        "content": messages["content"].to_numpy()})
    firsts = messages.drop_duplicates(["conversation_id", "turn"])
    cont = (messages[messages["continued"].fillna(False).astype(bool)]
            .set_index(["conversation_id", "turn"])["side"])
    pairs = list(zip(firsts["conversation_id"], firsts["turn"], strict=True))
    turns = pd.DataFrame({
        "turn_id": [turn_id(c, t) for c, t in pairs], "chat_id": firsts["conversation_id"].to_numpy(),
        "sequence_id": firsts["turn"].astype(int).to_numpy(),
        "creator_user_id": [owner[c] for c, _ in pairs],
        "continued_side": [cont.get((c, t)) for c, t in pairs]})
    turns["continued_side"] = turns["continued_side"].astype("Int64")
    judged = judgments[judgments["conversation_id"].isin(known)]
    score_1 = pd.to_numeric(judged["score_1"], errors="coerce").astype(float).to_numpy()
    evals = pd.DataFrame({
        "eval_id": judged["judgment_id"].to_numpy(), "chat_id": judged["conversation_id"].to_numpy(),
        "user_id": [owner[c] for c in judged["conversation_id"]],
        "turn_id": [turn_id(c, t) for c, t in zip(judged["conversation_id"], judged["turn"], strict=True)],
        "eval_type": SLIDER, "message_1_id": judged["message_1_id"].to_numpy(),
        "message_2_id": judged["message_2_id"].to_numpy(),
        "score_1": score_1, "score_2": 100.0 - score_1,  # Yupp's slider: the two scores always sum to 100
        "judge_model_name": judged["judge_model"].to_numpy(),
        "preference": judged["preference"].astype("Int64").to_numpy(),
        "parse_status": judged["parse_status"].to_numpy()})
    # a judgment of a turn (or an answer) that is no longer stored
    have = set(msgs["message_id"])
    evals = evals[evals["turn_id"].isin(set(turns["turn_id"])) & evals["message_1_id"].isin(have)
                  & evals["message_2_id"].isin(have)]
    return BackfillData(users.reset_index(drop=True), chats.reset_index(drop=True),
                        turns.reset_index(drop=True), msgs.reset_index(drop=True),
                        evals.reset_index(drop=True))


def load_backfill_data(warehouse: Warehouse) -> BackfillData:
    """The synth tables as they stand in the warehouse."""
    return backfill_rows(warehouse.table("personas"), warehouse.table("conversations"),
                         warehouse.table("conversation_messages"), warehouse.table("conversation_judgments"))


# -- the export -----------------------------------------------------------------------------------------
@dataclass
class Refused:
    """A chat (with its turns, chat messages and evals) or a user (with its synthetic attributes) the database
    would not take."""

    table: str  # "chats" or "users"
    id: str
    reason: str  # the database's (or driver's) message, first line


@dataclass
class ExportReport:
    job_id: str
    url: str  # password hidden
    inserted: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    seconds: float = 0.0
    nul_replaced: dict[str, int] = field(default_factory=dict)  # values of the data whose NUL became U+FFFD
    refused: list[Refused] = field(default_factory=list)

    @property
    def status(self) -> str:
        """How the job ends: `complete`, or `incomplete` when some chats or users were refused."""
        return "incomplete" if self.refused else "complete"

    def as_metadata(self) -> dict:
        refused = Counter(r.table for r in self.refused)
        lines = [f"{r.table} {r.id}: {r.reason}" for r in self.refused[:REFUSED_PREVIEW]]
        more = len(self.refused) - len(lines)
        return {"backfill_job_id": self.job_id, "database": self.url, "status": self.status,
                "batches": self.batches,
                **{f"inserted/{t}": n for t, n in self.inserted.items()},
                **{f"updated/{t}": n for t, n in self.updated.items()},
                **{f"nul_replaced/{t}": n for t, n in self.nul_replaced.items()},
                **{f"refused/{t}": refused[t] for t in ("users", "chats")},
                "refused_rows": "\n".join(lines + ([f"... and {more} more"] if more else [])),
                "export_s": round(self.seconds, 3)}


def resolve_database_url(url: str, root: Path) -> str:
    """A relative SQLite path is taken relative to the project root (not the working directory); its folder
    is created."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:" \
            and not parsed.database.startswith("file:"):
        path = Path(parsed.database)
        if not path.is_absolute():
            path = root / path
        path.parent.mkdir(parents=True, exist_ok=True)
        parsed = parsed.set(database=str(path))
    return parsed.render_as_string(hide_password=False)


def export_backfill(url: str | sa.Engine, data: BackfillData, *, job_id: str | None = None,
                    batch_size: int = 200, schema: str | None = None, source: str = "", pause_s: float = 0.0,
                    attributes: Mapping | None = None,
                    progress: Callable[[str], None] | None = None) -> ExportReport:
    """Write `data` into the database at `url`; see the module docstring for the guarantees.

    job_id: the backfill job (`synthetic_backfill_attributes.id`) recorded on every row this call inserts
        (default: a new UUID); a Dagster asset passes its run id.
    batch_size: chats (with their turns, chat messages and evals) or users per transaction.
    schema: a database schema to create the tables in (PostgreSQL), created if absent.
    attributes: the job row's configuration columns, from `job.backfill_attributes(config)`.
    pause_s: sleep between batches (lets a test or a demo interrupt an export half-way).
    """
    if batch_size <= 0:
        raise ValueError("batch_size must be positive")
    engine = url if isinstance(url, sa.Engine) else sa.create_engine(url)
    owns_engine = not isinstance(url, sa.Engine)
    job_id = job_id or uuid.uuid4().hex
    report = ExportReport(job_id, engine.url.render_as_string(hide_password=True),
                          dict.fromkeys(DATA_TABLES, 0), {"chats": 0},
                          nul_replaced=dict.fromkeys(DATA_TABLES, 0))
    t0 = time.monotonic()
    say = progress or log.info
    try:
        md = _create_schema(engine, schema)
        tables = {t: _table(md.tables, t, schema) for t in (JOBS, *DATA_TABLES)}
        jobs = tables[JOBS]
        user_ids = list(dict.fromkeys(data.users["user_id"]))
        with engine.begin() as con:
            if con.execute(sa.select(jobs.c.id).where(jobs.c.id == job_id)).first() is None:
                row = {k: _no_nul(v) for k, v in (attributes or {}).items() if k in jobs.c}
                row.update(id=job_id, source=source, status="running", started_at=_now(), finished_at=None,
                           num_users=len(user_ids))
                con.execute(jobs.insert().values(row))
        by_user = {t: _group(data.frame(t), "user_id", tables[t], job_id, report.nul_replaced)
                   for t in USER_TABLES}

        def write_users(con: sa.Connection, ids: list[str]) -> dict[str, int]:
            return {t: _insert_new(con, tables[t], [r for i in ids for r in by_user[t].get(i, ())])
                    for t in USER_TABLES}

        for start in range(0, len(user_ids), batch_size):
            _write_isolated(engine, "users", user_ids[start:start + batch_size], write_users, report)
            report.batches += 1
            _pause(pause_s)
        by_chat = {t: _group(data.frame(t), "chat_id", tables[t], job_id, report.nul_replaced)
                   for t in CHAT_TABLES}

        def write_chats(con: sa.Connection, ids: list[str]) -> dict[str, int]:
            counts = {}
            for t in CHAT_TABLES:
                rows = [r for cid in ids for r in by_chat[t].get(cid, ())]
                counts[t] = _insert_new(con, tables[t], rows)
                if t in UPDATABLE:
                    counts[f"updated/{t}"] = _update_changed(con, tables[t], rows, UPDATABLE[t])
            return counts

        chat_ids = list(data.chats["chat_id"])
        for start in range(0, len(chat_ids), batch_size):
            _write_isolated(engine, "chats", chat_ids[start:start + batch_size], write_chats, report)
            report.batches += 1
            say(f"backfill {job_id}: {min(start + batch_size, len(chat_ids))}/{len(chat_ids)} chats")
            _pause(pause_s)
        report.seconds = time.monotonic() - t0
        if report.refused:
            say(f"backfill {job_id}: {len(report.refused)} chat(s) or user(s) refused by the database, the "
                f"rest written; first: {report.refused[0].table} {report.refused[0].id}: "
                f"{report.refused[0].reason}")
        with engine.begin() as con:
            con.execute(jobs.update().where(jobs.c.id == job_id).values(
                status=report.status, finished_at=_now(),
                inserted=json.dumps(report.inserted, sort_keys=True)))
        return report
    except BaseException:
        try:
            with engine.begin() as con:
                jobs = _table(product_metadata(schema).tables, JOBS, schema)
                con.execute(jobs.update().where(jobs.c.id == job_id).values(
                    status="failed", finished_at=_now(),
                    inserted=json.dumps(report.inserted, sort_keys=True)))
        except Exception:  # noqa: BLE001 - the original error matters more
            pass
        raise
    finally:
        if owns_engine:
            engine.dispose()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _pause(seconds: float) -> None:
    if seconds > 0:
        time.sleep(seconds)


def _table(tables, name: str, schema: str | None) -> sa.Table:
    return tables[f"{schema}.{name}" if schema else name]


def _create_schema(engine: sa.Engine, schema: str | None) -> sa.MetaData:
    """Create the missing tables; a table already there without the columns of this layout (a `chats` of the
    product itself, or of an older export) is an ExportError naming them, before any row is written."""
    md = product_metadata(schema)
    with engine.begin() as con:
        insp = sa.inspect(con)
        if schema and not insp.has_schema(schema):
            con.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
        present = set(insp.get_table_names(schema=schema))
        for table in (t for t in md.sorted_tables if t.name in present):
            lacking = set(table.c.keys()) - {c["name"] for c in insp.get_columns(table.name, schema=schema)}
            if lacking:
                raise ExportError(f"table {table.name!r} exists without the column(s) {sorted(lacking)} of "
                                  "the backfill layout: export into a new database or schema")
        md.create_all(con, checkfirst=True)
    return md


def _clean(v):
    """Plain Python values for the driver (no numpy scalars, no pandas NA)."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float) and v != v:
        return None
    return v.item() if hasattr(v, "item") else v


def _no_nul(v):
    return v.replace("\x00", NUL_REPLACEMENT) if isinstance(v, str) else v


def _records(frame: pd.DataFrame, job_id: str, nul_replaced: dict[str, int] | None = None,
             table: str = "") -> list[dict]:
    """Rows for the driver; every NUL in a text value becomes NUL_REPLACEMENT, counted in
    ``nul_replaced[table]``."""
    cols = list(frame.columns)
    out = []
    cleaned = 0
    for row in frame.itertuples(index=False, name=None):
        rec = {}
        for c, v in zip(cols, row, strict=True):
            v = _clean(v)
            if isinstance(v, str) and "\x00" in v:
                v = _no_nul(v)
                cleaned += 1
            rec[c] = v
        rec["backfill_job_id"] = job_id
        out.append(rec)
    if nul_replaced is not None:
        nul_replaced[table] = nul_replaced.get(table, 0) + cleaned
    return out


def _group(frame: pd.DataFrame, key: str, table: sa.Table, job_id: str,
           nul_replaced: dict[str, int] | None = None) -> dict[str, list[dict]]:
    """The rows of `table` taken from `frame` (its columns only), by `key` (the chat or user they belong to;
    dropped from the rows when it is not a column of `table`)."""
    cols = [c for c in frame.columns if c in table.c or c == key]
    out: dict[str, list[dict]] = {}
    for r in _records(frame[cols], job_id, nul_replaced, table.name):
        owner = r[key] if key in table.c else r.pop(key)
        out.setdefault(owner, []).append(r)
    return out


def _write_isolated(engine: sa.Engine, kind: str, ids: list[str],
                    write: Callable[[sa.Connection, list[str]], dict[str, int]],
                    report: ExportReport) -> None:
    """Write the rows of ``ids`` (chats or users) in one transaction; when the database refuses a row, retry
    them one per transaction, so only the offending chat (or user) is left out and recorded in
    ``report.refused``. Counts reach the report only once their transaction is committed."""
    try:
        with engine.begin() as con:
            counts = write(con, ids)
    except ROW_ERRORS as exc:
        if len(ids) > 1:
            for one in ids:
                _write_isolated(engine, kind, [one], write, report)
            return
        reason = _reason(exc)
        report.refused.append(Refused(kind, str(ids[0]), reason))
        log.warning("backfill %s: %s %s refused by the database, left out: %s", report.job_id, kind, ids[0],
                    reason)
        return
    for key, n in counts.items():
        table = key.removeprefix("updated/")
        target = report.updated if key.startswith("updated/") else report.inserted
        target[table] = target.get(table, 0) + n


def _reason(exc: BaseException) -> str:
    """The database's own message (first line), without SQLAlchemy's statement and parameters."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return f"{type(orig).__name__}: {text[0] if text else ''}"[:300]


def _existing(con: sa.Connection, table: sa.Table, key: str, ids: Iterable[str]) -> set[str]:
    ids = list(ids)
    col = table.c[key]
    found: set[str] = set()
    for i in range(0, len(ids), LOOKUP_CHUNK):
        found |= {r[0] for r in con.execute(sa.select(col).where(col.in_(ids[i:i + LOOKUP_CHUNK])))}
    return found


def _insert_new(con: sa.Connection, table: sa.Table, rows: list[dict]) -> int:
    """Insert the rows whose primary key is absent; return how many were inserted."""
    if not rows:
        return 0
    key = PRIMARY_KEYS[table.name]
    have = _existing(con, table, key, (r[key] for r in rows))
    new = [r for r in rows if r[key] not in have]
    if not new:
        return 0
    stmt = _insert_ignoring_conflicts(con, table)
    if isinstance(stmt, sa.Insert) and con.dialect.insert_executemany_returning:
        # RETURNING counts the rows really inserted, and lets SQLAlchemy batch them into multi-row VALUES
        # statements (PostgreSQL's ON CONFLICT without it goes row by row through the driver's executemany).
        return len(con.execute(stmt.returning(table.c[key]), new).all())
    con.execute(stmt, new)
    return len(new)


def _insert_ignoring_conflicts(con: sa.Connection, table: sa.Table):
    """An INSERT that skips rows a concurrent writer inserted since the lookup."""
    dialect = con.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert

        return insert(table).on_conflict_do_nothing()
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert

        return insert(table).on_conflict_do_nothing()
    if dialect in ("mysql", "mariadb"):
        return table.insert().prefix_with("IGNORE")
    return table.insert()


def _update_changed(con: sa.Connection, table: sa.Table, rows: list[dict], cols: tuple[str, ...]) -> int:
    """Bring the mutable columns of existing rows up to date (the job id of the creator is kept)."""
    if not rows:
        return 0
    key = PRIMARY_KEYS[table.name]
    wanted = {r[key]: r for r in rows}
    ids = list(wanted)
    changed = []
    for i in range(0, len(ids), LOOKUP_CHUNK):
        stmt = (sa.select(table.c[key], *(table.c[c] for c in cols))
                .where(table.c[key].in_(ids[i:i + LOOKUP_CHUNK])))
        for rec in con.execute(stmt).mappings():
            new = wanted[rec[key]]
            if any(rec[c] != new[c] for c in cols):
                changed.append(new)
    for new in changed:
        con.execute(table.update().where(table.c[key] == new[key]).values({c: new[c] for c in cols}))
    return len(changed)


def count_rows(url: str | sa.Engine, schema: str | None = None) -> dict[str, int]:
    """Rows per backfill table (tables that do not exist yet count 0)."""
    engine = url if isinstance(url, sa.Engine) else sa.create_engine(url)
    try:
        md = product_metadata(schema)
        out = {}
        with engine.connect() as con:
            names = set(sa.inspect(con).get_table_names(schema=schema))
            for name in (JOBS, *DATA_TABLES):
                out[name] = (con.execute(sa.select(sa.func.count())
                                         .select_from(_table(md.tables, name, schema)))
                             .scalar_one() if name in names else 0)
        return out
    finally:
        if not isinstance(url, sa.Engine):
            engine.dispose()
