"""Explicit table schemas. Column order and types are fixed here, and every write selects columns by name,
so a reordered DataFrame can never land in the wrong column."""

from __future__ import annotations

TABLES: dict[str, list[tuple[str, str]]] = {
    "prompts": [
        ("prompt_id", "VARCHAR PRIMARY KEY"),
        ("source_file", "VARCHAR"),
        ("source_id", "VARCHAR"),
        ("category", "VARCHAR"),
        ("turns", "VARCHAR[]"),
        ("reference", "VARCHAR[]"),
        ("n_turns", "INTEGER"),
    ],
    "rejected_inputs": [
        ("source_file", "VARCHAR"),
        ("line", "INTEGER"),
        ("reason", "VARCHAR"),
        ("raw", "VARCHAR"),
        ("asset", "VARCHAR"),
        ("rejected_at", "TIMESTAMP"),
    ],
    "responses": [
        ("response_id", "VARCHAR PRIMARY KEY"),
        ("prompt_id", "VARCHAR"),
        ("responder_model", "VARCHAR"),
        ("turn", "INTEGER"),
        ("sample", "INTEGER"),
        ("text", "VARCHAR"),
        ("status", "VARCHAR"),
        ("error", "VARCHAR"),
        ("request_key", "VARCHAR"),
    ],
    "judgments": [
        ("judgment_id", "VARCHAR PRIMARY KEY"),
        ("judge_model", "VARCHAR"),
        ("mode", "VARCHAR"),
        ("prompt_id", "VARCHAR"),
        ("turn", "INTEGER"),
        ("model_a", "VARCHAR"),
        ("model_b", "VARCHAR"),
        ("response_a_id", "VARCHAR"),
        ("response_b_id", "VARCHAR"),
        ("score", "DOUBLE"),
        ("winner", "VARCHAR"),
        ("verdict_ab", "VARCHAR"),
        ("verdict_ba", "VARCHAR"),
        ("parse_status", "VARCHAR"),
        ("reference_used", "BOOLEAN"),
        ("request_key", "VARCHAR"),
        ("request_key_swapped", "VARCHAR"),
    ],
    "llm_journal": [
        ("request_key", "VARCHAR PRIMARY KEY"),
        ("provider", "VARCHAR"),
        ("model", "VARCHAR"),
        ("status", "VARCHAR"),
        ("text", "VARCHAR"),
        ("input_tokens", "BIGINT"),
        ("output_tokens", "BIGINT"),
        ("cost_usd", "DOUBLE"),
        ("latency_s", "DOUBLE"),
        ("attempts", "INTEGER"),
        ("error", "VARCHAR"),
        ("batch", "BOOLEAN"),
        ("created_at", "TIMESTAMP"),
    ],
    "sim_ground_truth": [
        ("model", "VARCHAR PRIMARY KEY"),
        ("role", "VARCHAR"),
        ("quality", "DOUBLE"),
        ("verbosity", "DOUBLE"),
        ("noise", "DOUBLE"),
        ("position_bias", "DOUBLE"),
        ("verbosity_bias", "DOUBLE"),
        ("self_preference", "DOUBLE"),
    ],
    "leaderboard": [
        ("judge_model", "VARCHAR"),
        ("model", "VARCHAR"),
        ("rank", "INTEGER"),
        ("bt_score", "DOUBLE"),
        ("bt_low", "DOUBLE"),
        ("bt_high", "DOUBLE"),
        ("elo", "DOUBLE"),
        ("elo_low", "DOUBLE"),
        ("elo_high", "DOUBLE"),
        ("win_rate", "DOUBLE"),
        ("win_rate_adjusted", "DOUBLE"),
        ("mean_score_turn1", "DOUBLE"),
        ("mean_score_turn2", "DOUBLE"),
        ("n_comparisons", "BIGINT"),
        ("true_quality", "DOUBLE"),
        ("simulated", "BOOLEAN"),
    ],
    "external_comparisons": [
        ("source", "VARCHAR"),
        ("human", "BOOLEAN"),
        ("prompt_id", "VARCHAR"),
        ("turn", "INTEGER"),
        ("model_a", "VARCHAR"),
        ("model_b", "VARCHAR"),
        ("winner", "VARCHAR"),
        ("worker", "VARCHAR"),
    ],
}

# Tables rewritten one partition at a time: table -> partition column.
PARTITION_COLUMNS = {"judgments": "judge_model"}


def columns(table: str) -> list[str]:
    return [name for name, _ in TABLES[table]]


def ddl(table: str, cols: list[tuple[str, str]] | None = None) -> str:
    cols = cols or TABLES[table]
    body = ", ".join(f'"{n}" {t}' for n, t in cols)
    return f'CREATE TABLE IF NOT EXISTS "{table}" ({body})'


def register_table(name: str, cols: list[tuple[str, str]], partition_column: str | None = None) -> None:
    """Let a domain area declare its own table (curation, reward, synth) without editing this file."""
    existing = TABLES.get(name)
    if existing is not None and existing != cols:
        raise ValueError(f"table {name!r} is already registered with a different schema")
    TABLES[name] = cols
    if partition_column:
        PARTITION_COLUMNS[name] = partition_column
