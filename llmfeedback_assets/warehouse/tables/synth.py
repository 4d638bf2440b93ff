"""Tables of the synthetic-conversation area: personas, conversations, messages and their judgments."""

from __future__ import annotations

from ..table import declare

PERSONAS = declare("personas", "User personas that drive the synthetic conversations.", [
    ("persona_id", "VARCHAR", "content hash of the persona"),
    ("persona", "VARCHAR", "who the simulated user is"),
    ("interests", "VARCHAR[]", "topics the user asks about"),
    ("style", "VARCHAR", "how the user writes"),
    ("source", "VARCHAR", "configured, generated or default"),
    ("generator_model", "VARCHAR", "model that generated it (generated personas)"),
    ("request_key", "VARCHAR", "gateway request key of the generating call"),
], key="persona_id")

CONVERSATIONS = declare("conversations", "Multi-turn conversations of a simulated user with two models.", [
    ("conversation_id", "VARCHAR", "content hash of persona, index, models and seed"),
    ("persona_id", "VARCHAR", "the persona playing the user"),
    ("conversation_index", "INTEGER", "index among the persona's conversations"),
    ("user_model", "VARCHAR", "model playing the user"),
    ("model_1", "VARCHAR", "first model answering"),
    ("model_2", "VARCHAR", "second model answering"),
    ("n_turns_planned", "INTEGER", "turns the conversation was planned to have"),
    ("n_turns", "INTEGER", "completed turns: a user message answered by both models"),
    ("status", "VARCHAR", "complete or partial"),
    ("error", "VARCHAR", "why a partial conversation stopped"),
    ("seed", "BIGINT", "seed of the conversation's random choices"),
], key="conversation_id")

CONVERSATION_MESSAGES = declare("conversation_messages", "Every message of every conversation.", [
    ("message_id", "VARCHAR", "content hash of conversation, turn and side"),
    ("conversation_id", "VARCHAR", "the conversation"),
    ("turn", "INTEGER", "1-based turn"),
    ("side", "INTEGER", "0: the user, 1: model_1, 2: model_2"),
    ("role", "VARCHAR", "user or assistant"),
    ("model", "VARCHAR", "model that wrote it"),
    ("content", "VARCHAR", "the message"),
    ("continued", "BOOLEAN", "the answer the user replied to (the thread goes on from it)"),
    ("request_key", "VARCHAR", "gateway request key of the call"),
], key="message_id")

CONVERSATION_JUDGMENTS = declare("conversation_judgments", "One judge's per-turn preferences between the two "
                                                           "models.", [
    ("judgment_id", "VARCHAR", "content hash of judge, conversation and turn"),
    ("judge_model", "VARCHAR", "the judge (the partition key)"),
    ("conversation_id", "VARCHAR", "the conversation"),
    ("turn", "INTEGER", "the turn judged"),
    ("model_1", "VARCHAR", "first model"),
    ("model_2", "VARCHAR", "second model"),
    ("message_1_id", "VARCHAR", "model_1's answer"),
    ("message_2_id", "VARCHAR", "model_2's answer"),
    ("swapped", "BOOLEAN", "the judge saw model_2's answer first"),
    ("preference", "INTEGER", "1: model_1 much better .. 3: equal .. 5: model_2 much better"),
    ("score_1", "DOUBLE", "0-100 slider for model_1"),
    ("score_2", "DOUBLE", "100 - score_1"),
    ("parse_status", "VARCHAR", "ok, or why no preference was read"),
    ("choice_strategy", "VARCHAR", "how the judge was chosen for this conversation (min_cost or random)"),
    ("request_key", "VARCHAR", "gateway request key of the judge call"),
], key="judgment_id", partition="judge_model")

SYNTH_REJECTED = declare("synth_rejected", "Generated items rejected (bad format) with the reason.", [
    ("asset", "VARCHAR", "asset that generated the item"),
    ("item", "VARCHAR", "what was being generated"),
    ("attempt", "INTEGER", "attempt number"),
    ("reason", "VARCHAR", "why it was rejected"),
    ("raw", "VARCHAR", "the start of the raw reply"),
    ("request_key", "VARCHAR", "gateway request key of the call"),
    ("rejected_at", "TIMESTAMP", "when it was rejected (UTC)"),
])

TABLES = [PERSONAS, CONVERSATIONS, CONVERSATION_MESSAGES, CONVERSATION_JUDGMENTS, SYNTH_REJECTED]
