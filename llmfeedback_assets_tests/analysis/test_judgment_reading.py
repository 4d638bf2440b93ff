"""The judge's reply lives in `judgments` (model judges in both orders, imported FastChat judgments), and the
two ways of reading it: `llmfeedback show` with its filters, and the HTML browser asset, which must show
untrusted model output as text, never as markup."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import duckdb
import pandas as pd
import pytest

from llmfeedback_assets.analysis.browser import BROWSER_DIR
from llmfeedback_assets.analysis.judgment_view import judgments_with_text
from llmfeedback_assets.cli import main
from llmfeedback_assets.config import load_config
from llmfeedback_assets.ingest import read_judgments
from llmfeedback_assets.judging.parse import parse_rating, parse_verdict
from llmfeedback_assets.warehouse import store
from llmfeedback_assets_tests.support.project import write_jsonl

from .conftest import EVIL, EVIL_PROMPT

_FIRST = {"A": "a", "B": "b", "C": "tie"}
_SECOND = {"A": "b", "B": "a", "C": "tie"}


def _show(judged, capsys, *args: str) -> tuple[int, str, str]:
    code = main(["show", "--config", str(judged.config), "--width", "140", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def _blocks(out: str) -> list[str]:
    return re.split(r"\n\n(?=━━ \d+/\d+ )", out)[1:]


def _orders_disagree(j: pd.DataFrame) -> pd.Series:
    first, second = j["verdict_ab"].map(_FIRST), j["verdict_ba"].map(_SECOND)
    return (j["mode"] == "pairwise") & first.notna() & second.notna() & (first != second)


def _judges_disagree(j: pd.DataFrame) -> pd.Series:
    """Written out independently of judgment_view: outcome per unordered pair of answers, across judges."""
    pw = j[(j["mode"] == "pairwise") & j["winner"].notna()].copy()
    pw["pair"] = [(p, t, frozenset((a, b))) for p, t, a, b in
                  pw[["prompt_id", "turn", "response_a_id", "response_b_id"]].itertuples(index=False)]
    pw["outcome"] = [{"model_a": a, "model_b": b}.get(w, "tie") for w, a, b in
                     pw[["winner", "response_a_id", "response_b_id"]].itertuples(index=False)]
    split = {k for k, g in pw.groupby("pair")
             if g["outcome"].nunique() > 1 and g["judge_model"].nunique() > 1}
    return j.index.isin(pw.index[pw["pair"].isin(split)])


def test_judgments_keep_the_judges_reply_in_both_orders(judged):
    j = judged.wh.table("judgments")
    journal = judged.wh.query("SELECT request_key, text FROM llm_journal").set_index("request_key")["text"]
    assert len(j) and (j["parse_status"] == "ok").all()
    assert j["explanation"].notna().all()
    assert (j["explanation"] == j["request_key"].map(journal)).all()
    single, pairwise = j[j["mode"] == "single"], j[j["mode"] == "pairwise"]
    assert single["explanation_swapped"].isna().all()
    assert (pairwise["explanation_swapped"] == pairwise["request_key_swapped"].map(journal)).all()
    # the verdicts are the ones the stored replies hold
    assert [parse_rating(e)[0] for e in single["explanation"]] == single["score"].tolist()
    assert [parse_verdict(e)[0] for e in pairwise["explanation"]] == pairwise["verdict_ab"].tolist()
    assert [parse_verdict(e)[0] for e in pairwise["explanation_swapped"]] == pairwise["verdict_ba"].tolist()
    assert j["explanation"].str.contains("<script>window.pwned", regex=False).any()  # judges quote answers


def test_imported_fastchat_judgments_carry_their_explanations_and_votes_do_not(tmp_path):
    path = write_jsonl(tmp_path / "gpt-4.jsonl", [
        {"question_id": 81, "model": "vicuna", "judge": ["gpt-4", "single-v1"], "turn": 1, "score": 8,
         "judgment": "Helpful and correct.\n\nRating: [[8]]"},
        {"question_id": 81, "model_1": "alpaca", "model_2": "vicuna", "g1_winner": "model_2",
         "g2_winner": "model_2", "judge": ["gpt-4", "pair-v2"], "turn": 1,
         "g1_judgment": "B explains more. [[B]]", "g2_judgment": "A explains more. [[A]]"},
        {"question_id": 81, "model_a": "alpaca", "model_b": "vicuna", "winner": "model_b",
         "judge": "expert_1", "turn": 1},
    ])
    df = read_judgments(path)
    assert df["explanation"].tolist() == ["Helpful and correct.\n\nRating: [[8]]", "B explains more. [[B]]",
                                          None]
    assert df["explanation_swapped"].tolist() == [None, "A explains more. [[A]]", None]


def test_show_filters_by_judge_prompt_model_and_disagreement(judged, capsys):
    j = judged.wh.table("judgments")
    code, out, _ = _show(judged, capsys, "--judge", "judge-clean", "--limit", "0")
    clean = int((j["judge_model"] == "judge-clean").sum())
    assert code == 0 and out.splitlines()[0] == f"database: {load_config(judged.config).database_path}"
    assert f"{clean} judgments match --judge 'judge-clean'" in out
    blocks = _blocks(out)
    assert len(blocks) == clean and all(" · judge judge-clean · " in b for b in blocks)
    pair = next(b for b in blocks if " · pairwise · " in b)
    assert " │ " in pair and "judge's reply, " in pair and " shown first:" in pair and "verdict: " in pair
    assert "grade: " in next(b for b in blocks if " · single · " in b)

    # by the file's question id, by text, and by the id's first characters
    code, out, _ = _show(judged, capsys, "--prompt", EVIL_PROMPT, "--limit", "0")
    blocks = _blocks(out)
    assert code == 0 and blocks and all("Test question 1: explain" in b for b in blocks)
    assert "<script>window.pwned = 1</script>" in out  # a terminal shows the answer as written
    code, out, _ = _show(judged, capsys, "--prompt", "IDEA NUMBER 3", "--limit", "0")
    blocks = _blocks(out)
    assert code == 0 and blocks and all("idea number 3" in b or "summarise idea 3" in b for b in blocks)
    pid = j["prompt_id"].iloc[0]
    code, out, _ = _show(judged, capsys, "--prompt", pid[:8], "--limit", "0")
    assert f"{int((j['prompt_id'] == pid).sum())} judgments match" in out

    code, out, _ = _show(judged, capsys, "--model", "delta", "--limit", "3")
    involved = int(((j["model_a"] == "delta") | (j["model_b"] == "delta")).sum())
    assert f"{involved} judgments match --model 'delta'; showing the first 3 (--limit)" in out
    assert len(_blocks(out)) == 3 and all("delta" in b.split("\n", 1)[1] for b in _blocks(out))

    for kind, expected, said in (("orders", _orders_disagree(j), "the two orders disagree"),
                                 ("judges", _judges_disagree(j), "judges disagree on this pair")):
        n = int(expected.sum())
        assert n > 0, kind  # the noisy, position-biased judge makes both kinds
        code, out, _ = _show(judged, capsys, "--disagree", kind, "--limit", "0")
        assert code == 0 and f"{n} judgments match --disagree '{kind}'" in out
        assert len(_blocks(out)) == n and all(said in b for b in _blocks(out))

    code, out, err = _show(judged, capsys, "--model", "nobody", "--judge", "judge-clean")
    assert code == 1 and "no judgments match --model 'nobody' --judge 'judge-clean'" in err
    assert "judges: judge-clean, judge-noisy" in err


def test_show_reads_an_older_warehouse_file_whose_replies_are_only_in_the_journal(judged, capsys):
    before = judgments_with_text(judged.wh).set_index("judgment_id").sort_index()
    with duckdb.connect(str(judged.wh.path)) as con:  # a file written before the explanation columns
        con.execute("ALTER TABLE judgments DROP COLUMN explanation")
        con.execute("ALTER TABLE judgments DROP COLUMN explanation_swapped")
    store._SCHEMA_READY.clear()
    code, out, _ = _show(judged, capsys, "--judge", "judge-noisy", "--limit", "1")
    assert code == 0 and "(no reply stored)" not in out
    after = judgments_with_text(judged.wh).set_index("judgment_id").sort_index()
    assert judged.wh.count("judgments", "WHERE explanation IS NOT NULL") == 0  # the column is back, empty
    pd.testing.assert_frame_equal(after[["explanation", "explanation_swapped"]],
                                  before[["explanation", "explanation_swapped"]])


def test_the_browser_asset_writes_untrusted_text_as_text(judged):
    result = judged.materialize(["judgment_browser"])
    md = result.asset_materializations_for_node("judgment_browser")[0].metadata
    path = load_config(judged.config).resolve(BROWSER_DIR) / "index.html"
    assert md["path"].value == str(path) and md["judgments"].value == judged.wh.count("judgments")
    html = path.read_text(encoding="utf-8")

    # the answer (and the replies quoting it) are in the page only as escaped JSON text
    assert "<script>window.pwned" not in html and "<img" not in html and "</textarea>" not in html
    assert "\\u003cscript\\u003ewindow.pwned = 1\\u003c/script\\u003e" in html
    assert len(re.findall(r"<script\b", html)) == 2 and "innerHTML" not in html
    assert not re.search(r"https?:|src=\"", html)  # nothing to fetch
    data_text = re.search(r'<script id="data" type="application/json">(.*?)</script>', html, re.S).group(1)
    data = json.loads(data_text)
    assert any(a["text"].startswith(EVIL) for a in data["answers"])
    assert sum(1 for j in data["judgments"] if EVIL.strip()[:30] in (j["e1"] or "")) > 0
    assert len(data["judgments"]) == judged.wh.count("judgments")
    assert {j["judge"] for j in data["judgments"]} == {"judge-clean", "judge-noisy"}
    assert all(j["e1"] for j in data["judgments"])

    # the one inline script is the only one the page's policy lets run, and nothing may be fetched
    code = re.search(r"<script>(.*?)</script>", html, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(code.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in html and "default-src 'none'" in html


@pytest.mark.parametrize("args", [["--disagree", "both"], ["--limit", "x"]])
def test_show_rejects_bad_arguments_before_reading_anything(args, capsys):
    with pytest.raises(SystemExit):
        main(["show", "--config", "/nonexistent.yaml", *args])
    assert "invalid" in capsys.readouterr().err
