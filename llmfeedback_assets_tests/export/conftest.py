"""Fixtures of the export tests: a synthetic warehouse, and the databases it is exported into (SQLite always,
PostgreSQL when a server answers on 127.0.0.1:5432)."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from llmfeedback_assets import synth
from llmfeedback_assets.config import load_config
from llmfeedback_assets.llm import Gateway
from llmfeedback_assets.warehouse import Warehouse

from .common import JUDGES, PG_URL, project_config


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A warehouse holding personas, conversations (one of them partial) and two judges' judgments."""
    path = project_config(tmp_path_factory.mktemp("export"))
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


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
def database(request, tmp_path):
    """(url or engine, schema, url for reading back) of SQLite, then of PostgreSQL when one answers."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'product.sqlite'}"
        return url, None, url
    engine, schema = request.getfixturevalue("pg_schema")
    return engine, schema, engine.url.render_as_string(hide_password=False)
