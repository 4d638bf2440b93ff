"""What the export tests and their fixtures share: the judges, the PostgreSQL URL and the project config."""

from __future__ import annotations

import os
from pathlib import Path

from llmfeedback_assets_tests.support.synth import DEAD, EVAL_LLMS, SYNTH_MODELS, synth_config

JUDGES = ["alpha", "judge-noisy"]
PG_URL = os.environ.get("LLMFEEDBACK_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


def project_config(root: Path, **model_overrides) -> Path:
    """The export tests' synth config; `model_overrides` are merged into the `dead` model's spec."""
    # `dead` never answers: the conversations it is drawn into end partial
    return synth_config(root, models=[*SYNTH_MODELS, {**DEAD, **model_overrides}], generate_num_personas=2,
                        conversations_per_persona=3, num_turns_max=3, judge={"models": JUDGES},
                        eval_llms=[*EVAL_LLMS, {"model": "dead", "sample_weight": 0.4}])
