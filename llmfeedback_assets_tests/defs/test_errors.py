"""A run that fails on a configuration or input error shows that one line (dagster.Failure's description),
not a traceback; a bug keeps its traceback. Real failure paths through Dagster's materialize()."""

from __future__ import annotations

import inspect

import dagster as dg
import pytest

from llmfeedback_assets.config import ConfigError
from llmfeedback_assets.definitions import defs
from llmfeedback_assets.defs.errors import one_line_failure
from llmfeedback_assets.defs.resources import LLMFeedbackResource
from llmfeedback_assets_tests.support.project import SIM_MODELS, write_config

UNSET_KEY = "LLMFEEDBACK_TEST_UNSET_API_KEY"


def _materialize(instance, config, selection, partition=None):
    return dg.materialize(list(defs.assets), selection=selection, partition_key=partition, instance=instance,
                          resources={"llmfeedback": LLMFeedbackResource(config_path=str(config))},
                          raise_on_error=False)


def _failure(instance, result):
    """The step failure of a failed run: its description, metadata and the serialized error."""
    assert not result.success
    assert instance.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.FAILURE
    [event] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    data = event.step_failure_data
    assert data.user_failure_data is not None, data.error.to_string()
    description = data.user_failure_data.description
    assert "\n" not in description and "Traceback" not in description and "File \"" not in description
    assert data.error.cause is None and data.error.context is None  # raised `from None`: no chained trace
    return description, {k: v.value for k, v in data.user_failure_data.metadata.items()}


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def test_a_real_judge_without_its_api_key_fails_with_one_line(tmp_path, monkeypatch, instance):
    monkeypatch.delenv(UNSET_KEY, raising=False)
    judge = {"name": "gpt-judge", "provider": "openai", "model": "gpt-4o", "api_key_env": UNSET_KEY}
    config = write_config(tmp_path, n_prompts=3, models=[*SIM_MODELS, judge], responders=["alpha", "bravo"],
                          judges=["gpt-judge"])
    assert _materialize(instance, config, ["prompts", "responses"]).success
    instance.add_dynamic_partitions("judge_model", ["gpt-judge"])

    description, metadata = _failure(instance, _materialize(instance, config, ["judgments"], "gpt-judge"))
    assert description == f"missing API key(s): gpt-judge needs ${UNSET_KEY}"
    assert metadata["error"] == "ConfigError" and metadata["kind"] == "configuration"
    assert "restart" in metadata["what to do"]


def test_a_missing_prompts_folder_fails_with_one_line(tmp_path, instance):
    missing = tmp_path / "no-such-prompts"
    config = write_config(tmp_path, prompt_sources=[{"path": str(missing)}])

    description, metadata = _failure(instance, _materialize(instance, config, ["prompts"]))
    assert description == f"{missing}: prompt source does not exist"
    assert metadata["error"] == "PromptSourceError" and metadata["kind"] == "input"


def test_a_bad_config_fails_the_step_with_one_line_not_a_resource_traceback(tmp_path, instance):
    config = write_config(tmp_path, models=[{**SIM_MODELS[0], "temperature": 5}, *SIM_MODELS[1:]])

    description, metadata = _failure(instance, _materialize(instance, config, ["prompts"]))
    assert description == (f"invalid config {config}: models.0.temperature: Input should be less than or "
                           "equal to 2")
    assert metadata["error"] == "ConfigError"


def test_a_bug_keeps_its_own_exception_and_traceback():
    bug = ValueError("a bug: index out of range somewhere")

    @one_line_failure
    def body(context, llmfeedback):
        raise bug

    with pytest.raises(ValueError) as raised:
        body(None, None)
    assert raised.value is bug and raised.traceback[-1].name == "body"


def test_the_wrapper_keeps_the_signature_and_converts_in_generators_too():
    def asset(context: dg.AssetExecutionContext, llmfeedback: LLMFeedbackResource):
        yield 1
        raise ConfigError("missing API key(s): j needs $K")

    wrapped = one_line_failure(asset)
    assert inspect.signature(wrapped) == inspect.signature(asset) and wrapped.__name__ == "asset"
    assert inspect.isgeneratorfunction(wrapped)
    items = wrapped(None, None)
    assert next(items) == 1
    with pytest.raises(dg.Failure) as raised:
        next(items)
    assert raised.value.description == "missing API key(s): j needs $K"
    assert raised.value.__suppress_context__ and raised.value.__cause__ is None
    assert raised.value.allow_retries is False


def test_every_asset_and_check_body_fails_with_one_line():
    """Each asset's and asset check's body is wrapped (directly, or through reward_step)."""
    bodies = {a.key.to_user_string(): a.op.compute_fn.decorated_fn for a in defs.assets}
    bodies.update({c.node_def.name: c.node_def.compute_fn.decorated_fn for c in defs.asset_checks})
    unwrapped = sorted(name for name, fn in bodies.items() if not getattr(fn, "one_line_failure", False))
    assert unwrapped == [], f"decorate with @one_line_failure (defs/errors.py): {unwrapped}"
