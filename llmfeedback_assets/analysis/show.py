"""`llmfeedback show`: judgments printed side by side for a terminal (question, the answers next to each
other, the verdict or grade, and the judge's reply), FastChat qa_browser's view without a web server."""

from __future__ import annotations

import itertools
import textwrap

import pandas as pd

from ..warehouse import Warehouse
from .judgment_view import Filters, answers, judgment_flags, judgments_with_text, select

MIN_WIDTH, MAX_WIDTH = 60, 200
_LETTER_FOR = {"A": 0, "B": 1}


def _wrap(text: str | None, width: int) -> list[str]:
    """Text wrapped to `width`, its own line breaks kept (answers hold lists and code)."""
    if text is None or (isinstance(text, float) and pd.isna(text)):
        return ["(none)"]
    lines: list[str] = []
    for line in str(text).splitlines() or [""]:
        lines += textwrap.wrap(line.expandtabs(4), width, replace_whitespace=False, drop_whitespace=True,
                               break_long_words=True, break_on_hyphens=False) or [""]
    return lines


def _side_by_side(left: tuple[str, str | None], right: tuple[str, str | None], width: int) -> list[str]:
    half = (width - 3) // 2
    cols = [[f"{title}".ljust(half, "─")[:half], *_wrap(text, half)] for title, text in (left, right)]
    return [f"{a.ljust(half)} │ {b}".rstrip() for a, b in itertools.zip_longest(*cols, fillvalue="")]


def _shown_first(letter: str | None, first: str, second: str) -> str:
    """What one order's letter chose, in model names."""
    if letter is None or (isinstance(letter, float) and pd.isna(letter)):
        return "no verdict"
    if letter == "C":
        return "tie"
    return (first, second)[_LETTER_FOR[letter]] + " better"


def _verdict(row) -> str:
    if row.mode == "single":
        return f"grade: {row.score:g} / 10" if pd.notna(row.score) else f"grade: none ({row.parse_status})"
    a, b = row.model_a or "answer A", row.model_b or "answer B"
    winner = {"model_a": f"{a} better", "model_b": f"{b} better", "tie": "tie"}.get(row.winner)
    line = f"verdict: {winner or f'none ({row.parse_status})'}"
    if pd.notna(row.verdict_ab) or pd.notna(row.verdict_ba):
        line += (f"  ({a} shown first: {_shown_first(row.verdict_ab, a, b)}; "
                 f"{b} shown first: {_shown_first(row.verdict_ba, b, a)})")
    return line


def _flags(row) -> list[str]:
    said = [what for what, on in (("judges disagree on this pair", row.judges_disagree),
                                   ("the two orders disagree", row.orders_disagree)) if on]
    return [f"[{'; '.join(said)}]"] if said else []


def _question_label(row, prompts: pd.DataFrame) -> tuple[str, str]:
    p = prompts.loc[row.prompt_id] if row.prompt_id in prompts.index else None
    if p is None:
        return f"prompt {row.prompt_id[:12]}", "(question not stored)"
    turns = list(p["turns"]) if p["turns"] is not None else []
    text = turns[row.turn - 1] if 0 < row.turn <= len(turns) else "(turn not stored)"
    source_id = f"source id {p['source_id']}" if isinstance(p["source_id"], str) else None
    extra = ", ".join(v for v in (source_id, p["category"]) if isinstance(v, str) and v)
    return f"prompt {row.prompt_id[:12]}" + (f" ({extra})" if extra else ""), text


def format_judgment(row, number: int, total: int, prompts: pd.DataFrame, texts: dict, width: int) -> str:
    """One judgment as a block of lines `width` wide."""
    label, question = _question_label(row, prompts)
    head = f"━━ {number}/{total} · judge {row.judge_model} · {row.mode} · {label} · turn {row.turn} "
    out = [head.ljust(width, "━"), "Question:", *_wrap(question, width), ""]
    a_text = texts.get(row.response_a_id)
    if row.mode == "single":
        out += [f"── answer of {row.model_a} ".ljust(width, "─"), *_wrap(a_text, width)]
    else:
        b_text = texts.get(row.response_b_id)
        out += _side_by_side((f"── A: {row.model_a or 'answer A'} ", a_text),
                             (f"── B: {row.model_b or 'answer B'} ", b_text), width)
    out += ["", *_wrap(_verdict(row), width), *_flags(row)]
    replies = [("judge's reply", row.explanation)] if row.mode == "single" else [
        (f"judge's reply, {row.model_a or 'A'} shown first", row.explanation),
        (f"judge's reply, {row.model_b or 'B'} shown first", row.explanation_swapped)]
    for title, text in replies:
        text = text if isinstance(text, str) else "(no reply stored)"
        out += [f"{title}:", *("  " + line for line in _wrap(text, width - 2))]
    return "\n".join(out)


def show(wh: Warehouse, filters: Filters, limit: int, width: int = 120) -> tuple[str, int]:
    """The text `llmfeedback show` prints and how many judgments matched (0: the text says why)."""
    width = max(MIN_WIDTH, min(MAX_WIDTH, width))
    flags = judgment_flags(wh)
    if flags.empty:
        return "no judgments stored yet: run `make run` (or materialize `judgments`) first", 0
    prompts = wh.table("prompts").set_index("prompt_id", drop=False)
    chosen = select(flags, prompts, filters)
    if chosen.empty:
        judges = ", ".join(sorted(flags["judge_model"].unique()))
        return (f"no judgments match {filters.describe()} (among {len(flags)} judgments; judges: {judges})",
                0)
    top = chosen.head(max(limit, 0) or len(chosen))
    rows = judgments_with_text(wh, top["judgment_id"].tolist()).set_index("judgment_id")
    rows = rows.join(top.set_index("judgment_id")[["judges_disagree", "orders_disagree"]])
    rows = rows.loc[top["judgment_id"]].reset_index()
    ids = pd.concat([rows["response_a_id"], rows["response_b_id"]]).dropna().unique().tolist()
    texts = dict(answers(wh, ids)[["response_id", "text"]].itertuples(index=False)) if ids else {}
    blocks = [format_judgment(r, i + 1, len(chosen), prompts, texts, width)
              for i, r in enumerate(rows.itertuples(index=False))]
    said = filters.describe()
    shown = f"{len(chosen)} judgments match {said}" if said else f"{len(chosen)} judgments stored"
    if len(top) < len(chosen):
        shown += f"; showing the first {len(top)} (--limit)"
    return "\n\n".join([shown, *blocks]), len(chosen)
