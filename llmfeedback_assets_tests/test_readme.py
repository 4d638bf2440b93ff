"""The README's reference parts stay complete: every Dagster job in its Jobs table, every top-level config key
in the Configuration section's table (the per-key reference is docs/config.md, checked by
test_config_keys.py), and the note that `make dev` must be restarted after exporting an API key."""

from __future__ import annotations

import re
from pathlib import Path

from llmfeedback_assets.config import Config
from llmfeedback_assets.definitions import defs

README = Path(__file__).resolve().parents[1] / "README.md"


def _section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else None]


def _first_column(section: str) -> set[str]:
    """The backticked names in the first column of the section's table rows."""
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    return {name for cell in rows for name in re.findall(r"`([^`]+)`", cell)}


def test_every_job_is_listed_with_what_it_materializes():
    jobs = {job.name: job for job in defs.jobs if not job.name.startswith("__")}
    section = _section("Jobs")
    assert {name for name in _first_column(section) if name != "judge_model"} == set(jobs)
    graph = defs.resolve_asset_graph()
    rows = {line.split("`")[1]: line for line in section.splitlines() if line.startswith("| `")}
    for name, job in jobs.items():
        assets = {key.to_user_string() for key in job.selection.resolve(graph)}
        assert {a for a in assets if f"`{a}`" not in rows[name]} == set(), f"{name}'s row misses assets"


def test_every_top_level_config_key_is_in_the_configuration_section():
    keys = {name for name, field in Config.model_fields.items() if not field.exclude}
    section = _section("Configuration")
    assert keys - _first_column(section) == set()
    assert "[docs/config.md](docs/config.md)" in section
    assert "Restart `make dev` after exporting an API key" in " ".join(section.split())
