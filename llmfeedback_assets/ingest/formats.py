"""Per-format parsing: one JSON object or one CSV row into prompt rows, and format detection.

Formats (``fmt``): ``mtbench`` (question_id, category, turns, reference), ``llmonitor`` (id, text, type,
slug), ``instruction`` (instruction/prompt/question with optional input/context and output/response:
Alpaca, Dolly, self-instruct incl. ``instances``, SuperNI rows and SuperNI task files with ``Definition``
and ``Instances``), ``csv`` (header row with a prompt column) and ``auto`` (file extension plus the keys
of the first usable record; see `detect`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from .records import (
    MISSING_CELL,
    BadRecord,
    category_field,
    first_key,
    optional_text,
    prompt_row,
    reference_field,
    source_id_field,
    text_field,
    turns_field,
    type_name,
)

CSV_PROMPT_COLUMNS = ("prompt", "text", "question", "instruction")
EXPECTED_FIELDS = "'turns' (mtbench), 'instruction'/'prompt'/'question' (instruction) or 'text' (llmonitor)"

# Each converter turns one JSON object into prompts. It yields (label, row-or-BadRecord) so that one bad
# instance of a multi-instance record (self-instruct, SuperNI task) does not discard its siblings.
Converted = Iterator[tuple[str, dict | BadRecord]]


def detect(rec: dict) -> str | None:
    """The format of a JSON record from its keys, or None when no format fits."""
    # Order matters: Alpaca dumps carry a formatted 'text' besides 'instruction'.
    if "turns" in rec:
        return "mtbench"
    if any(k in rec for k in ("instruction", "prompt", "question")) or (
        "Definition" in rec and "Instances" in rec
    ):
        return "instruction"
    if "text" in rec:
        return "llmonitor"
    return None


def convert(fmt: str, rec: dict, src: str, fallback_id: str) -> Converted:
    """The prompts of one JSON record of format ``fmt`` (a JSON format of FORMATS, not auto/csv).

    ``fallback_id`` is the source id of a record without one (its line or array position). Raises
    BadRecord when the whole record is unusable.
    """
    return _CONVERTERS[fmt](rec, src, fallback_id)


# -- JSON record formats ----------------------------------------------------------------------------------


def _from_mtbench(rec: dict, src: str, fallback_id: str) -> Converted:
    if "turns" not in rec:
        raise BadRecord("missing field 'turns'")
    turns = turns_field(rec["turns"])
    ref = reference_field(rec.get("reference"), len(turns))
    key = first_key(rec, ("question_id", "id"))
    sid = source_id_field(rec.get(key) if key else None, key or "question_id", fallback_id)
    yield "", prompt_row(src, sid, category_field(rec.get("category")), turns, ref)


def _from_llmonitor(rec: dict, src: str, fallback_id: str) -> Converted:
    if "text" not in rec:
        raise BadRecord("missing field 'text'")
    turns = [text_field(rec["text"], "text")]
    cat_key = first_key(rec, ("type", "category"))
    category = category_field(rec.get(cat_key) if cat_key else None, cat_key or "type")
    key = first_key(rec, ("id", "slug"))
    sid = source_id_field(rec.get(key) if key else None, key or "id", fallback_id)
    yield "", prompt_row(src, sid, category, turns, [])


def _instruction_turn(instruction: str, extra: Any, name: str) -> list[str]:
    extra_text = optional_text(extra, name)
    if extra_text.lower() in MISSING_CELL:
        extra_text = ""
    return [f"{instruction}\n\n{extra_text}" if extra_text else instruction]


def _single_reference(value: Any, name: str) -> list[str]:
    # SuperNI lists every acceptable output; the first one serves as the reference answer.
    if isinstance(value, list):
        value = next((v for v in value if not (isinstance(v, str) and not v.strip())), None)
    return reference_field(value, 1, name)


def _from_instruction(rec: dict, src: str, fallback_id: str) -> Converted:
    if "Definition" in rec and "Instances" in rec:
        yield from _from_superni_task(rec, src)
        return
    key = first_key(rec, ("instruction", "prompt", "question"))
    if key is None:
        raise BadRecord("missing field 'instruction'")
    instruction = text_field(rec[key], key)
    category = category_field(rec.get("category"))
    sid = source_id_field(rec.get("id"), "id", fallback_id)
    instances = rec.get("instances")
    if isinstance(instances, list) and "input" not in rec:
        # self-instruct seed tasks: one instruction, several (input, output) instances
        if not instances:
            raise BadRecord("field 'instances' is empty")
        yield from _instances(
            instances, "instances", instruction, src, category, lambda i, _inst, _name: f"{sid}#{i}"
        )
        return
    extra_key = first_key(rec, ("input", "context"))
    turns = _instruction_turn(instruction, rec.get(extra_key) if extra_key else None, extra_key or "input")
    ref_key = first_key(rec, ("output", "response", "reference"))
    ref = _single_reference(rec.get(ref_key), ref_key) if ref_key else []
    yield "", prompt_row(src, sid, category, turns, ref)


def _from_superni_task(rec: dict, src: str) -> Converted:
    definition = rec["Definition"]
    if isinstance(definition, list):
        if not all(isinstance(d, str) for d in definition):
            raise BadRecord("field 'Definition' must be a string or a list of strings")
        definition = "\n".join(definition)
    instruction = text_field(definition, "Definition")
    instances = rec["Instances"]
    if not isinstance(instances, list) or not instances:
        raise BadRecord("field 'Instances' must be a non-empty list")
    cats = rec.get("Categories")
    category = category_field(cats[0] if isinstance(cats, list) and cats else None, "Categories")

    def instance_id(i: int, inst: dict, name: str) -> str:
        return source_id_field(inst.get("id"), f"{name}.id", str(i + 1))

    yield from _instances(instances, "Instances", instruction, src, category, instance_id)


def _instances(
    instances: list,
    list_name: str,
    instruction: str,
    src: str,
    category: str,
    instance_id: Callable[[int, dict, str], str],
) -> Converted:
    """One prompt per (input, output) instance of one instruction; a bad instance spares its siblings.

    ``instance_id(position, instance, label)`` gives the source id of each instance.
    """
    for i, inst in enumerate(instances):
        name = f"{list_name}[{i}]"
        try:
            if not isinstance(inst, dict):
                raise BadRecord(f"field '{name}' must be an object, got {type_name(inst)}")
            turns = _instruction_turn(instruction, inst.get("input"), f"{name}.input")
            ref = _single_reference(inst.get("output"), f"{name}.output")
            yield name, prompt_row(src, instance_id(i, inst, name), category, turns, ref)
        except BadRecord as bad:
            yield name, bad


_CONVERTERS: dict[str, Callable[[dict, str, str], Converted]] = {
    "mtbench": _from_mtbench,
    "llmonitor": _from_llmonitor,
    "instruction": _from_instruction,
}


# -- CSV rows ---------------------------------------------------------------------------------------------


def from_csv_row(row: list[str], columns: dict[str, int], src: str, line_id: str) -> dict:
    """The prompt of one CSV row. ``columns`` maps lower-cased header names to indexes (first wins);
    ``line_id`` is the source id of a row without an id column. Raises BadRecord."""

    def cell(*names: str) -> tuple[str, str | None]:
        for name in names:
            if name in columns:
                value = row[columns[name]]
                return name, ("" if value.strip() in MISSING_CELL else value)
        return names[0], None

    main_name, main = cell(*CSV_PROMPT_COLUMNS)
    first = text_field(main, main_name)
    extra_name, extra = cell("input", "context")
    turns = _instruction_turn(first, extra, extra_name)
    second_name, second = cell("turn2", "second_turn")
    if second is not None and second.strip():
        turns.append(text_field(second, second_name))
    ref_name, ref = cell("reference", "answer")
    id_name, sid = cell("id", "question_id")
    _, category = cell("category", "type")
    return prompt_row(
        src,
        source_id_field(sid, id_name, line_id),
        category_field(category),
        turns,
        reference_field(ref, len(turns), ref_name),
    )
