"""FastChat's MT-bench judge prompts (`judge_prompts.jsonl`), used exactly as FastChat's llm_judge uses them.

A user may point the project at FastChat's prompt file instead of our own templates. This module reproduces
what fastchat/llm_judge does with that file (behaviour restated from reading it, not its code):

* Which prompt (gen_judgment.make_judge_single / make_judge_pairwise): questions whose category is in
  NEED_REF_CATS get the reference-guided ("math") prompt, all others the plain one; turn 2 gets the
  multi-turn variant, which shows the whole two-turn conversation and asks about the second answer.
* What goes into the template (common.run_judge_single / run_judge_pair): `str.format` with exactly these
  keywords, always from choice 0 of each answer: turn 1 `question`, `answer` (single) or `answer_a`,
  `answer_b` (pairwise); turn 2 `question_1`, `question_2`, `answer_1`, `answer_2` (single) or `answer_a_1`,
  `answer_b_1`, `answer_a_2`, `answer_b_2` (pairwise); reference-guided prompts add `ref_answer_1`, and on
  turn 2 also `ref_answer_2`.
* The system prompt: for OpenAI judges both single and pairwise send the prompt's `system_prompt` as the
  system message and the formatted template as the only user message; an empty system prompt sends no
  system message. (For Anthropic judges FastChat inlines a pairwise system prompt into the user message; we
  always use the OpenAI layout, which is what MT-bench's published GPT-4 judgments used.)

Where FastChat has no answer we decide, and the caller records it:
* A NEED_REF_CATS question without a reference: FastChat stops (its reference lookup fails). We fall back to
  the plain prompt, so the judgment is made without a reference (`is_reference_guided` is False).
* Turns beyond 2: FastChat has no prompt (and never judges questions that do not have exactly two turns at
  turn 2); `choose` returns None and the caller uses our own template.

`detect` / `parse_rendered` / `extract` read a rendered FastChat prompt back (for the offline simulator);
they know only the block layout of FastChat's templates, never the instructions' wording.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from pathlib import Path

# Categories whose questions FastChat judges against a reference answer (fastchat/llm_judge/common.py).
NEED_REF_CATS = ("math", "reasoning", "coding", "arena-hard-200")

MODES = ("single", "pairwise")
FIELDS = ("name", "type", "system_prompt", "prompt_template", "output_format")
# The verdict formats this project parses (parse.py). FastChat also knows "[[rating_a,rating_b]]" for
# pairwise prompts, but none of its MT-bench prompts uses it.
OUTPUT_FORMAT = {"single": "[[rating]]", "pairwise": "[[A]]"}


@dataclass(frozen=True)
class Role:
    """What FastChat uses one prompt name for."""

    mode: str
    multi_turn: bool
    reference: bool

    def keywords(self) -> frozenset[str]:
        """The keyword arguments FastChat passes to this prompt's `prompt_template.format`."""
        if self.mode == "single":
            keys = {"question", "answer"}
            if self.multi_turn:
                keys = {"question_1", "question_2", "answer_1", "answer_2"}
        elif self.multi_turn:
            keys = {"question_1", "question_2", "answer_a_1", "answer_b_1", "answer_a_2", "answer_b_2"}
        else:
            keys = {"question", "answer_a", "answer_b"}
        if self.reference:
            keys |= {"ref_answer_1", "ref_answer_2"} if self.multi_turn else {"ref_answer_1"}
        return frozenset(keys)


# make_judge_single / make_judge_pairwise: the prompt name FastChat picks for each role.
ROLES: dict[str, Role] = {
    "single-v1": Role("single", False, False),
    "single-math-v1": Role("single", False, True),
    "single-v1-multi-turn": Role("single", True, False),
    "single-math-v1-multi-turn": Role("single", True, True),
    "pair-v2": Role("pairwise", False, False),
    "pair-math-v1": Role("pairwise", False, True),
    "pair-v2-multi-turn": Role("pairwise", True, False),
    "pair-math-v1-multi-turn": Role("pairwise", True, True),
}
_NAME_OF = {role: name for name, role in ROLES.items()}


class JudgePromptsError(ValueError):
    """A judge prompts file FastChat's MT-bench judging cannot use; the message names file, line and field."""


@dataclass(frozen=True)
class JudgePrompt:
    name: str
    type: str
    system_prompt: str
    prompt_template: str
    output_format: str
    line: int  # 1-based line in the file, for messages


@dataclass(frozen=True)
class JudgePrompts:
    """The prompts of one judge_prompts.jsonl, by name (every name in ROLES is present and checked)."""

    path: str
    prompts: dict[str, JudgePrompt]

    def __getitem__(self, name: str) -> JudgePrompt:
        try:
            return self.prompts[name]
        except KeyError:
            raise JudgePromptsError(f"{self.path}: no judge prompt named {name!r}") from None

    def choose(self, mode: str, turn: int, category: str | None, has_reference: bool) -> str | None:
        """FastChat's prompt name for judging `turn` of a question, or None past turn 2 (use our template).

        A reference-guided prompt needs a reference: without one a NEED_REF_CATS question gets the plain
        prompt (FastChat would stop instead). References of other categories are ignored, as in FastChat."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        if turn < 1:
            raise ValueError(f"turn must be >= 1, not {turn}")
        if turn > 2:
            return None
        return _NAME_OF[Role(mode, turn == 2, category in NEED_REF_CATS and bool(has_reference))]

    def is_reference_guided(self, name: str) -> bool:
        return _role(self, name).reference


def is_reference_guided(prompts: JudgePrompts, name: str) -> bool:
    """Whether the prompt `name` shows the judge a reference answer."""
    return prompts.is_reference_guided(name)


def _placeholders(template: str) -> list[tuple[str, str | None, str | None]]:
    """(field, conversion, format spec) of every replacement field; ValueError for a malformed template."""
    return [(f, conv, spec) for _, f, spec, conv in string.Formatter().parse(template) if f is not None]


def _check_template(where: str, prompt: JudgePrompt) -> None:
    try:
        fields = _placeholders(prompt.prompt_template)
    except ValueError as exc:
        raise JudgePromptsError(f"{where}: field 'prompt_template': malformed template: {exc}") from None
    role = ROLES.get(prompt.name)
    if role is None:  # a prompt FastChat's MT-bench judging never uses: only its syntax matters
        return
    odd = sorted({f for f, conv, spec in fields if conv or spec or not f.isidentifier()})
    if odd:
        raise JudgePromptsError(f"{where}: field 'prompt_template': placeholders must be plain names, got "
                                + ", ".join("{" + f + "...}" for f in odd))
    used = {f for f, _, _ in fields}
    expected = role.keywords()
    if used != expected:
        problems = []
        if used - expected:
            problems.append("FastChat passes no " + ", ".join(sorted(used - expected)))
        if expected - used:
            problems.append("missing " + ", ".join(sorted(expected - used)))
        raise JudgePromptsError(
            f"{where}: field 'prompt_template': {prompt.name} must use exactly the placeholders FastChat "
            f"passes ({', '.join(sorted(expected))}): " + "; ".join(problems))
    if prompt.type != role.mode:
        raise JudgePromptsError(f"{where}: field 'type': {prompt.name} must be {role.mode!r}, "
                                f"not {prompt.type!r}")
    if prompt.output_format != OUTPUT_FORMAT[role.mode]:
        raise JudgePromptsError(f"{where}: field 'output_format': {prompt.name} must be "
                                f"{OUTPUT_FORMAT[role.mode]!r}, not {prompt.output_format!r}")


def _prompt_from(where: str, lineno: int, text: str) -> JudgePrompt:
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JudgePromptsError(f"{where}: invalid JSON: {exc}") from None
    if not isinstance(record, dict):
        raise JudgePromptsError(f"{where}: expected a JSON object, got {type(record).__name__}")
    for field in FIELDS:
        if field not in record:
            raise JudgePromptsError(f"{where}: field {field!r}: missing")
        if not isinstance(record[field], str):
            raise JudgePromptsError(f"{where}: field {field!r}: must be a string, got "
                                    f"{type(record[field]).__name__}")
    if not record["name"].strip():
        raise JudgePromptsError(f"{where}: field 'name': empty")
    if record["type"] not in MODES:
        raise JudgePromptsError(f"{where}: field 'type': must be one of {MODES}, not {record['type']!r}")
    return JudgePrompt(*(record[f] for f in FIELDS), line=lineno)


def load_judge_prompts(path: str | Path) -> JudgePrompts:
    """Read and check a FastChat judge_prompts.jsonl (blank lines are skipped; extra fields are ignored)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise JudgePromptsError(f"{path}: cannot read judge prompts: {exc}") from None
    prompts: dict[str, JudgePrompt] = {}
    for lineno, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        where = f"{path}:{lineno}"
        prompt = _prompt_from(where, lineno, text)
        if prompt.name in prompts:  # FastChat silently keeps the last; a duplicate is almost surely a mistake
            raise JudgePromptsError(f"{where}: field 'name': {prompt.name!r} already defined on line "
                                    f"{prompts[prompt.name].line}")
        _check_template(where, prompt)
        prompts[prompt.name] = prompt
    missing = [name for name in ROLES if name not in prompts]
    if missing:
        raise JudgePromptsError(f"{path}: missing judge prompts FastChat needs for MT-bench: "
                                f"{', '.join(missing)}")
    return JudgePrompts(str(path), prompts)


def _role(prompts: JudgePrompts, name: str) -> Role:
    _ = prompts[name]  # an unknown name fails naming the file
    role = ROLES.get(name)
    if role is None:
        raise JudgePromptsError(f"{prompts.path}: {name!r} is not one of FastChat's MT-bench judge prompts")
    return role


def _take(what: str, items: list[str] | None, n: int, name: str) -> list[str]:
    items = list(items or [])
    if len(items) < n:
        raise ValueError(f"{name} needs {n} {what}, got {len(items)}")
    if not all(isinstance(item, str) for item in items[:n]):
        raise ValueError(f"{name} needs {n} {what} as text, got {items[:n]!r}")
    return items[:n]


def _render(prompts: JudgePrompts, name: str, mode: str, turn: int, questions: list[str],
            answers: list[list[str] | None], references: list[str] | None) -> list[dict]:
    role = _role(prompts, name)
    if role.mode != mode:
        raise ValueError(f"{name} is a {role.mode} prompt, not {mode}")
    if turn != (2 if role.multi_turn else 1):
        raise ValueError(f"{name} judges turn {2 if role.multi_turn else 1}, not turn {turn}")
    n = 2 if role.multi_turn else 1
    qs = _take("questions", questions, n, name)
    sides = [_take("answers", a, n, name) for a in answers]
    tags = [""] if mode == "single" else ["_a", "_b"]
    if role.multi_turn:
        kwargs = {"question_1": qs[0], "question_2": qs[1]}
        for tag, side in zip(tags, sides, strict=True):
            kwargs |= {f"answer{tag}_1": side[0], f"answer{tag}_2": side[1]}
    else:
        kwargs = {"question": qs[0]}
        kwargs |= {f"answer{tag}": side[0] for tag, side in zip(tags, sides, strict=True)}
    if role.reference:
        refs = _take("reference turns", references, n, name)
        kwargs |= {f"ref_answer_{i}": ref for i, ref in enumerate(refs, start=1)}
    prompt = prompts[name]
    user = prompt.prompt_template.format(**kwargs)
    system = [{"role": "system", "content": prompt.system_prompt}] if prompt.system_prompt else []
    return system + [{"role": "user", "content": user}]


def render_single(prompts: JudgePrompts, name: str, questions: list[str], answers: list[str], turn: int,
                  references: list[str] | None) -> list[dict]:
    """FastChat's single-answer judge request for `turn` (1 or 2, matching the prompt) of one answer.

    `questions`, `answers`, `references` hold the conversation's turns in order (choice 0 only); the turns a
    prompt needs must be present. Returns [system, user] messages (no system message when it is empty)."""
    return _render(prompts, name, "single", turn, questions, [answers], references)


def render_pair(prompts: JudgePrompts, name: str, questions: list[str], answers_a: list[str],
                answers_b: list[str], turn: int, references: list[str] | None) -> list[dict]:
    """FastChat's pairwise judge request, assistant A = `answers_a`; FastChat asks again with A and B swapped,
    which is the caller's second call."""
    return _render(prompts, name, "pairwise", turn, questions, [answers_a, answers_b], references)


# ---- Reading a rendered prompt back (for the simulator) -------------------------------------------------
# The block layout of FastChat's eight templates, as skeletons: the delimiters between the parts, and the
# parts as {placeholders} (answers and references are `answer_<side>_<turn>`, `ref_answer_<turn>`).

def _conversation(block: str, speaker: str, answer: str) -> str:
    """A two-turn conversation block; `answer` names its answers' placeholders without the turn."""
    turns = "".join(f"\n\n### User:\n{{question_{i}}}\n\n### {speaker}:\n{{{answer}_{i}}}" for i in (1, 2))
    return f"<|The Start of {block}|>{turns}\n\n<|The End of {block}|>"


def _answer(label: str, side: str) -> str:
    return f"[The Start of {label}'s Answer]\n{{answer_{side}_1}}\n[The End of {label}'s Answer]"


def _skeleton(role: Role) -> str:
    sides = ["a"] if role.mode == "single" else ["a", "b"]
    if role.multi_turn:
        blocks = []
        if role.reference:
            blocks.append(_conversation("Reference Answer", "Reference answer", "ref_answer"))
        blocks += [_conversation(f"Assistant {s.upper()}'s Conversation with User", f"Assistant {s.upper()}",
                                 f"answer_{s}") for s in sides]
        return "\n\n\n".join(blocks)
    blocks = ["[Question]\n{question_1}" if role.mode == "single" else "[User Question]\n{question_1}"]
    if role.reference:
        blocks.append("[The Start of Reference Answer]\n{ref_answer_1}\n[The End of Reference Answer]")
    if role.mode == "single":
        blocks.append(_answer("Assistant", "a"))
    else:
        blocks += [_answer("Assistant A", "a"), _answer("Assistant B", "b")]
    return "\n\n".join(blocks)


def _split(skeleton: str) -> tuple[list[str], list[str]]:
    """Delimiters (one more than parts) and part names; no part is adjacent to another."""
    parsed = list(string.Formatter().parse(skeleton))
    return [lit for lit, _, _, _ in parsed] + ([""] if parsed[-1][1] is not None else []), \
        [f for _, f, _, _ in parsed if f is not None]


def _match(delims: list[str], parts: list[str], text: str) -> dict[str, str] | None:
    """Cut `text` (which must end with the last delimiter) into the parts, in linear time.

    FastChat does not escape delimiters, so text holding one is ambiguous: questions are cut as short and
    answers and references as long as the layout allows (answers are where "### User:" lines turn up, when
    a model imitates a transcript). `latest[i]` is the last place delimiter i can start with all later ones
    still fitting, so any choice at or before it can be completed and nothing needs undoing."""
    k = len(parts)
    if not delims[k] or not text.endswith(delims[k]):
        return None
    latest = [0] * (k + 1)
    latest[k] = len(text) - len(delims[k])
    for i in range(k - 1, -1, -1):
        latest[i] = text.rfind(delims[i], 0, latest[i + 1])
        if latest[i] < 0:
            return None
    cur = text.find(delims[0]) + len(delims[0])
    values: dict[str, str] = {}
    for i, name in enumerate(parts, start=1):
        end = text.find(delims[i], cur) if name.startswith("question") and i < k else latest[i]
        value = text[cur:end]
        if values.setdefault(name, value) != value:  # a question shown twice must read the same both times
            return None
        cur = end + len(delims[i])
    return values


# Reference-guided layouts first: a plain layout also fits a reference-guided prompt (on turn 1 its question
# swallows the reference block, on turn 2 it starts after it).
_LAYOUTS = [(role, *_split(_skeleton(role)))
            for role in sorted(ROLES.values(), key=lambda r: not r.reference)]


@dataclass(frozen=True)
class RenderedPrompt:
    """The parts of a rendered FastChat judge prompt: `answers` has one tuple per assistant (A, then B for
    pairwise), aligned with `questions`; `references` is empty for a prompt without references."""

    mode: str
    questions: tuple[str, ...]
    answers: tuple[tuple[str, ...], ...]
    references: tuple[str, ...]

    @property
    def turn(self) -> int:
        return len(self.questions)


def parse_rendered(text: str) -> RenderedPrompt | None:
    """Read a FastChat judge request back from its user message (or its system and user contents joined: the
    layout of the templates' blocks decides). None when the text is not a FastChat judge prompt."""
    for role, delims, parts in _LAYOUTS:
        m = _match(delims, parts, text)
        if m is None:
            continue
        n = 2 if role.multi_turn else 1
        tags = ["a"] if role.mode == "single" else ["a", "b"]
        return RenderedPrompt(
            mode=role.mode,
            questions=tuple(m[f"question_{i}"] for i in range(1, n + 1)),
            answers=tuple(tuple(m[f"answer_{t}_{i}"] for i in range(1, n + 1)) for t in tags),
            references=tuple(m[f"ref_answer_{i}"] for i in range(1, n + 1)) if role.reference else (),
        )
    return None


def detect(text: str) -> str | None:
    """"single" or "pairwise" for a FastChat judge prompt (its user message, or system and user joined)."""
    parsed = parse_rendered(text)
    return parsed.mode if parsed else None


def extract(text: str) -> tuple[str, tuple[str, ...]] | None:
    """The judged question (the last turn shown) and the judged answer(s) to it: one for single grading,
    (A, B) for pairwise. None when the text is not a FastChat judge prompt."""
    parsed = parse_rendered(text)
    if parsed is None:
        return None
    return parsed.questions[-1], tuple(side[-1] for side in parsed.answers)
