"""Tables of the model gateway: the journal of every call, the provider batches, and the claims that keep
concurrent runs from paying for one request twice."""

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

LLM_CLAIMS = declare("llm_claims", "Requests a running gateway is sending right now: another run waits for "
                                   "their answers instead of paying again.", [
    ("request_key", "VARCHAR", "the request being sent"),
    ("owner", "VARCHAR", "the claiming gateway run (llm_claim_owners.owner)"),
    ("claimed_at", "TIMESTAMP", "when it was claimed (UTC)"),
], key="request_key")

LLM_CLAIM_OWNERS = declare("llm_claim_owners", "Gateway runs holding claims, with a heartbeat: claims of a "
                                               "run whose process is gone or whose heartbeat is older than "
                                               "the lease are taken over.", [
    ("owner", "VARCHAR", "one gateway run: host, pid and a random suffix"),
    ("host", "VARCHAR", "host name of the process"),
    ("pid", "BIGINT", "process id"),
    ("proc_start", "VARCHAR", "the kernel's start time of the process: a reused pid is not mistaken for it"),
    ("label", "VARCHAR", "what the run is (a Dagster run id and asset), for messages"),
    ("started_at", "TIMESTAMP", "when the run first claimed (UTC)"),
    ("heartbeat_at", "TIMESTAMP", "last sign of life (UTC)"),
], key="owner")

TABLES = [LLM_JOURNAL, LLM_BATCHES, LLM_CLAIMS, LLM_CLAIM_OWNERS]
