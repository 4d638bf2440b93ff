"""The SQL backfill export: idempotent, atomic per chat, traceable to its job, NUL cleaned and a refused
chat left out without blocking the others; SQLite always, PostgreSQL when a server answers on
127.0.0.1:5432 (see `pg_schema`)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from llmfeedback_assets import export, synth
from llmfeedback_assets.config import DB_ENV, load_config
from llmfeedback_assets.export.__main__ import main as export_main
from llmfeedback_assets.llm import Gateway
from llmfeedback_assets.warehouse import Warehouse
from llmfeedback_assets_tests.support.synth import DEAD, EVAL_LLMS, SYNTH_MODELS, synth_config

REPO = Path(__file__).resolve().parents[2]
JUDGES = ["alpha", "judge-noisy"]
PG_URL = os.environ.get("LLMFEEDBACK_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A warehouse holding personas, conversations (one of them partial) and two judges' judgments."""
    root = tmp_path_factory.mktemp("export")
    # `dead` never answers: the conversations it is drawn into end partial
    path = synth_config(root, models=[*SYNTH_MODELS, DEAD], generate_num_personas=2,
                        conversations_per_persona=3, num_turns_max=3, judge={"models": JUDGES},
                        eval_llms=[*EVAL_LLMS, {"model": "dead", "sample_weight": 0.4}])
    cfg = load_config(path)
    wh = Warehouse(cfg.database_path)
    gw = Gateway(cfg, wh)
    personas = synth.build_personas(gw, cfg).personas
    convs = synth.generate_conversations(gw, cfg, personas)
    wh.replace_table("personas", personas)
    wh.replace_table("conversations", convs.conversations)
    wh.replace_table("conversation_messages", convs.messages)
    for j in JUDGES:
        res = synth.judge_conversations(gw, cfg, convs.conversations, convs.messages, j)
        wh.replace_where("conversation_judgments", res.judgments, {"judge_model": j})
    return path, cfg, wh


def _sqlite(tmp_path: Path, name: str = "product.sqlite") -> str:
    return f"sqlite:///{tmp_path / name}"


def _rows(url: str, table: str, schema: str | None = None) -> pd.DataFrame:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as con:
            name = f'"{schema}"."{table}"' if schema else f'"{table}"'
            return pd.read_sql(sa.text(f"SELECT * FROM {name}"), con)
    finally:
        engine.dispose()


def _assert_whole_chats(url: str, schema: str | None = None) -> None:
    """Every chat present has all its turns, three messages per turn and every eval of those turns."""
    chats, turns = _rows(url, "chats", schema), _rows(url, "turns", schema)
    msgs, evals = _rows(url, "messages", schema), _rows(url, "evals", schema)
    per_chat_turns = turns.groupby("chat_id").size().reindex(chats["chat_id"], fill_value=0)
    assert (per_chat_turns.to_numpy() == chats["n_turns"].to_numpy()).all()
    assert (msgs.groupby("turn_id").size().reindex(turns["turn_id"], fill_value=0) == 3).all()
    assert set(msgs["chat_id"]) <= set(chats["chat_id"]) and set(evals["turn_id"]) <= set(turns["turn_id"])


def _content(url: str, schema: str | None = None) -> dict[str, set]:
    """Every table's rows without job ids and timestamps, for comparing two databases."""
    out = {}
    for t in ("synthetic_users", "chats", "turns", "messages", "evals"):
        df = _rows(url, t, schema).drop(columns=["backfill_job_id", "created_at"], errors="ignore")
        out[t] = set(df.astype(str).itertuples(index=False, name=None))
    return out


# -- mapping ----------------------------------------------------------------------------------------------
def test_backfill_rows_map_every_warehouse_row(project):
    _, _, wh = project
    data = export.load_backfill_data(wh)
    assert data.counts() == {"synthetic_users": wh.count("personas"), "chats": wh.count("conversations"),
                             "turns": int(
                                 wh.query("SELECT sum(n_turns) AS n FROM conversations")["n"].iloc[0]),
                             "messages": wh.count("conversation_messages"),
                             "evals": wh.count("conversation_judgments")}
    assert set(data.chats["status"]) == {"complete", "partial"}
    partial = data.chats[data.chats["status"] == "partial"]
    assert ((partial["n_turns"] < partial["planned_turns"]).all()
            and partial["error"].str.contains("dead").all())
    user = data.users.iloc[0]
    assert isinstance(json.loads(user["interests"]), list)
    last_turns = data.turns.merge(data.chats[["chat_id", "n_turns"]])
    on_last = last_turns["turn_index"] == last_turns["n_turns"]
    assert last_turns.loc[on_last, "continued_side"].isna().all()
    assert last_turns.loc[~on_last, "continued_side"].isin([1, 2]).all()


def test_a_chat_whose_persona_is_missing_is_a_clear_error(project):
    _, _, wh = project
    with pytest.raises(export.ExportError, match="missing from `personas`"):
        export.backfill_rows(wh.table("personas").iloc[1:], wh.table("conversations"),
                             wh.table("conversation_messages"), wh.table("conversation_judgments"))


# -- SQLite -------------------------------------------------------------------------------------------------
def test_exporting_twice_inserts_nothing_twice(project, tmp_path):
    _, _, wh = project
    data = export.load_backfill_data(wh)
    url = _sqlite(tmp_path)
    first = export.export_backfill(url, data, job_id="job-1", batch_size=4)
    assert first.inserted == data.counts()
    counts = export.count_rows(url)
    second = export.export_backfill(url, data, job_id="job-2", batch_size=3)
    assert set(second.inserted.values()) == {0} and second.updated == {"chats": 0}
    assert export.count_rows(url) == {**counts, "backfill_jobs": 2}
    for table in ("synthetic_users", "chats", "turns", "messages", "evals"):
        assert set(_rows(url, table)["backfill_job_id"]) == {"job-1"}  # the creator is kept
    jobs = _rows(url, "backfill_jobs").set_index("job_id")
    assert list(jobs["status"]) == ["complete", "complete"] and jobs["finished_at"].notna().all()
    assert json.loads(jobs.loc["job-2", "inserted"])["messages"] == 0
    _assert_whole_chats(url)


def test_partial_chats_are_labelled_and_completed_by_a_later_export(project, tmp_path):
    _, _, wh = project
    full = export.load_backfill_data(wh)
    chats = full.chats[full.chats["n_turns"] >= 2]
    assert len(chats) > 0
    cid = chats["chat_id"].iloc[0]
    # the same chat as an earlier run left it: partial after its first turn
    cut = export.BackfillData(
        full.users, full.chats.assign(
            n_turns=lambda d: d["n_turns"].where(d["chat_id"] != cid, 1),
            status=lambda d: d["status"].where(d["chat_id"] != cid, "partial"),
            error=lambda d: d["error"].where(d["chat_id"] != cid, "turn 2: bravo failed: HTTP 500")),
        *(df[~((df["chat_id"] == cid) & ~df["turn_id"].isin([export.turn_id(cid, 1)]))]
          for df in (full.turns, full.messages, full.evals)))
    url = _sqlite(tmp_path)
    export.export_backfill(url, cut, job_id="early")
    row = _rows(url, "chats").set_index("chat_id").loc[cid]
    assert row["status"] == "partial" and row["n_turns"] == 1 and "HTTP 500" in row["error"]
    report = export.export_backfill(url, full, job_id="later")
    assert report.updated == {"chats": 1} and report.inserted["turns"] == chats["n_turns"].iloc[0] - 1
    row = _rows(url, "chats").set_index("chat_id").loc[cid]
    assert row["status"] == "complete" and row["backfill_job_id"] == "early"
    assert _content(url) == _content(_fresh(tmp_path, full))
    _assert_whole_chats(url)


def test_a_new_judge_adds_only_its_evals(project, tmp_path):
    _, _, wh = project
    full = export.load_backfill_data(wh)
    url = _sqlite(tmp_path)
    one_judge = export.BackfillData(full.users, full.chats, full.turns, full.messages,
                                    full.evals[full.evals["judge_model"] == JUDGES[0]])
    export.export_backfill(url, one_judge, job_id="j1")
    report = export.export_backfill(url, full, job_id="j2")
    added = int((full.evals["judge_model"] == JUDGES[1]).sum())
    assert added > 0
    assert report.inserted == {"synthetic_users": 0, "chats": 0, "turns": 0, "messages": 0, "evals": added}


def _fresh(tmp_path: Path, data: export.BackfillData) -> str:
    url = _sqlite(tmp_path, f"fresh-{uuid.uuid4().hex[:8]}.sqlite")
    export.export_backfill(url, data, batch_size=1000)
    return url


def test_an_export_killed_half_way_leaves_whole_chats_and_a_rerun_completes_it(project, tmp_path):
    path, cfg, wh = project
    data = export.load_backfill_data(wh)
    n_chats = len(data.chats)
    db = tmp_path / "killed.sqlite"
    url = f"sqlite:///{db}"
    cmd = [sys.executable, "-m", "llmfeedback_assets.export", "--config", str(path), "--url", url,
           "--batch-size", "1", "--pause-between-batches", "0.15", "--job-id", "killed"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _chat_count(db) < 3 and proc.poll() is None:
            time.sleep(0.02)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    written = _chat_count(db)
    assert 3 <= written < n_chats  # interrupted half-way
    _assert_whole_chats(url)
    job = _rows(url, "backfill_jobs").set_index("job_id").loc["killed"]
    assert job["status"] == "running" and pd.isna(job["finished_at"])  # it never finished, and says so

    report = export.export_backfill(url, data, job_id="rerun", batch_size=5)
    assert report.inserted["chats"] == n_chats - written
    counts = export.count_rows(url)
    assert {t: counts[t] for t in data.counts()} == data.counts()
    assert _content(url) == _content(_fresh(tmp_path, data))  # complete, and nothing twice
    assert set(_rows(url, "chats")["backfill_job_id"]) == {"killed", "rerun"}


def _chat_count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return int(con.execute("SELECT count(*) FROM chats").fetchone()[0])
        finally:
            con.close()
    except sqlite3.OperationalError:  # the schema is not created yet
        return 0


def test_a_relative_sqlite_path_is_under_the_project_root(tmp_path):
    url = export.resolve_database_url("sqlite:///data/exports/backfill.sqlite", tmp_path)
    assert sa.engine.make_url(url).database == str(tmp_path / "data" / "exports" / "backfill.sqlite")
    assert (tmp_path / "data" / "exports").is_dir()
    assert export.resolve_database_url(PG_URL, tmp_path) == PG_URL


# -- PostgreSQL ----------------------------------------------------------------------------------------------
@pytest.fixture
def pg_schema():
    """A throwaway schema in the test database, dropped afterwards; skips when no server answers.

    To run it: start PostgreSQL on 127.0.0.1:5432 with a `test` database the `postgres` user may use without
    a password (or set LLMFEEDBACK_TEST_POSTGRES_URL), and `pip install psycopg2-binary`."""
    pytest.importorskip("psycopg2")
    engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as con:
            con.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        engine.dispose()
        pytest.skip(f"no PostgreSQL at {PG_URL}: {str(exc).splitlines()[0]}")
    schema = f"llmfeedback_test_{uuid.uuid4().hex[:10]}"
    try:
        yield engine, schema
    finally:
        with engine.begin() as con:
            con.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


@pytest.mark.services
def test_postgres_export(project, pg_schema, tmp_path):
    engine, schema = pg_schema
    _, _, wh = project
    data = export.load_backfill_data(wh)
    first = export.export_backfill(engine, data, job_id="pg-1", batch_size=4, schema=schema)
    assert first.inserted == data.counts()
    second = export.export_backfill(engine, data, job_id="pg-2", batch_size=4, schema=schema)
    assert set(second.inserted.values()) == {0}
    counts = export.count_rows(engine, schema=schema)
    assert {t: counts[t] for t in data.counts()} == data.counts() and counts["backfill_jobs"] == 2
    url = engine.url.render_as_string(hide_password=False)
    _assert_whole_chats(url, schema)
    assert _content(url, schema) == _content(_fresh(tmp_path, data))  # the same rows as in SQLite
    # foreign keys hold in PostgreSQL: a message of an unknown turn is refused
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as con:
        con.execute(sa.text(f'INSERT INTO "{schema}".messages VALUES '
                            "('m', :c, 'no-such-turn', 0, 'user', 'x', 'y', 'pg-1')"),
                    {"c": data.chats["chat_id"].iloc[0]})


# -- values PostgreSQL cannot hold, rows a database refuses -------------------------------------------------
@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
def database(request, tmp_path):
    """(url or engine, schema, url for reading back) of SQLite, then of PostgreSQL when one answers."""
    if request.param == "sqlite":
        url = _sqlite(tmp_path)
        return url, None, url
    engine, schema = request.getfixturevalue("pg_schema")
    return engine, schema, engine.url.render_as_string(hide_password=False)


@pytest.fixture
def nul_warehouse(project, tmp_path):
    """The project's synth tables with NUL in a persona, a style, a message and a chat's error: DuckDB (and
    SQLite) store NUL, PostgreSQL text cannot."""
    _, _, wh = project
    personas, convs = wh.table("personas"), wh.table("conversations")
    msgs = wh.table("conversation_messages")
    personas.loc[0, "persona"] += "\x00 (after a NUL)"
    personas.loc[1, "style"] = "terse\x00"
    msgs.loc[0, "content"] = "before\x00after\x00"  # one value, two NULs
    partial = convs.index[convs["status"] == "partial"][0]
    convs.loc[partial, "error"] = "HTTP 500: \x00\x00 binary body"
    out = Warehouse(tmp_path / "nul.duckdb")
    out.replace_table("personas", personas)
    out.replace_table("conversations", convs)
    out.replace_table("conversation_messages", msgs)
    out.replace_table("conversation_judgments", wh.table("conversation_judgments"))
    # the warehouse keeps the original values: the export cleans them for the SQL database
    assert out.table("conversation_messages")["content"].str.contains("\x00").sum() == 1
    assert out.table("personas")["persona"].str.contains("\x00").sum() == 1
    return out


def _texts(url: str, schema: str | None = None) -> list[str]:
    return [v for t in ("synthetic_users", "chats", "turns", "messages", "evals")
            for col in _rows(url, t, schema).select_dtypes("object").to_numpy().T for v in col
            if isinstance(v, str)]


def test_nul_is_replaced_in_every_text_value_and_counted(nul_warehouse, database, tmp_path):
    target, schema, url = database
    data = export.load_backfill_data(nul_warehouse)
    report = export.export_backfill(target, data, job_id="nul-1", batch_size=2, schema=schema)
    assert report.status == "complete" and not report.refused and report.inserted == data.counts()
    assert report.nul_replaced == {"synthetic_users": 2, "chats": 1, "turns": 0, "messages": 1, "evals": 0}
    meta = report.as_metadata()
    assert (meta["nul_replaced/messages"], meta["refused/chats"], meta["status"]) == (1, 0, "complete")
    texts = _texts(url, schema)
    assert not any("\x00" in t for t in texts)
    assert "before\ufffdafter\ufffd" in texts and "HTTP 500: \ufffd\ufffd binary body" in texts
    assert any(t.endswith("\ufffd (after a NUL)") for t in texts) and "terse\ufffd" in texts
    again = export.export_backfill(target, data, job_id="nul-2", batch_size=3, schema=schema)
    assert set(again.inserted.values()) == {0} and again.updated == {"chats": 0}  # cleaned the same way
    if schema is not None:  # the same rows as in SQLite
        assert _content(url, schema) == _content(_fresh(tmp_path, data))


def test_a_refused_chat_is_left_out_and_every_other_batch_is_written(project, database, tmp_path):
    target, schema, url = database
    _, _, wh = project
    good = export.load_backfill_data(wh)
    ids = list(good.chats["chat_id"])
    no_status, bad_text = ids[1], ids[4]  # in the first and the third batch of two
    chats = good.chats.assign(status=good.chats["status"].where(good.chats["chat_id"] != no_status, None))
    msgs = good.messages.copy()
    msgs.loc[msgs.index[msgs["chat_id"] == bad_text][0], "content"] = "lone surrogate \udcff"
    bad = export.BackfillData(good.users, chats, good.turns, msgs, good.evals)
    report = export.export_backfill(target, bad, job_id="bad", batch_size=2, schema=schema)
    assert [(r.table, r.id) for r in report.refused] == [("chats", no_status), ("chats", bad_text)]
    assert "status" in report.refused[0].reason and "surrogate" in report.refused[1].reason
    assert report.status == "incomplete" and report.batches == -(-len(good.users) // 2) + -(-len(ids) // 2)
    written = set(_rows(url, "chats", schema)["chat_id"])
    assert written == set(ids) - {no_status, bad_text} and report.inserted["chats"] == len(ids) - 2
    assert report.inserted["messages"] == int(good.messages["chat_id"].isin(written).sum())
    _assert_whole_chats(url, schema)  # nothing of the refused chats, all of the others
    job = _rows(url, "backfill_jobs", schema).set_index("job_id").loc["bad"]
    assert job["status"] == "incomplete" and pd.notna(job["finished_at"])
    assert json.loads(job["inserted"])["chats"] == len(ids) - 2
    meta = report.as_metadata()
    assert meta["refused/chats"] == 2 and meta["status"] == "incomplete"
    assert f"chats {no_status}: " in meta["refused_rows"] and f"chats {bad_text}: " in meta["refused_rows"]
    # once the warehouse is right, a rerun adds exactly the two chats
    fixed = export.export_backfill(target, good, job_id="fixed", batch_size=2, schema=schema)
    assert fixed.inserted["chats"] == 2 and fixed.status == "complete" and not fixed.refused
    _assert_whole_chats(url, schema)
    assert _content(url, schema) == _content(_fresh(tmp_path, good))


def test_a_user_the_database_refuses_is_left_out(project, database):
    target, schema, url = database
    _, _, wh = project
    users = export.load_backfill_data(wh).users
    users.loc[0, "persona"] = None
    empty = export.load_backfill_data(wh)
    data = export.BackfillData(users, *(empty.frame(t).iloc[0:0] for t in ("chats", "turns", "messages",
                                                                            "evals")))
    report = export.export_backfill(target, data, job_id="users", batch_size=10, schema=schema)
    assert [(r.table, r.id) for r in report.refused] == [("synthetic_users", users.loc[0, "user_id"])]
    assert report.inserted["synthetic_users"] == len(users) - 1 == len(_rows(url, "synthetic_users", schema))


def test_the_cli_reports_cleaned_values_and_refused_chats(project, nul_warehouse, tmp_path, monkeypatch,
                                                           capsys):
    path, _, _ = project
    monkeypatch.setenv(DB_ENV, str(nul_warehouse.path))
    assert export_main(["--config", str(path), "--url", _sqlite(tmp_path), "--job-id", "cli"]) == 0
    out = capsys.readouterr().out
    assert "replaced NUL by U+FFFD" in out and "'messages': 1" in out
