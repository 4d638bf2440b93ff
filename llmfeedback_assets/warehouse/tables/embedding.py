"""The embedding store: vectors shared by curation, the frozen reward models and best-of-n reranking."""

from __future__ import annotations

from ..table import declare

EMBEDDING_STORE = declare("embedding_store", "Every embedding, once per backbone and input: curation, "
                                             "frozen reward models and reranking read and fill it.", [
    ("backbone", "VARCHAR", "what the vector depends on: model folder and its content fingerprint, pooling, "
                            "max length in tokens, precision"),
    ("text_hash", "VARCHAR", "content hash of the input: a text, or a (prompt, response) pair"),
    ("dim", "INTEGER", "vector length"),
    ("vector", "FLOAT[]", "mean-pooled last hidden state (not normalised)"),
    ("created_at", "TIMESTAMP", "when it was computed (UTC)"),
], key=("backbone", "text_hash"))

TABLES = [EMBEDDING_STORE]
