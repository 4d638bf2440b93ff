"""DuckDB tables of the synthetic-conversation area, declared once at import."""

from __future__ import annotations

from ..warehouse import register_table

PERSONAS = [
    ("persona_id", "VARCHAR PRIMARY KEY"),
    ("persona", "VARCHAR"),
    ("interests", "VARCHAR[]"),
    ("style", "VARCHAR"),
    ("source", "VARCHAR"),  # configured | generated | default
    ("generator_model", "VARCHAR"),
    ("request_key", "VARCHAR"),
]
CONVERSATIONS = [
    ("conversation_id", "VARCHAR PRIMARY KEY"),
    ("persona_id", "VARCHAR"),
    ("conversation_index", "INTEGER"),
    ("user_model", "VARCHAR"),
    ("model_1", "VARCHAR"),
    ("model_2", "VARCHAR"),
    ("n_turns_planned", "INTEGER"),
    ("n_turns", "INTEGER"),  # completed turns: a user message answered by both models
    ("status", "VARCHAR"),  # complete | partial
    ("error", "VARCHAR"),
    ("seed", "BIGINT"),
]
CONVERSATION_MESSAGES = [
    ("message_id", "VARCHAR PRIMARY KEY"),
    ("conversation_id", "VARCHAR"),
    ("turn", "INTEGER"),
    ("side", "INTEGER"),  # 0: the user, 1: model_1, 2: model_2
    ("role", "VARCHAR"),
    ("model", "VARCHAR"),
    ("content", "VARCHAR"),
    ("continued", "BOOLEAN"),  # the answer the user replied to (the conversation's thread goes on from it)
    ("request_key", "VARCHAR"),
]
CONVERSATION_JUDGMENTS = [
    ("judgment_id", "VARCHAR PRIMARY KEY"),
    ("judge_model", "VARCHAR"),
    ("conversation_id", "VARCHAR"),
    ("turn", "INTEGER"),
    ("model_1", "VARCHAR"),
    ("model_2", "VARCHAR"),
    ("message_1_id", "VARCHAR"),
    ("message_2_id", "VARCHAR"),
    ("swapped", "BOOLEAN"),  # the judge saw model_2's answer first
    ("preference", "INTEGER"),  # 1: model_1 much better .. 3: equal .. 5: model_2 much better
    ("score_1", "DOUBLE"),  # 0-100 slider; score_2 = 100 - score_1
    ("score_2", "DOUBLE"),
    ("parse_status", "VARCHAR"),
    ("choice_strategy", "VARCHAR"),
    ("request_key", "VARCHAR"),
]
SYNTH_REJECTED = [
    ("asset", "VARCHAR"),
    ("item", "VARCHAR"),
    ("attempt", "INTEGER"),
    ("reason", "VARCHAR"),
    ("raw", "VARCHAR"),
    ("request_key", "VARCHAR"),
    ("rejected_at", "TIMESTAMP"),
]

register_table("personas", PERSONAS)
register_table("conversations", CONVERSATIONS)
register_table("conversation_messages", CONVERSATION_MESSAGES)
register_table("conversation_judgments", CONVERSATION_JUDGMENTS, partition_column="judge_model")
register_table("synth_rejected", SYNTH_REJECTED)
