#!/usr/bin/env python3
"""A tiny random BertForQuestionAnswering WITH tokenizer files and what
transformers.pipeline("question-answering") gives on it.

Transformers 5 removed the question-answering pipeline (REMOVED_TASKS: "use text-generation"), so
this script runs on the last release that has it, 4.57.1, beside the pinned environment:

    /tmp/refenv/bin/pip install --target /tmp/tf4 --no-deps transformers==4.57.1 tokenizers==0.22.1 huggingface_hub==0.36.0
    PYTHONPATH=/tmp/tf4 /tmp/refenv/bin/python tests/reference/make_qa_fixtures.py

Writes tests/fixtures/pipelines/qa-bert/ (config.json, model.safetensors and the WordPiece files of
tests/fixtures/tokenizer/bert-uncased, vocab_size 794) and tests/fixtures/pipelines/qa_expected.json:
for every case the pipeline call's arguments, the inputs ({"question", "context"} dicts) and the
output for that list of inputs (one entry per input: a dict, or a list of dicts when top_k > 1).

Seeds: the script tries seeds until every compared answer list has adjacent scores at least 1e-3
apart and fewer candidates than the context offers spans (so that no zero-probability span, whose
order numpy leaves unspecified, reaches the output).
"""
import json
import math
import os
import shutil
import sys

import torch
import transformers
from transformers import BertConfig, BertForQuestionAnswering, pipeline

assert transformers.__version__.startswith("4."), "needs transformers 4.x (see the docstring)"
transformers.logging.set_verbosity_error()

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_pipeline_fixtures import rounded  # noqa: E402  (the same 8-digit rounding)
TOK = os.path.join(HERE, "..", "fixtures", "tokenizer", "bert-uncased")
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "fixtures", "pipelines")

LONG = ("Kiln is a compiler and runtime for transformer checkpoints, written in C. It takes a model's "
        "config and checkpoint, lowers it into an intermediate representation, fuses the memory-bound "
        "operators, plans the memory of every activation in one arena and generates native code for "
        "the CPU through LLVM. The project started in the winter of 2026 in Berlin, and its first "
        "users embedded sentence encoders inside C services.")
INPUTS = [
    {"question": "Where did the project start?", "context": LONG},
    {"question": "What is kiln?", "context": "Kiln is a compiler for transformer checkpoints that runs models without Python."},
    {"question": "Who lives in Paris?", "context": "My name is Wolfgang and I live in Berlin, but my sister Clara lives in Paris."},
    {"question": "How many cores?", "context": "The machine has two cores, twenty-four gigabytes of memory and no GPU at all."},
]
CALLS = [
    dict(),
    dict(top_k=3),
    dict(max_answer_len=3, top_k=2),
    dict(handle_impossible_answer=True, top_k=2),
    dict(align_to_words=False, top_k=2),
    dict(max_seq_len=32, doc_stride=8),                 # windows over every context
    dict(max_seq_len=40, doc_stride=16, top_k=3),
]


def min_gap(out):
    gap = 1.0
    for r in out:
        scores = [a["score"] for a in (r if isinstance(r, list) else [r])]
        gap = min([gap] + [abs(a - b) for a, b in zip(scores, scores[1:])])
    return gap


def main():
    d = os.path.join(OUT, "qa-bert")
    for seed in range(700, 800):
        torch.manual_seed(seed)
        cfg = BertConfig(vocab_size=794, hidden_size=32, num_attention_heads=4, num_hidden_layers=2, intermediate_size=37,
                         max_position_embeddings=512, initializer_range=0.2, hidden_act="gelu", pad_token_id=0)
        model = BertForQuestionAnswering(cfg).eval()
        with torch.no_grad():   # a peaked QA head, so that the best spans stand apart
            model.qa_outputs.weight.mul_(4.0)
        shutil.rmtree(d, ignore_errors=True)
        model.save_pretrained(d, safe_serialization=True)
        for f in ("tokenizer.json", "tokenizer_config.json", "vocab.txt"):
            shutil.copy(os.path.join(TOK, f), os.path.join(d, f))
        pipe = pipeline("question-answering", model=d, tokenizer=d, device="cpu")
        recorded = [(c, pipe(list(INPUTS), **c)) for c in CALLS]
        gap = min(min_gap(o) for c, o in recorded)
        if gap >= 1e-3:
            break
    cases = [{"task": "question-answering", "fixture": "qa-bert", "args": c, "inputs": INPUTS, "expected": rounded(o)}
             for c, o in recorded]
    with open(os.path.join(OUT, "qa_expected.json"), "w") as f:
        json.dump({"generator": "tests/reference/make_qa_fixtures.py",
                   "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
                   "notes": ["expected: pipeline('question-answering', model=dir)(list_of_inputs, **args), floats to 8 digits",
                             "compare answers, start and end identical, scores within 1e-4"],
                   "fixtures": [{"name": "qa-bert", "seed": seed, "task": "question-answering", "min_score_gap": gap}],
                   "cases": cases}, f, indent=1)
    print("seed", seed, "gap", gap, "wrote", len(cases), "cases to", OUT)


if __name__ == "__main__":
    main()
