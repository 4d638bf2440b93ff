from __future__ import annotations

import pytest
import yaml

from llmfeedback_assets.config import DEFAULT_CONFIG_PATH, ConfigError, load_config
from llmfeedback_assets_tests.support.project import write_config


def _edit(path, fn):
    raw = yaml.safe_load(path.read_text())
    fn(raw)
    path.write_text(yaml.safe_dump(raw))


def test_valid_config_loads_and_resolves_paths(tmp_path):
    cfg = load_config(write_config(tmp_path))
    assert cfg.database_path == tmp_path / "warehouse.duckdb"
    assert cfg.model("alpha").is_simulated
    assert cfg.judges == ["judge-clean", "judge-noisy"]


def test_bundled_default_config_is_valid():
    cfg = load_config(DEFAULT_CONFIG_PATH)
    assert cfg.responders and cfg.judges
    assert all(m.is_simulated for m in cfg.models), "the default must run offline"


def test_env_overrides_config_and_database(tmp_path, monkeypatch):
    path = write_config(tmp_path)
    monkeypatch.setenv("LLMFEEDBACK_CONFIG", str(path))
    monkeypatch.setenv("LLMFEEDBACK_DB", str(tmp_path / "other.duckdb"))
    cfg = load_config()
    assert cfg.source == path.resolve()
    assert cfg.database_path == tmp_path / "other.duckdb"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda r: r["models"][0].update(provider="bogus"), "models.0.provider"),
        (lambda r: r["models"][0].update(temperature=5), "models.0.temperature"),
        (lambda r: r.update(judges=["nobody"]), "judges[0]: unknown model 'nobody'"),
        (lambda r: r.update(responders=[]), "responders"),
        (lambda r: r.update(surprise=1), "surprise"),
        (lambda r: r["models"].append(dict(r["models"][0])), "duplicate name"),
        (lambda r: r["models"][4].update(sim_judge={"transition_matrix": [[1.0]]}), "10x10"),
    ],
)
def test_bad_config_names_field_and_file(tmp_path, edit, expected):
    path = write_config(tmp_path)
    _edit(path, edit)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert expected in str(err.value)
    assert str(path) in str(err.value)


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_missing_api_key_fails_before_any_call(tmp_path, monkeypatch):
    path = write_config(tmp_path)
    _edit(path, lambda r: r["models"].append(
        {"name": "gpt", "provider": "openai", "api_key_env": "LLMF_TEST_MISSING_KEY"}))
    monkeypatch.delenv("LLMF_TEST_MISSING_KEY", raising=False)
    cfg = load_config(path)
    with pytest.raises(ConfigError, match=r"gpt needs \$LLMF_TEST_MISSING_KEY"):
        cfg.check_secrets()
    monkeypatch.setenv("LLMF_TEST_MISSING_KEY", "sk-test")
    cfg.check_secrets()
