"""Tables of the curation area: the examples to curate, quality scores, curated scores and selected subsets
(the embeddings are in embedding.py).

The downstream tables name an example by `response_id`: a first-turn answer's response_id, or, when
`sft_sources` is configured, the pool example's `curation_examples.example_id` (there is no response)."""

from __future__ import annotations

from ..table import declare

CURATION_EXAMPLES = declare("curation_examples", "The examples curation scores, embeds, curates and selects "
                                                 "from: the user's SFT pool (sft_sources) or, without one, "
                                                 "the spine's first-turn answers.", [
    ("example_id", "VARCHAR", "a pool example's content hash of (instruction, input, output), or the "
                              "answer's response_id; the response_id of the curation tables"),
    ("prompt_id", "VARCHAR", "the answer's prompt, or the id the prompt table gives the pool instruction"),
    ("dataset", "VARCHAR", "the pool (sft_sources[].name, default the file stem); NULL for answers"),
    ("responder_model", "VARCHAR", "the model that answered; NULL for a pool example"),
    ("instruction", "VARCHAR", "what the judge rates and the encoder embeds: the instruction, then a blank "
                               "line and the input when there is one"),
    ("input", "VARCHAR", "a pool example's input on its own ('' when none)"),
    ("output", "VARCHAR", "the response"),
    ("text_hash", "VARCHAR", "key of the (instruction, output) pair in embedding_store"),
    ("source", "VARCHAR", "file:line of a pool example (Parquet: row); 'generated', or the imported "
                          "answer's file:line"),
], key="example_id")

QUALITY_SCORES = declare("quality_scores", "One judge's quality rating of every example to curate.", [
    ("judge_model", "VARCHAR", "the judge (the partition key)"),
    ("response_id", "VARCHAR", "the example: curation_examples.example_id (an answer's response_id)"),
    ("prompt_id", "VARCHAR", "its prompt"),
    ("rarity", "DOUBLE", "the judge's rarity sub-score"),
    ("complexity", "DOUBLE", "the judge's complexity sub-score"),
    ("informativeness", "DOUBLE", "the judge's informativeness sub-score"),
    ("overall", "DOUBLE", "the judge's 1-10 overall rating; NULL when the reply did not parse"),
    ("score_class", "INTEGER", "overall clipped to [clip_low, clip_high] minus clip_low; NULL likewise"),
    ("parse_status", "VARCHAR", "ok / partial (scored), or why the reply was not scored"),
    ("request_key", "VARCHAR", "gateway request key of the judge call"),
], partition="judge_model")

CURATED_SCORES = declare("curated_scores", "DS2-curated scores of one judge: suggestion, confidence, "
                                           "rareness.", [
    ("judge_model", "VARCHAR", "the judge (the partition key)"),
    ("response_id", "VARCHAR", "the example (curation_examples.example_id)"),
    ("prompt_id", "VARCHAR", "its prompt"),
    ("text_hash", "VARCHAR", "key of the example's (instruction, answer) pair in embedding_store"),
    ("embedding_model", "VARCHAR", "backbone id (in embedding_store) the neighbours came from"),
    ("score", "INTEGER", "the judge's score class"),
    ("suggested_score", "INTEGER", "the class the neighbours and the transition matrix suggest"),
    ("confidence", "DOUBLE", "confidence of the suggestion"),
    ("curated_score", "INTEGER", "the suggestion where confidence >= curation.confidence_threshold, "
                                 "else score"),
    ("noise_level", "DOUBLE", "estimated probability the judge's score is wrong"),
    ("flagged", "BOOLEAN", "the score was judged noisy"),
    ("rare_score", "DOUBLE", "rareness: mean distance to the nearest neighbours"),
    ("duplicate_of", "VARCHAR", "response_id of an earlier row with the same text; never selected"),
], partition="judge_model")

CURATION_TRANSITION = declare("curation_transition", "Estimated score transition matrix T of one judge.", [
    ("judge_model", "VARCHAR", "the judge (the partition key)"),
    ("from_class", "INTEGER", "clean score class"),
    ("to_class", "INTEGER", "the judge's score class"),
    ("prob", "DOUBLE", "P(judge gives to_class | clean class is from_class)"),
], partition="judge_model")

CURATION_PRIOR = declare("curation_prior", "Estimated clean and observed score-class shares of one judge.", [
    ("judge_model", "VARCHAR", "the judge (the partition key)"),
    ("score_class", "INTEGER", "score class"),
    ("clean_prior", "DOUBLE", "estimated share of the class among clean scores"),
    ("noisy_prior", "DOUBLE", "observed share of the class in the judge's scores"),
], partition="judge_model")

SELECTED_DATASET = declare("selected_dataset", "The examples each selection strategy picked, in pick "
                                               "order.", [
    ("strategy", "VARCHAR", "the selection strategy (the partition key)"),
    ("rank", "INTEGER", "pick order: 1 = picked first"),
    ("judge_model", "VARCHAR", "whose curated scores the selection used"),
    ("response_id", "VARCHAR", "the example (curation_examples.example_id)"),
    ("prompt_id", "VARCHAR", "its prompt"),
    ("score", "INTEGER", "the judge's score class"),
    ("curated_score", "INTEGER", "the curated score class"),
    ("rare_score", "DOUBLE", "rareness of the example"),
], partition="strategy")

TABLES = [CURATION_EXAMPLES, QUALITY_SCORES, CURATED_SCORES, CURATION_TRANSITION, CURATION_PRIOR,
          SELECTED_DATASET]
