"""The product database's schema (SQLAlchemy Core), created when absent.

Ids are the warehouse's content hashes, so the same data always maps to the same rows. Every row names the
backfill job that created it (`backfill_job_id`); `backfill_jobs` records each job, its start, its end (NULL
when it was interrupted) and what it inserted.

Messages belong to a turn by (turn_id, side): side 0 is the user, 1 and 2 the two models. Evals refer to a
turn, not to messages, so a turn's row never points forward at rows inserted after it.
"""

from __future__ import annotations

import sqlalchemy as sa

ID = sa.String(64)
NAME = sa.String(200)


def product_metadata(schema: str | None = None) -> sa.MetaData:
    """A fresh MetaData with the product tables, optionally in a database schema (PostgreSQL)."""
    md = sa.MetaData(schema=schema)

    def fk(table: str, col: str) -> sa.ForeignKey:
        return sa.ForeignKey(f"{schema}.{table}.{col}" if schema else f"{table}.{col}")

    def job() -> sa.Column:
        return sa.Column("backfill_job_id", ID, fk("backfill_jobs", "job_id"), nullable=False, index=True)

    sa.Table(
        "backfill_jobs", md,
        sa.Column("job_id", ID, primary_key=True),
        sa.Column("source", sa.Text),
        sa.Column("status", sa.String(20), nullable=False),  # running | complete | failed
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("inserted", sa.Text),  # JSON: rows inserted per table
    )
    sa.Table(
        "synthetic_users", md,
        sa.Column("user_id", ID, primary_key=True),
        sa.Column("persona", sa.Text, nullable=False),
        sa.Column("interests", sa.Text, nullable=False),  # JSON list
        sa.Column("style", sa.Text),
        sa.Column("origin", sa.String(20), nullable=False),  # configured | generated | default
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        job(),
    )
    sa.Table(
        "chats", md,
        sa.Column("chat_id", ID, primary_key=True),
        sa.Column("user_id", ID, fk("synthetic_users", "user_id"), nullable=False, index=True),
        sa.Column("user_model", NAME, nullable=False),
        sa.Column("model_1", NAME, nullable=False),
        sa.Column("model_2", NAME, nullable=False),
        sa.Column("planned_turns", sa.Integer, nullable=False),
        sa.Column("n_turns", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),  # complete | partial
        sa.Column("error", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        job(),
    )
    sa.Table(
        "turns", md,
        sa.Column("turn_id", ID, primary_key=True),
        sa.Column("chat_id", ID, fk("chats", "chat_id"), nullable=False, index=True),
        sa.Column("turn_index", sa.Integer, nullable=False),
        sa.Column("continued_side", sa.Integer),  # the answer the user replied to (NULL on the last turn)
        job(),
        sa.UniqueConstraint("chat_id", "turn_index"),
    )
    sa.Table(
        "messages", md,
        sa.Column("message_id", ID, primary_key=True),
        sa.Column("chat_id", ID, fk("chats", "chat_id"), nullable=False, index=True),
        sa.Column("turn_id", ID, fk("turns", "turn_id"), nullable=False, index=True),
        sa.Column("side", sa.Integer, nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("model", NAME, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        job(),
        sa.UniqueConstraint("turn_id", "side"),
    )
    sa.Table(
        "evals", md,
        sa.Column("eval_id", ID, primary_key=True),
        sa.Column("chat_id", ID, fk("chats", "chat_id"), nullable=False, index=True),
        sa.Column("turn_id", ID, fk("turns", "turn_id"), nullable=False, index=True),
        sa.Column("judge_model", NAME, nullable=False),
        sa.Column("preference", sa.Integer),  # 1: model_1 much better .. 5: model_2 much better
        sa.Column("score_1", sa.Float),
        sa.Column("score_2", sa.Float),
        sa.Column("parse_status", sa.String(20), nullable=False),
        job(),
    )
    return md


# Child tables of a chat, in insertion order (parents first).
CHAT_TABLES = ("chats", "turns", "messages", "evals")
PRIMARY_KEYS = {"synthetic_users": "user_id", "chats": "chat_id", "turns": "turn_id",
                "messages": "message_id", "evals": "eval_id"}
# Columns that may change for an existing row (a partial chat completed by a later generation run).
UPDATABLE = {"chats": ("n_turns", "status", "error")}
