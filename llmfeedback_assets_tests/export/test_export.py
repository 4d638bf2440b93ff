"""The SQL backfill export in Yupp's layout: the tables, keys and scores Yupp reads, idempotent, atomic per
chat, one transaction per batch, traceable to its job, no secret written, NUL cleaned and a refused chat left
out without blocking the others; SQLite always, PostgreSQL when a server answers on 127.0.0.1:5432 (see
`conftest.pg_schema`)."""

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

from llmfeedback_assets import export
from llmfeedback_assets.config import DB_ENV
from llmfeedback_assets.export.__main__ import main as export_main
from llmfeedback_assets.export.schema import CHAT_TABLES, DATA_TABLES, JOBS
from llmfeedback_assets.warehouse import Warehouse

from .common import JUDGES, PG_URL, project_config

REPO = Path(__file__).resolve().parents[2]


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
    msgs, evals = _rows(url, "chat_messages", schema), _rows(url, "evals", schema)
    per_chat_turns = turns.groupby("chat_id").size().reindex(chats["chat_id"], fill_value=0)
    assert (per_chat_turns.to_numpy() == chats["n_turns"].to_numpy()).all()
    assert (msgs.groupby("turn_id").size().reindex(turns["turn_id"], fill_value=0) == 3).all()
    assert set(msgs["turn_id"]) <= set(turns["turn_id"]) and set(evals["turn_id"]) <= set(turns["turn_id"])


def _content(url: str, schema: str | None = None) -> dict[str, set]:
    """Every table's rows without job ids and timestamps, for comparing two databases."""
    out = {}
    for t in DATA_TABLES:
        df = _rows(url, t, schema).drop(columns=["backfill_job_id", "created_at"], errors="ignore")
        for flag in {"is_synthetic", "is_public"} & set(df.columns):  # SQLite reads a boolean back as 0/1
            df[flag] = df[flag].astype(bool)
        out[t] = set(df.astype(str).itertuples(index=False, name=None))
    return out


# -- mapping ----------------------------------------------------------------------------------------------
def test_backfill_rows_map_every_warehouse_row(project):
    _, _, wh = project
    data = export.load_backfill_data(wh)
    n_users = wh.count("personas")
    assert data.counts() == {"users": n_users, "synthetic_user_attributes": n_users,
                             "chats": wh.count("conversations"),
                             "turns": int(
                                 wh.query("SELECT sum(n_turns) AS n FROM conversations")["n"].iloc[0]),
                             "chat_messages": wh.count("conversation_messages"),
                             "evals": wh.count("conversation_judgments")}
    assert set(data.chats["status"]) == {"complete", "partial"}
    partial = data.chats[data.chats["status"] == "partial"]
    assert ((partial["n_turns"] < partial["planned_turns"]).all()
            and partial["error"].str.contains("dead").all())
    user = data.users.iloc[0]
    assert isinstance(json.loads(user["interests"]), list)
    assert user["email"] == f"{user['user_id']}@synthetic.invalid" and user["is_synthetic"]
    last_turns = data.turns.merge(data.chats[["chat_id", "n_turns"]])
    on_last = last_turns["sequence_id"] == last_turns["n_turns"]
    assert last_turns.loc[on_last, "continued_side"].isna().all()
    assert last_turns.loc[~on_last, "continued_side"].isin([1, 2]).all()
    # Yupp's message types: the user's message has no assistant model, the answers name theirs
    msgs = data.messages
    user_msgs = msgs["turn_sequence_number"] == 0
    assert set(msgs.loc[user_msgs, "message_type"]) == {"USER_MESSAGE"}
    assert msgs.loc[user_msgs, "assistant_model_name"].isna().all()
    assert set(msgs.loc[~user_msgs, "message_type"]) == {"ASSISTANT_MESSAGE"}
    assert msgs.loc[~user_msgs, "assistant_model_name"].notna().all()
    # a chat's title is the start of its first user message; its creator is its persona
    first = msgs[user_msgs].merge(data.turns[["turn_id", "sequence_id"]])
    first = first[first["sequence_id"] == 1].set_index("chat_id")["content"]
    titled = data.chats.set_index("chat_id")
    assert all(titled.loc[c, "title"] == first[c][:100] for c in first.index)
    convs = wh.table("conversations").set_index("conversation_id")
    assert (titled["creator_user_id"] == convs.loc[titled.index, "persona_id"]).all()


def test_an_eval_is_yupps_slider(project):
    """score_1 is model_1's share of 100 points, score_2 the rest, and the judge is named."""
    _, _, wh = project
    evals = export.load_backfill_data(wh).evals
    scored = evals["score_1"].notna()
    assert scored.sum() > 0 and (evals["eval_type"] == "SLIDER_V0").all()
    assert evals["score_1"].between(0, 100)[scored].all()
    assert (evals.loc[scored, "score_1"] + evals.loc[scored, "score_2"] == 100).all()
    assert evals.loc[~scored, "score_2"].isna().all()
    judged = wh.table("conversation_judgments").set_index("judgment_id")
    assert list(evals["judge_model_name"]) == list(judged.loc[evals["eval_id"], "judge_model"])


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
    assert export.count_rows(url) == {**counts, JOBS: 2}
    for table in DATA_TABLES:
        assert set(_rows(url, table)["backfill_job_id"]) == {"job-1"}  # the creator is kept
    jobs = _rows(url, JOBS).set_index("id")
    assert list(jobs["status"]) == ["complete", "complete"] and jobs["finished_at"].notna().all()
    assert json.loads(jobs.loc["job-2", "inserted"])["chat_messages"] == 0
    assert (jobs["num_users"] == len(data.users)).all()
    _assert_whole_chats(url)


def test_each_batch_is_one_transaction(project, tmp_path):
    """Besides creating the schema and opening and closing the job, the export commits once per batch, and a
    chat batch's commit holds the chats with their turns, messages and evals."""
    _, _, wh = project
    data = export.load_backfill_data(wh)
    engine = sa.create_engine(_sqlite(tmp_path))
    written: list[set[str]] = [set()]
    sa.event.listen(engine, "after_cursor_execute",
                    lambda conn, cur, stmt, *a: written[-1].update(
                        t for t in (JOBS, *DATA_TABLES) if stmt.startswith(f"INSERT INTO {t} ")))
    sa.event.listen(engine, "commit", lambda conn: written.append(set()))
    try:
        report = export.export_backfill(engine, data, job_id="tx", batch_size=4)
    finally:
        engine.dispose()
    commits = written[:-1]
    assert len(commits) == report.batches + 3  # schema, job opened, batches, job closed
    assert report.batches == -(-len(data.users) // 4) + -(-len(data.chats) // 4)
    assert commits[1] == {JOBS}
    user_batches = -(-len(data.users) // 4)
    assert all(c == {"users", "synthetic_user_attributes"} for c in commits[2:2 + user_batches])
    chat_batches = commits[2 + user_batches:-1]
    assert len(chat_batches) == -(-len(data.chats) // 4)
    # a chat's turns, messages and evals are never committed apart from it
    assert all("chats" in c and c <= set(CHAT_TABLES) for c in chat_batches)
    assert set().union(*chat_batches) == set(CHAT_TABLES)


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
                                    full.evals[full.evals["judge_model_name"] == JUDGES[0]])
    export.export_backfill(url, one_judge, job_id="j1")
    report = export.export_backfill(url, full, job_id="j2")
    added = int((full.evals["judge_model_name"] == JUDGES[1]).sum())
    assert added > 0
    assert report.inserted == {**dict.fromkeys(DATA_TABLES, 0), "evals": added}


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
    job = _rows(url, JOBS).set_index("id").loc["killed"]
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
    assert {t: counts[t] for t in data.counts()} == data.counts() and counts[JOBS] == 2
    url = engine.url.render_as_string(hide_password=False)
    _assert_whole_chats(url, schema)
    assert _content(url, schema) == _content(_fresh(tmp_path, data))  # the same rows as in SQLite
    # foreign keys hold in PostgreSQL: a message of an unknown turn is refused
    with pytest.raises(sa.exc.IntegrityError, match="foreign key"), engine.begin() as con:
        con.execute(sa.text(f'INSERT INTO "{schema}".chat_messages (message_id, turn_id, message_type, '
                            "turn_sequence_number, content, backfill_job_id) "
                            "VALUES ('m', 'no-such-turn', 'USER_MESSAGE', 0, 'y', 'pg-1')"))


# -- Yupp's layout, on SQLite and PostgreSQL ---------------------------------------------------------------
# table -> (primary key, {column: the table.column it references}, columns Yupp's backfill writes)
YUPP = {
    JOBS: (["id"], {}, {"num_users", "num_attempted_chats_per_user", "user_llm_model", "user_llm_temperature",
                        "judge_models", "judge_model_temperatures", "git_commit_sha", "config", "status",
                        "started_at", "finished_at"}),
    "users": (["user_id"], {}, {"email", "is_synthetic", "created_at"}),
    "synthetic_user_attributes": (["user_id"], {"user_id": "users.user_id"},
                                  {"persona", "interests", "style", "origin"}),
    "chats": (["chat_id"], {"creator_user_id": "users.user_id"},
              {"title", "path", "is_public", "model_1", "model_2", "status"}),
    "turns": (["turn_id"], {"chat_id": "chats.chat_id", "creator_user_id": "users.user_id"}, {"sequence_id"}),
    "chat_messages": (["message_id"], {"turn_id": "turns.turn_id"},
                      {"message_type", "turn_sequence_number", "assistant_model_name", "content"}),
    "evals": (["eval_id"], {"user_id": "users.user_id", "turn_id": "turns.turn_id",
                            "message_1_id": "chat_messages.message_id",
                            "message_2_id": "chat_messages.message_id"},
              {"eval_type", "score_1", "score_2", "judge_model_name"}),
}


def test_the_tables_have_yupps_names_keys_and_columns(project, database):
    target, schema, url = database
    _, _, wh = project
    data = export.load_backfill_data(wh)
    export.export_backfill(target, data, job_id="layout", batch_size=50, schema=schema)
    engine = target if isinstance(target, sa.Engine) else sa.create_engine(url)
    insp = sa.inspect(engine)
    assert set(insp.get_table_names(schema=schema)) == set(YUPP)
    for table, (pk, fks, columns) in YUPP.items():
        cols = {c["name"] for c in insp.get_columns(table, schema=schema)}
        assert columns <= cols, (table, columns - cols)
        assert insp.get_pk_constraint(table, schema=schema)["constrained_columns"] == pk
        refs = {fk["constrained_columns"][0]: f"{fk['referred_table']}.{fk['referred_columns'][0]}"
                for fk in insp.get_foreign_keys(table, schema=schema)}
        # every row names its backfill job
        assert refs == {**fks, **({} if table == JOBS else {"backfill_job_id": f"{JOBS}.id"})}, table
    uniques = {t: [u["column_names"] for u in insp.get_unique_constraints(t, schema=schema)]
               for t in ("users", "chats", "turns", "chat_messages")}
    assert uniques == {"users": [["email"]], "chats": [["path"]], "turns": [["chat_id", "sequence_id"]],
                       "chat_messages": [["turn_id", "turn_sequence_number"]]}
    # every exported eval is a slider whose two scores share 100 points, with its judge named
    evals = _rows(url, "evals", schema)
    assert len(evals) == len(data.evals) and evals["judge_model_name"].notna().all()
    scored = evals[evals["score_1"].notna()]
    assert len(scored) > 0 and (scored["score_2"] == 100 - scored["score_1"]).all()
    assert evals.loc[evals["score_1"].isna(), "score_2"].isna().all()
    # and the database itself refuses an eval whose scores do not add up
    row = {**evals.iloc[0].to_dict(), "eval_id": "bad-sum", "score_1": 30.0, "score_2": 60.0}
    row = {k: (None if pd.isna(v) else v) for k, v in row.items() if k != "created_at"}
    table = sa.Table("evals", sa.MetaData(schema=schema), autoload_with=engine)
    with pytest.raises(sa.exc.IntegrityError, match="score_2"), engine.begin() as con:
        con.execute(table.insert().values(row))
    if not isinstance(target, sa.Engine):
        engine.dispose()


def test_a_table_of_another_layout_is_a_clear_error(project, tmp_path):
    _, _, wh = project
    url = _sqlite(tmp_path)
    with sa.create_engine(url).begin() as con:  # the product's own `chats`, or an older export's
        con.execute(sa.text("CREATE TABLE chats (chat_id TEXT PRIMARY KEY, user_id TEXT)"))
    with pytest.raises(export.ExportError, match=r"'chats' exists without .*'creator_user_id'"):
        export.export_backfill(url, export.load_backfill_data(wh), job_id="clash")
    assert _rows(url, "chats").empty


def test_no_secret_is_written(project, tmp_path, monkeypatch):
    """The job row keeps the run's config with the NAME of the variable holding a key, never its value."""
    _, _, wh = project
    sentinel = "sk-llmf-export-3c9e-DO-NOT-WRITE"
    monkeypatch.setenv("LLMF_TEST_EXPORT_KEY", sentinel)
    monkeypatch.setenv(DB_ENV, str(wh.path))
    path = project_config(tmp_path, api_key_env="LLMF_TEST_EXPORT_KEY")
    db = tmp_path / "secret.sqlite"
    assert export_main(["--config", str(path), "--url", f"sqlite:///{db}", "--job-id", "s"]) == 0
    url = f"sqlite:///{db}"
    job = _rows(url, JOBS).set_index("id").loc["s"]
    config = json.loads(job["config"])
    dead = [m for m in config["models"] if m["name"] == "dead"]
    assert dead == [{"name": "dead", "provider": "openai", "model": None, "temperature": 0.0,
                     "max_tokens": 1024, "api_key_env": "LLMF_TEST_EXPORT_KEY", "family": None}]
    assert config["synth"]["user_model"] == "user-sim" and job["user_llm_model"] == "user-sim"
    assert json.loads(job["judge_models"]) == JUDGES and job["num_attempted_chats_per_user"] == 3
    assert len(json.loads(job["judge_model_temperatures"])) == len(JUDGES)
    assert job["num_users"] == wh.count("personas") and job["status"] == "complete"
    values = [str(v) for t in (JOBS, *DATA_TABLES) for v in _rows(url, t).to_numpy().ravel()]
    assert len(values) > 100 and not [v for v in values if sentinel in v]
    assert sentinel.encode() not in db.read_bytes()


# -- values PostgreSQL cannot hold, rows a database refuses -------------------------------------------------
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
    return [v for t in DATA_TABLES
            for col in _rows(url, t, schema).select_dtypes("object").to_numpy().T for v in col
            if isinstance(v, str)]


def test_nul_is_replaced_in_every_text_value_and_counted(nul_warehouse, database, tmp_path):
    target, schema, url = database
    data = export.load_backfill_data(nul_warehouse)
    report = export.export_backfill(target, data, job_id="nul-1", batch_size=2, schema=schema)
    assert report.status == "complete" and not report.refused and report.inserted == data.counts()
    titled = int(data.chats["title"].str.contains("\x00").sum())  # a title starts the first user message
    assert report.nul_replaced == {"users": 0, "synthetic_user_attributes": 2, "chats": 1 + titled,
                                   "turns": 0, "chat_messages": 1, "evals": 0}
    meta = report.as_metadata()
    assert (meta["nul_replaced/chat_messages"], meta["refused/chats"], meta["status"]) == (1, 0, "complete")
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
    assert report.inserted["chat_messages"] == int(good.messages["chat_id"].isin(written).sum())
    _assert_whole_chats(url, schema)  # nothing of the refused chats, all of the others
    job = _rows(url, JOBS, schema).set_index("id").loc["bad"]
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
    """A user whose attributes are refused is left out whole: no `users` row without its attributes."""
    target, schema, url = database
    _, _, wh = project
    users = export.load_backfill_data(wh).users
    users.loc[0, "persona"] = None
    empty = export.load_backfill_data(wh)
    data = export.BackfillData(users, *(empty.frame(t).iloc[0:0] for t in CHAT_TABLES))
    report = export.export_backfill(target, data, job_id="users", batch_size=10, schema=schema)
    assert [(r.table, r.id) for r in report.refused] == [("users", users.loc[0, "user_id"])]
    assert report.inserted["users"] == report.inserted["synthetic_user_attributes"] == len(users) - 1
    assert set(_rows(url, "users", schema)["user_id"]) == set(users["user_id"].iloc[1:])
    assert set(_rows(url, "synthetic_user_attributes", schema)["user_id"]) == set(users["user_id"].iloc[1:])


def test_the_cli_reports_cleaned_values_and_refused_chats(project, nul_warehouse, tmp_path, monkeypatch,
                                                           capsys):
    path, _, _ = project
    monkeypatch.setenv(DB_ENV, str(nul_warehouse.path))
    assert export_main(["--config", str(path), "--url", _sqlite(tmp_path), "--job-id", "cli"]) == 0
    out = capsys.readouterr().out
    assert "replaced NUL by U+FFFD" in out and "'chat_messages': 1" in out
