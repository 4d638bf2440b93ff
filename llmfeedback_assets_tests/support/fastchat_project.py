"""A small FastChat MT-bench project on disk, in FastChat's own file formats, for import tests."""

from __future__ import annotations

from pathlib import Path

import yaml

from .project import SIM_MODELS, write_jsonl

QUESTIONS = [
    (81, "writing", ["Compose a travel blog post about a trip to Hawaii.",
                     "Rewrite it so that every sentence starts with the letter A."]),
    (82, "roleplay", ["Pretend to be a pirate captain and motivate your crew.", "Now do it as a poet."]),
    (111, "math", ["What is the area of a triangle with vertices (0,0), (4,0) and (0,3)?",
                   "What is the radius of the circle circumscribing it?"]),
    (131, "reasoning", ["Which is heavier, a kilo of feathers or a kilo of steel?", "And a pound of each?"]),
]
MODELS = ["vicuna-13b", "llama-13b"]
JUDGE = "gpt-4 (imported)"




def _answer(qid: int, model: str, turn: int) -> str:
    quality = "thorough, correct and well organised" if model == "vicuna-13b" else "short"
    return f"{model} answers question {qid}, turn {turn}: a {quality} reply with steps one, two and three."


def _single_rows() -> list[dict]:
    rows = []
    for k, (qid, _, _) in enumerate(QUESTIONS):
        for model in MODELS:
            for turn in (1, 2):
                score = (8 if model == "vicuna-13b" else 4) + (k + turn) % 3 - 1
                judgment = f"The assistant's answer is adequate. Rating: [[{score}]]"
                if (qid, model, turn) == (82, "llama-13b", 2):  # FastChat could not parse this one: -1
                    judgment, score = "I am unable to provide a rating for this answer.", -1
                rows.append({"question_id": qid, "model": model,
                             "judge": ["gpt-4", "single-math-v1" if qid >= 111 else "single-v1"],
                             "user_prompt": "...", "judgment": judgment, "score": score, "turn": turn,
                             "tstamp": 1.0})
    return rows


def _verdict(winner: str, first: str) -> str:
    letter = "C" if winner == "tie" else ("A" if winner == first else "B")
    return f"After comparing both answers, my final verdict is [[{letter}]]"


def _pair_rows() -> list[dict]:
    # (g1 winner, g2 winner) per (question, turn), in model terms as FastChat records them
    plan = {(81, 1): ("model_1", "model_1"), (81, 2): ("model_1", "model_2"), (82, 1): ("tie", "tie"),
            (82, 2): ("model_1", "model_1"), (111, 1): ("model_2", "model_2"), (111, 2): ("error", "model_1"),
            (131, 1): ("model_1", "tie"), (131, 2): ("model_1", "model_1")}
    rows = []
    for (qid, turn), (g1, g2) in plan.items():
        name = {"model_1": "vicuna-13b", "model_2": "llama-13b", "tie": "tie"}
        g1_text = "No verdict here." if g1 == "error" else _verdict(name[g1], "vicuna-13b")
        rows.append({"question_id": qid, "model_1": "vicuna-13b", "model_2": "llama-13b", "g1_winner": g1,
                     "g2_winner": g2, "judge": ["gpt-4", "pair-v2" if turn == 1 else "pair-v2-multi-turn"],
                     "g1_user_prompt": "...", "g1_judgment": g1_text, "g2_user_prompt": "...",
                     "g2_judgment": _verdict(name[g2], "llama-13b"), "turn": turn, "tstamp": 1.0})
    return rows


def write_fastchat_project(tmp_path: Path) -> Path:
    """FastChat's data/mt_bench layout (questions, answers of two models, references, GPT-4 single and pair
    judgments with raw text) and a config importing all of it; returns the config path."""
    data = tmp_path / "data" / "mt_bench"
    write_jsonl(data / "question.jsonl",
                [{"question_id": q, "category": c, "turns": t} for q, c, t in QUESTIONS])
    for model in MODELS:
        write_jsonl(data / "model_answer" / f"{model}.jsonl", [
            {"question_id": q, "answer_id": f"{model}-{q}", "model_id": model,
             "choices": [{"index": 0, "turns": [_answer(q, model, 1), _answer(q, model, 2)]}], "tstamp": 1.0}
            for q, _, _ in QUESTIONS])
    write_jsonl(data / "reference_answer" / "gpt-4.jsonl", [
        {"question_id": 111, "answer_id": "r111", "model_id": "gpt-4",
         "choices": [{"index": 0, "turns": ["The area is 6.", "The radius is 2.5."]}]},
        {"question_id": 131, "answer_id": "r131", "model_id": "gpt-4",
         "choices": [{"index": 0, "turns": ["They weigh the same.", "They weigh the same too."]}]}])
    write_jsonl(data / "model_judgment" / "gpt-4_single.jsonl", _single_rows())
    write_jsonl(data / "model_judgment" / "gpt-4_pair.jsonl", _pair_rows())
    cfg = {
        "database": str(tmp_path / "warehouse.duckdb"),
        "models": SIM_MODELS,
        "responders": [],
        "judges": ["judge-clean"],
        "prompt_sources": [{"path": "data/mt_bench/question.jsonl", "format": "mtbench"}],
        "answer_sources": [{"path": "data/mt_bench/model_answer", "format": "fastchat"}],
        "reference_answers": [{"path": "data/mt_bench/reference_answer/gpt-4.jsonl"}],
        "judgment_sources": [{"path": "data/mt_bench/model_judgment/gpt-4_single.jsonl"},
                             {"path": "data/mt_bench/model_judgment/gpt-4_pair.jsonl"}],
        "judging": {"modes": ["single", "pairwise"]},
        "leaderboard": {"bootstrap_rounds": 50},
        "root": str(tmp_path),
    }
    path = tmp_path / "llmfeedback.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path
