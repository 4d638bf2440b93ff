"""The backfill's database schema in Yupp's layout (SQLAlchemy Core), created when absent.

Table and column names follow Yupp's own synthetic backfill ("Yuppfill"), so the rows land where Yupp's
product reads them: `synthetic_backfill_attributes` (one row per backfill job), `users`,
`synthetic_user_attributes` (a user listed there is synthetic), `chats`, `turns`, `chat_messages` and
`evals`. Enum-like values are stored as Yupp stores its enums, by name (`USER_MESSAGE`, `ASSISTANT_MESSAGE`,
`SLIDER_V0`). Columns Yupp does not have but the warehouse knows (the models of a chat, its status, the
judge's preference) sit next to Yupp's, so nothing of the warehouse is lost.

Ids are the warehouse's content hashes, so the same data always maps to the same rows. Every row names the
backfill job that created it (`backfill_job_id` -> `synthetic_backfill_attributes.id`). Lists (interests,
judge models) and the run's config are JSON text, so SQLite and PostgreSQL hold the same values.
"""

from __future__ import annotations

import sqlalchemy as sa

ID = sa.String(64)
NAME = sa.String(200)
JOBS = "synthetic_backfill_attributes"
USER_MESSAGE, ASSISTANT_MESSAGE, SLIDER = "USER_MESSAGE", "ASSISTANT_MESSAGE", "SLIDER_V0"
TITLE_CHARS = 100  # a chat's title: the start of its first user message, as Yuppfill titles a chat


def product_metadata(schema: str | None = None) -> sa.MetaData:
    """A fresh MetaData with the backfill tables, optionally in a database schema (PostgreSQL)."""
    md = sa.MetaData(schema=schema)

    def fk(table: str, col: str) -> sa.ForeignKey:
        return sa.ForeignKey(f"{schema}.{table}.{col}" if schema else f"{table}.{col}")

    def job() -> sa.Column:
        return sa.Column("backfill_job_id", ID, fk(JOBS, "id"), nullable=False, index=True)

    def created() -> sa.Column:
        return sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now())

    sa.Table(
        JOBS, md,
        sa.Column("id", ID, primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),  # running | complete | incomplete | failed
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),  # NULL: the job never finished
        sa.Column("source", sa.Text),
        sa.Column("num_users", sa.Integer),
        sa.Column("num_attempted_chats_per_user", sa.Integer),
        sa.Column("user_llm_model", NAME),
        sa.Column("user_llm_temperature", sa.Float),
        sa.Column("judge_models", sa.Text),  # JSON list
        sa.Column("judge_model_temperatures", sa.Text),  # JSON list, one per judge model
        sa.Column("git_commit_sha", sa.String(64)),
        sa.Column("config", sa.Text),  # JSON: the run's synth config and its models (env var NAMES, no keys)
        sa.Column("inserted", sa.Text),  # JSON: rows inserted per table
    )
    sa.Table(
        "users", md,
        sa.Column("user_id", ID, primary_key=True),
        sa.Column("email", sa.String(120), nullable=False, unique=True),  # <user_id>@synthetic.invalid
        sa.Column("is_synthetic", sa.Boolean, nullable=False),
        created(),
        job(),
    )
    sa.Table(
        "synthetic_user_attributes", md,
        sa.Column("user_id", ID, fk("users", "user_id"), primary_key=True),
        sa.Column("persona", sa.Text, nullable=False),
        sa.Column("interests", sa.Text, nullable=False),  # JSON list
        sa.Column("style", sa.Text, nullable=False),
        sa.Column("origin", sa.String(20), nullable=False),  # configured | generated | default
        created(),
        job(),
    )
    sa.Table(
        "chats", md,
        sa.Column("chat_id", ID, primary_key=True),
        sa.Column("creator_user_id", ID, fk("users", "user_id"), nullable=False, index=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("path", sa.String(80), nullable=False, unique=True),  # /chat/<chat_id>
        sa.Column("is_public", sa.Boolean, nullable=False),
        sa.Column("user_model", NAME, nullable=False),
        sa.Column("model_1", NAME, nullable=False),
        sa.Column("model_2", NAME, nullable=False),
        sa.Column("planned_turns", sa.Integer, nullable=False),
        sa.Column("n_turns", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),  # complete | partial
        sa.Column("error", sa.Text),
        created(),
        job(),
    )
    sa.Table(
        "turns", md,
        sa.Column("turn_id", ID, primary_key=True),
        sa.Column("chat_id", ID, fk("chats", "chat_id"), nullable=False, index=True),
        sa.Column("sequence_id", sa.Integer, nullable=False),  # the warehouse's 1-based turn
        sa.Column("creator_user_id", ID, fk("users", "user_id"), nullable=False),
        sa.Column("continued_side", sa.Integer),  # the answer the user replied to (NULL on the last turn)
        created(),
        job(),
        sa.UniqueConstraint("chat_id", "sequence_id"),
    )
    sa.Table(
        "chat_messages", md,
        sa.Column("message_id", ID, primary_key=True),
        sa.Column("turn_id", ID, fk("turns", "turn_id"), nullable=False, index=True),
        sa.Column("message_type", sa.String(20), nullable=False),  # USER_MESSAGE | ASSISTANT_MESSAGE
        sa.Column("turn_sequence_number", sa.Integer, nullable=False),  # 0: the user, 1: model_1, 2: model_2
        sa.Column("assistant_model_name", NAME),  # NULL on the user's message (its model: chats.user_model)
        sa.Column("content", sa.Text, nullable=False),
        created(),
        job(),
        sa.UniqueConstraint("turn_id", "turn_sequence_number"),
    )
    sa.Table(
        "evals", md,
        sa.Column("eval_id", ID, primary_key=True),
        sa.Column("user_id", ID, fk("users", "user_id"), nullable=False),  # the synthetic user of the chat
        sa.Column("turn_id", ID, fk("turns", "turn_id"), nullable=False, index=True),
        sa.Column("eval_type", sa.String(20), nullable=False),  # SLIDER_V0: 100 points split between two
        sa.Column("message_1_id", ID, fk("chat_messages", "message_id"), nullable=False),
        sa.Column("message_2_id", ID, fk("chat_messages", "message_id"), nullable=False),
        sa.Column("score_1", sa.Float),  # 0-100 for model_1; NULL when the judge's reply was unreadable
        sa.Column("score_2", sa.Float),  # 100 - score_1
        sa.Column("judge_model_name", NAME, nullable=False),
        sa.Column("preference", sa.Integer),  # 1: model_1 much better .. 5: model_2 much better
        sa.Column("parse_status", sa.String(20), nullable=False),
        created(),
        job(),
        sa.CheckConstraint("score_1 >= 0 AND score_1 <= 100", name="evals_score_1_range"),
        sa.CheckConstraint("score_2 = 100 - score_1", name="evals_score_2_complement"),
    )
    return md


# Tables of a user and of a chat, in insertion order (parents first).
USER_TABLES = ("users", "synthetic_user_attributes")
CHAT_TABLES = ("chats", "turns", "chat_messages", "evals")
DATA_TABLES = (*USER_TABLES, *CHAT_TABLES)
PRIMARY_KEYS = {"users": "user_id", "synthetic_user_attributes": "user_id", "chats": "chat_id",
                "turns": "turn_id", "chat_messages": "message_id", "evals": "eval_id"}
# Columns that may change for an existing row (a partial chat completed by a later generation run).
UPDATABLE = {"chats": ("n_turns", "status", "error")}
