"""docs/config.md documents every config key, each documented key is read by the module it names, and unknown
keys are still rejected by the loader."""

from __future__ import annotations

import ast
import re
import types
import typing
from functools import cache
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from llmfeedback_assets.config import DEFAULT_CONFIG_PATH, Config, ConfigError, load_config

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "config.md"
PACKAGE = REPO / "llmfeedback_assets"
CONFIG_MODULES = ("llmfeedback_assets/config/__init__.py", "llmfeedback_assets/config/sections.py")
HEADER = ["key", "type", "default", "read by", "meaning"]
NOT_READ = "— (not read)"  # the read-by cell of a key no code reads yet


# -- the keys the models accept ----------------------------------------------------------------------------
def _nested(ann) -> typing.Iterator[tuple[type[BaseModel], str]]:
    """The pydantic models inside an annotation, with the path suffix a user writes to reach them."""
    origin = typing.get_origin(ann)
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        yield ann, ""
    elif origin is list:
        for m, suffix in _nested(typing.get_args(ann)[0]):
            yield m, "[]" + suffix
    elif origin is dict:
        for m, suffix in _nested(typing.get_args(ann)[1]):
            yield m, ".<key>" + suffix
    elif origin in (typing.Union, types.UnionType, typing.Annotated):
        for arg in typing.get_args(ann):
            yield from _nested(arg)


def config_keys(model: type[BaseModel] = Config, prefix: str = "") -> dict[str, str]:
    """Every key path a user can write (e.g. `synth.judge.models`, `models[].sim.quality`) -> its field name.
    Fields excluded from serialisation (`root`, `source`) are set by the loader, not written by users."""
    keys: dict[str, str] = {}
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        path = prefix + name
        keys[path] = name
        for sub, suffix in _nested(field.annotation):
            keys.update(config_keys(sub, path + suffix + "."))
    return keys


# -- what the documentation says ----------------------------------------------------------------------------
def _cells(line: str) -> list[str]:
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip()[1:-1])]


def documented(text: str) -> dict[str, list[str]]:
    """key -> the modules its `read by` cell names ([] for NOT_READ), from every table of the document."""
    rows: dict[str, list[str]] = {}
    problems = []
    header = None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.startswith("|"):
            header = None
            continue
        cells = _cells(line)
        if header is None:
            header = cells
            if cells != HEADER:
                problems.append(f"line {n}: table header {cells} should be {HEADER}")
            continue
        if set(line) <= set("|-: "):
            continue
        key = re.fullmatch(r"`([^`]+)`", cells[0])
        if len(cells) != len(HEADER) or key is None:
            problems.append(f"line {n}: expected 5 cells starting with a `key`, got {cells}")
            continue
        mods = re.findall(r"`([^`]+)`", cells[3])
        if not mods and cells[3] != NOT_READ:
            problems.append(f"line {n}: {key[1]} names no module in `read by` (or {NOT_READ!r})")
        if key[1] in rows:
            problems.append(f"line {n}: {key[1]} is documented twice")
        rows[key[1]] = mods
    assert not problems, f"{DOC}:\n" + "\n".join(problems)
    return rows


@cache
def _doc_rows() -> dict[str, list[str]]:
    return documented(DOC.read_text())


# -- what the code reads -------------------------------------------------------------------------------------
@cache
def _tree(module: str) -> ast.Module:
    return ast.parse((REPO / module).read_text(), filename=module)


def _attribute_reads(tree: ast.AST) -> set[str]:
    return {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Load)}


def _validator_names(tree: ast.AST) -> set[str]:
    """Strings inside pydantic validators (decorator arguments and bodies), e.g. `@field_validator("name")`
    or `"max_concurrency" not in self.model_fields_set`."""
    out = set()
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if any("validator" in ast.unparse(d) for d in fn.decorator_list):
            out |= {n.value for n in ast.walk(fn) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    return out


def reads(module: str, field: str) -> bool:
    """Whether `module` reads `.field` (the config package: also by naming it in a validator)."""
    tree = _tree(module)
    if field in _attribute_reads(tree):
        return True
    return module in CONFIG_MODULES and field in _validator_names(tree)


def _field_of(key: str) -> str:
    return key.rsplit(".", 1)[-1].removesuffix("[]")


# -- tests ---------------------------------------------------------------------------------------------------
def test_walk_reaches_nested_and_list_keys():
    keys = config_keys()
    for key in ("judging.pairs", "models[].max_concurrency", "synth.judge.models", "models[].sim.quality",
                "synth.personas[].persona"):
        assert key in keys
    assert "root" not in keys and "source" not in keys


def test_every_key_is_documented_and_every_documented_key_exists():
    keys, docs = set(config_keys()), set(_doc_rows())
    missing, stale = sorted(keys - docs), sorted(docs - keys)
    assert not missing and not stale, (
        f"{DOC.relative_to(REPO)} is out of date with llmfeedback_assets/config/:\n"
        f"  keys missing from the docs: {missing}\n  documented keys that no longer exist: {stale}")


def test_each_documented_key_is_read_by_the_module_it_names():
    problems = []
    for key, modules in _doc_rows().items():
        field = _field_of(key)
        for module in modules:
            if not (REPO / module).is_file():
                problems.append(f"{key} is documented as read by {module}, which does not exist")
            elif not reads(module, field):
                problems.append(f"{key} is documented as read by {module}, but {module} never reads .{field}")
    assert not problems, "\n".join(problems)


def test_keys_documented_as_not_read_are_really_not_read():
    """A key marked NOT_READ must move to its reader once some code starts reading it."""
    problems = []
    for key, modules in _doc_rows().items():
        if modules:
            continue
        field = _field_of(key)
        for path in sorted(PACKAGE.rglob("*.py")):
            module = path.relative_to(REPO).as_posix()
            if field in _attribute_reads(_tree(module)):
                problems.append(f"{key} is documented as not read, but {module} reads .{field}")
    assert not problems, "\n".join(problems)


def _write_default(tmp_path: Path, edit) -> Path:
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw["root"] = str(REPO)
    edit(raw)
    path = tmp_path / "llmfeedback.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_default_config_copy_loads(tmp_path):
    cfg = load_config(_write_default(tmp_path, lambda raw: None))
    assert cfg.root == REPO and cfg.judging.modes


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda r: r.update(no_such_top_key=1), ["no_such_top_key"]),
    (lambda r: r["judging"].update(pairwise_pairs="baseline"),
     ["judging.pairwise_pairs", "renamed", "judging.pairs"]),
    (lambda r: r.setdefault("reward", {}).update(n_samples=4), ["reward.n_samples", "renamed", "reward.n "]),
    (lambda r: r["judging"].update(no_such_key=1), ["judging.no_such_key"]),
    (lambda r: r["models"][0].update(no_such_key=1), ["models.0.no_such_key"]),
    (lambda r: r["synth"]["judge"].update(no_such_key=1), ["synth.judge.no_such_key"]),
], ids=["top-level", "renamed-judging-key", "renamed-reward-key", "judging", "models-item", "synth-judge"])
def test_unknown_keys_are_rejected_naming_key_and_file(tmp_path, edit, expected):
    path = _write_default(tmp_path, edit)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    for text in expected:
        assert text in str(err.value)
    assert str(path) in str(err.value)
