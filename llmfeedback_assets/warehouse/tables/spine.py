"""Tables of the spine: prompts, responses, judgments (one partition per judge) and the simulator's truth."""

from __future__ import annotations

from ..table import declare

PROMPTS = declare("prompts", "Every prompt from the configured sources; ids are content hashes.", [
    ("prompt_id", "VARCHAR", "content hash of the turns and reference: the same prompt from two files "
                             "merges"),
    ("source_file", "VARCHAR", "file the prompt was first read from"),
    ("source_id", "VARCHAR", "the prompt's own id in that file (question_id, id, ...), if it had one"),
    ("category", "VARCHAR", "category from the file (MT-bench's writing, math, ...), if any"),
    ("turns", "VARCHAR[]", "the user turns, in order"),
    ("reference", "VARCHAR[]", "reference answers per turn (reference-guided grading), if any"),
    ("n_turns", "INTEGER", "number of user turns"),
], key="prompt_id")

REJECTED_INPUTS = declare("rejected_inputs", "Input lines that could not be used, with file, line and "
                                             "reason.", [
    ("source_file", "VARCHAR", "file that held the bad line"),
    ("line", "INTEGER", "1-based line (or record) number in that file"),
    ("reason", "VARCHAR", "why the line was rejected"),
    ("raw", "VARCHAR", "the start of the raw line, for finding it"),
    ("asset", "VARCHAR", "asset that read the file"),
    ("rejected_at", "TIMESTAMP", "when it was rejected (UTC)"),
])

_RESPONSE_COLUMNS = [
    ("response_id", "VARCHAR", "content hash of prompt, responder, turn and sample"),
    ("prompt_id", "VARCHAR", "the prompt answered"),
    ("responder_model", "VARCHAR", "configured name of the model that answered"),
    ("turn", "INTEGER", "1-based turn; turn 2 saw the model's own turn-1 answer"),
    ("sample", "INTEGER", "sample index (0 for the spine; 0..n-1 for best-of-n)"),
    ("text", "VARCHAR", "the answer (NULL when the call failed)"),
    ("status", "VARCHAR", "ok, or failed"),
    ("error", "VARCHAR", "the error of a failed call"),
    ("request_key", "VARCHAR", "gateway request key: joins llm_journal for tokens, cost and latency"),
    ("source", "VARCHAR", "'generated' (asked through the gateway) or the imported file it was read from"),
    ("source_line", "INTEGER", "1-based line (or record) of an imported answer in that file"),
]
RESPONSES = declare("responses", "Each responder's answer to each prompt turn.", _RESPONSE_COLUMNS,
                    key="response_id")

JUDGMENTS = declare("judgments", "One judge model's verdicts: single grades and pairwise verdicts in both "
                                 "orders.", [
    ("judgment_id", "VARCHAR", "content hash of judge, mode, prompt, turn and the answers judged"),
    ("judge_model", "VARCHAR", "the judge (the partition key)"),
    ("mode", "VARCHAR", "single (grade 1-10) or pairwise (A/B/tie)"),
    ("prompt_id", "VARCHAR", "the prompt"),
    ("turn", "INTEGER", "the turn judged"),
    ("model_a", "VARCHAR", "responder graded (single) or shown first (pairwise)"),
    ("model_b", "VARCHAR", "responder shown second (pairwise only)"),
    ("response_a_id", "VARCHAR", "answer of model_a"),
    ("response_b_id", "VARCHAR", "answer of model_b (pairwise only)"),
    ("score", "DOUBLE", "the 1-10 grade (single); NULL when it did not parse"),
    ("winner", "VARCHAR", "model_a, model_b or tie after both orders (pairwise); NULL when unparsed"),
    ("verdict_ab", "VARCHAR", "the verdict with model_a shown first: A, B, C (tie) or NULL"),
    ("verdict_ba", "VARCHAR", "the verdict with model_b shown first, in the shown order's letters"),
    ("parse_status", "VARCHAR", "ok, or why no verdict was read from the judge's reply"),
    ("reference_used", "BOOLEAN", "the prompt's reference answer was shown to the judge"),
    ("request_key", "VARCHAR", "gateway request key of the (first-order) judge call"),
    ("request_key_swapped", "VARCHAR", "gateway request key of the swapped-order call (pairwise)"),
    ("source", "VARCHAR", "'judged' (asked through the gateway) or the imported file:line it was read from"),
    ("prompt_name", "VARCHAR", "judge prompt used: FastChat's name (single-v1, pair-math-v1, ...) or 'own'"),
    ("raw", "VARCHAR", "an imported judge's raw reply or vote (first order); judged replies: explanation"),
    ("recorded_score", "DOUBLE", "the score the imported file itself recorded (FastChat's, NULL for -1)"),
    ("recorded_winner", "VARCHAR", "the winner the imported file itself recorded, next to ours"),
    ("explanation", "VARCHAR", "the judge's full reply, its reasoning and verdict (pairwise: model_a shown "
                               "first); NULL when the call failed or the file recorded no reply"),
    ("explanation_swapped", "VARCHAR", "the judge's full reply with model_b shown first (pairwise)"),
], key="judgment_id", partition="judge_model")

SIM_GROUND_TRUTH = declare("sim_ground_truth", "Latent quality and biases of every simulated model.", [
    ("model", "VARCHAR", "simulated model name"),
    ("role", "VARCHAR", "responder or judge"),
    ("quality", "DOUBLE", "latent answer quality in [0, 1] (responders)"),
    ("verbosity", "DOUBLE", "how much filler the model adds (responders)"),
    ("noise", "DOUBLE", "probability a grade moves to a neighbour class (judges)"),
    ("position_bias", "DOUBLE", "preference for the answer shown first (judges)"),
    ("verbosity_bias", "DOUBLE", "preference for longer answers (judges)"),
    ("self_preference", "DOUBLE", "preference for the judge's own answers (judges)"),
], key="model")

TABLES = [PROMPTS, REJECTED_INPUTS, RESPONSES, JUDGMENTS, SIM_GROUND_TRUTH]
