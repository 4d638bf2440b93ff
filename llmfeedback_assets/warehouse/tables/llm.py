"""Tables of the model gateway: the journal of every call and the provider batches."""

from __future__ import annotations

from ..table import declare

LLM_JOURNAL = declare("llm_journal", "Every model call, journaled as it completes: a rerun pays nothing "
                                     "twice.", [
    ("request_key", "VARCHAR", "hash of provider, model, messages and sampling options"),
    ("provider", "VARCHAR", "openai, anthropic, transformers or sim"),
    ("model", "VARCHAR", "the provider's model id"),
    ("status", "VARCHAR", "ok, or the final error class of the call"),
    ("text", "VARCHAR", "the model's reply"),
    ("input_tokens", "BIGINT", "input tokens the provider reported"),
    ("output_tokens", "BIGINT", "output tokens the provider reported"),
    ("cost_usd", "DOUBLE", "cost from the configured prices"),
    ("latency_s", "DOUBLE", "seconds from the first send to the answer"),
    ("attempts", "INTEGER", "sends, retries included"),
    ("error", "VARCHAR", "the last error, if the call failed"),
    ("batch", "BOOLEAN", "answered through a provider batch"),
    ("created_at", "TIMESTAMP", "when the answer was journaled (UTC)"),
], key="request_key")

LLM_BATCHES = declare("llm_batches", "Provider batches submitted and collected, so a rerun resumes them.", [
    ("batch_id", "VARCHAR", "the provider's batch id"),
    ("provider", "VARCHAR", "openai or anthropic"),
    ("model", "VARCHAR", "the provider's model id"),
    ("status", "VARCHAR", "submitted, collected or failed"),
    ("n_requests", "INTEGER", "requests in the batch"),
    ("request_keys", "VARCHAR[]", "gateway request keys in the batch"),
    ("submitted_at", "TIMESTAMP", "when it was submitted (UTC)"),
    ("finished_at", "TIMESTAMP", "when it was collected or failed (UTC)"),
    ("detail", "VARCHAR", "the provider's status detail"),
], key="batch_id")

TABLES = [LLM_JOURNAL, LLM_BATCHES]
