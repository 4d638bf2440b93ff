"""A static, self-contained HTML browser of the judgments: per question the answers, each judge's verdict or
grade and its reply, filters by judge, model and category and a "disagreements only" switch (no Dagster
here; the `judgment_browser` asset calls `write_browser`).

Model output is untrusted, so nothing from the warehouse ever becomes markup: the data sits in the page as
one JSON document (every `<`, `>` and `&` escaped, so no text can close its script element) and the page's
script builds the DOM with `textContent` only. A Content-Security-Policy allows only that one script (by its
hash) and no network at all, so the file opens the same offline, from a mail attachment or a file share.
The browser renders one page of questions at a time, so thousands of judgments stay quick.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..warehouse import Warehouse
from .browser_page import PAGE_CSS, PAGE_JS
from .judgment_view import answers, disagreements, judgments_with_text

BROWSER_DIR = "data/exports/browser"
TITLE = "llmfeedback judgments"


@dataclass
class BrowserSummary:
    path: Path
    questions: int
    judgments: int
    answers: int
    judges_disagree: int
    orders_disagree: int
    size_bytes: int

    def as_metadata(self) -> dict:
        return {"questions": self.questions, "judgments": self.judgments, "answers": self.answers,
                "judgments_where_judges_disagree": self.judges_disagree,
                "judgments_where_orders_disagree": self.orders_disagree, "size_bytes": self.size_bytes}


def _value(v):
    """A JSON-safe Python value: None for NaN/NA, plain int/float/bool for numpy scalars."""
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    if hasattr(v, "item"):
        v = v.item()
    return None if isinstance(v, float) and math.isnan(v) else v


def _question_order(p) -> tuple:
    """Questions in their file's order: by source file, then numeric ids as numbers (81 before 100)."""
    sid = _value(p.source_id)
    number = int(sid) if isinstance(sid, str) and sid.isdigit() else math.inf
    return (str(_value(p.source_file) or ""), number, str(sid or ""), p.prompt_id)


def browser_data(rows: pd.DataFrame, prompts: pd.DataFrame, texts: pd.DataFrame) -> dict:
    """The page's data: questions (judged ones only), answers, and judgments pointing into both by index.

    `rows`: judgments with `explanation`/`explanation_swapped` and the disagreement flags; `texts`:
    response_id, responder_model, text of the answers they judged."""
    judged = set(rows["prompt_id"])
    chosen = sorted((p for p in prompts.itertuples(index=False) if p.prompt_id in judged),
                    key=_question_order)
    q_index = {p.prompt_id: i for i, p in enumerate(chosen)}
    questions = []
    for p in chosen:
        turns = [str(t) for t in (p.turns if p.turns is not None else [])]
        questions.append({"id": p.prompt_id, "source_id": _value(p.source_id), "category": _value(p.category),
                          "turns": turns})
    a_index = {rid: i for i, rid in enumerate(texts["response_id"])}
    answer_list = [{"model": _value(m), "text": _value(t)}
                   for m, t in zip(texts["responder_model"], texts["text"], strict=True)]
    judgments = []
    for r in rows.itertuples(index=False):
        if r.prompt_id not in q_index:
            continue  # a judgment of a prompt no longer in `prompts`: nothing to show it with
        judgments.append({
            "q": q_index[r.prompt_id], "t": int(r.turn), "judge": r.judge_model, "mode": r.mode,
            "a": a_index.get(r.response_a_id), "b": a_index.get(_value(r.response_b_id)),
            "ma": _value(r.model_a), "mb": _value(r.model_b), "score": _value(r.score),
            "winner": _value(r.winner), "v1": _value(r.verdict_ab), "v2": _value(r.verdict_ba),
            "status": _value(r.parse_status), "e1": _value(r.explanation),
            "e2": _value(r.explanation_swapped), "dj": bool(r.judges_disagree),
            "do": bool(r.orders_disagree)})
    models = {m for j in judgments for m in (j["ma"], j["mb"]) if m}
    return {"title": TITLE, "generated_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "judges": sorted({j["judge"] for j in judgments}), "models": sorted(models),
            "categories": sorted({q["category"] for q in questions if q["category"]}),
            "questions": questions, "answers": answer_list, "judgments": judgments}


def _script_json(data: dict) -> str:
    """JSON that is inert inside a <script> element: no `<`, `>` or `&` survives unescaped, so no answer
    can write `</script>` or a comment opener into the page."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text


def render_html(data: dict) -> str:
    """The whole page: inline CSS, the data, the script; a CSP that admits that script only."""
    digest = base64.b64encode(hashlib.sha256(PAGE_JS.encode("utf-8")).digest()).decode("ascii")
    csp = (f"default-src 'none'; script-src 'sha256-{digest}'; style-src 'unsafe-inline'; img-src 'none'; "
           "base-uri 'none'; form-action 'none'")
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{TITLE}</title>
<style>{PAGE_CSS}</style>
</head>
<body>
<header>
<h1>{TITLE}</h1>
<p id="summary"></p>
<div id="filters">
<label>Judge <select id="f-judge"></select></label>
<label>Model <select id="f-model"></select></label>
<label>Category <select id="f-category"></select></label>
<label>Question <input id="f-text" type="search" placeholder="text or id"></label>
<label class="toggle"><input id="f-disagree" type="checkbox"> Disagreements only</label>
</div>
<p id="status" role="status"></p>
<nav class="pager"><button type="button" class="prev">&larr; previous</button> <span class="page"></span>
<button type="button" class="next">next &rarr;</button></nav>
</header>
<main id="questions"></main>
<nav class="pager"><button type="button" class="prev">&larr; previous</button> <span class="page"></span>
<button type="button" class="next">next &rarr;</button></nav>
<noscript>This page renders the judgments with JavaScript.</noscript>
<script id="data" type="application/json">{_script_json(data)}</script>
<script>{PAGE_JS}</script>
</body>
</html>
"""


def write_browser(wh: Warehouse, path: Path) -> BrowserSummary:
    """Every stored judgment into one HTML file at `path` (written whole, then moved into place, so an open
    page is never half a file)."""
    rows = judgments_with_text(wh)
    rows = pd.concat([rows, disagreements(rows)], axis=1)
    ids = pd.concat([rows["response_a_id"], rows["response_b_id"]]).dropna().unique().tolist()
    texts = answers(wh, ids) if ids else pd.DataFrame(columns=["response_id", "responder_model", "text"])
    data = browser_data(rows, wh.table("prompts"), texts)
    html = render_html(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(html, encoding="utf-8")
    partial.replace(path)
    flagged = pd.DataFrame(data["judgments"], columns=["dj", "do"])
    return BrowserSummary(path, len(data["questions"]), len(data["judgments"]), len(data["answers"]),
                          int(flagged["dj"].sum()), int(flagged["do"].sum()), path.stat().st_size)
