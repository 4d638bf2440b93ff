"""The backfill job's own row (`synthetic_backfill_attributes`): what the run was configured to do.

Yupp records each backfill job with its user LLM, judges and code version; this maps the project config onto
those columns and keeps the synth section (with the models it uses) as JSON. Nothing secret goes in: a model
names the environment variable holding its key (`api_key_env`) and the variable is never read here; a model's
`base_url` is left out too, since a URL can carry a password or a token.
"""

from __future__ import annotations

import json
import subprocess

from ..config import PROJECT_ROOT, Config

# The fields of a model spec the job row keeps: what ran, never how to reach it.
MODEL_FIELDS = ("name", "provider", "model", "temperature", "max_tokens", "api_key_env", "family")


def backfill_attributes(config: Config) -> dict:
    """The job row's configuration columns for `export_backfill(attributes=...)`."""
    synth = config.synth
    judges = list(config.conversation_judges)
    used = {synth.persona_model, synth.user_model, *(e.model for e in synth.eval_llms), *judges}
    models = [{f: getattr(m, f) for f in MODEL_FIELDS} for m in config.models if m.name in used]
    return {
        "num_attempted_chats_per_user": synth.conversations_per_persona,
        "user_llm_model": synth.user_model,
        "user_llm_temperature": synth.user_temperature,
        "judge_models": json.dumps(judges),
        "judge_model_temperatures": json.dumps([synth.judge.temperature] * len(judges)),
        "git_commit_sha": git_commit_sha(),
        "config": json.dumps({"synth": synth.model_dump(mode="json"), "models": models}, sort_keys=True),
    }


def git_commit_sha() -> str:
    """The commit of the code that ran the export ("" outside a git checkout)."""
    try:
        out = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and len(sha) <= 64 else ""
