"""A small judged project for the judgment-reading tests: four prompts, four simulated responders and two
simulated judges (one clean; one noisy and position-biased, so judges and orders disagree), with one answer
that carries markup, as an untrusted model may write."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from llmfeedback_assets.config import load_config
from llmfeedback_assets.warehouse import Warehouse
from llmfeedback_assets_tests.support.project import write_config

EVIL = "<script>window.pwned = 1</script><img src=x onerror=window.pwned=2> & </textarea> "
EVIL_PROMPT = "2"  # the file's question id of the prompt whose answer by alpha starts with EVIL


@dataclass
class Judged:
    config: Path
    wh: Warehouse
    instance: dg.DagsterInstance

    def materialize(self, selection: list[str], partition: str | None = None):
        from llmfeedback_assets.definitions import defs
        from llmfeedback_assets.defs.resources import LLMFeedbackResource

        return dg.materialize(list(defs.assets), selection=selection, partition_key=partition,
                              instance=self.instance,
                              resources={"llmfeedback": LLMFeedbackResource(config_path=str(self.config))})


@pytest.fixture
def judged(tmp_path) -> Iterator[Judged]:
    """Prompts, responses (alpha's answer to question 2 poisoned before judging, so the judges quote it)
    and both judges' partitions materialized through Dagster."""
    config = write_config(tmp_path, n_prompts=4)
    cfg = load_config(config)
    with dg.instance_for_test() as instance:
        project = Judged(config, Warehouse(cfg.database_path), instance)
        instance.add_dynamic_partitions("judge_model", cfg.judges)
        project.materialize(["prompts", "sim_ground_truth", "responses"])
        project.wh.execute(
            "UPDATE responses SET text = ? || text WHERE responder_model = 'alpha' AND turn = 1 "
            "AND prompt_id IN (SELECT prompt_id FROM prompts WHERE source_id = ?)", [EVIL, EVIL_PROMPT])
        for judge in cfg.judges:
            project.materialize(["judgments"], judge)
        yield project
