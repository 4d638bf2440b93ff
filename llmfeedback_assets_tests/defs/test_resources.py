"""The one resource: the config is read once per step (Dagster sets the resource up per step), and a sensor
tick reads it through the same resource."""

from __future__ import annotations

import dagster as dg

from llmfeedback_assets.definitions import defs
from llmfeedback_assets.defs import resources
from llmfeedback_assets.defs.resources import LLMFeedbackResource
from llmfeedback_assets.defs.spine.sensors import judge_models_sensor


def _counting(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = resources.load_config

    def counted(path=None):
        calls.append(str(path))
        return real(path)

    monkeypatch.setattr(resources, "load_config", counted)
    return calls


def test_one_config_read_per_run_of_several_assets(project, monkeypatch):
    calls = _counting(monkeypatch)
    with dg.instance_for_test() as instance:
        result = dg.materialize(list(defs.assets), selection=["prompts", "sim_ground_truth", "comparisons"],
                                instance=instance,
                                resources={"llmfeedback": LLMFeedbackResource(config_path=str(project))})
    assert result.success
    assert calls == [str(project)]  # three assets, one read (in process the resource is set up once)


def test_a_sensor_tick_reads_the_config_through_the_resource(project, monkeypatch):
    calls = _counting(monkeypatch)
    with dg.instance_for_test() as instance:
        result = judge_models_sensor(dg.build_sensor_context(
            instance=instance, resources={"llmfeedback": LLMFeedbackResource(config_path=str(project))}))
        assert sorted(instance.get_dynamic_partitions("judge_model")) == []
        assert len(result.dynamic_partitions_requests[0].partition_keys) == 2
    assert calls == [str(project)]
