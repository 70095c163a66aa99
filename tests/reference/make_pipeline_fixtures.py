#!/usr/bin/env python3
"""Tiny random checkpoints WITH tokenizer files and what transformers.pipeline() gives on them.

Writes tests/fixtures/pipelines/<name>/ (config.json, model.safetensors, tokenizer.json,
tokenizer_config.json, vocab.txt — the WordPiece vocab of tests/fixtures/tokenizer/bert-uncased,
so vocab_size is 794) and tests/fixtures/pipelines/expected.json: for every case, the task, the
fixture, the pipeline call's arguments and Transformers' output (as the pipeline returns it for a
list of inputs: one entry per input).

Seeds: for each classification fixture the script tries seeds until every compared score gap
(adjacent scores in each sorted result) is >= 1e-3, so labels and orders are not near-ties.

Usage: make_pipeline_fixtures.py [OUT_DIR]   (default: tests/fixtures/pipelines next to this script)
"""
import json
import math
import os
import shutil
import sys

import torch
import transformers
from transformers import AutoTokenizer, RobertaConfig, RobertaForTokenClassification, BertConfig, BertForMaskedLM, BertForTokenClassification, BertForSequenceClassification, BertModel, pipeline

transformers.logging.set_verbosity_error()
try:
    transformers.utils.logging.disable_progress_bar()
except Exception:
    pass

HERE = os.path.dirname(os.path.abspath(__file__))
TOK = os.path.join(HERE, "..", "fixtures", "tokenizer", "bert-uncased")
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "fixtures", "pipelines")

TEXTS = [
    "I love this movie!",
    "The weather is terrible today.",
    "a",
    "Kiln compiles transformer checkpoints into native code, and the pipelines run on top.",
    "Hello world",
]
PAIRS = [
    {"text": "Is it good?", "text_pair": "It is very good."},
    {"text": "The cat sat.", "text_pair": "On the mat, the dog ran away quickly."},
]


def base_config(**kw):
    return BertConfig(vocab_size=794, hidden_size=32, num_attention_heads=4, num_hidden_layers=2,
                      intermediate_size=37, max_position_embeddings=128, initializer_range=0.2,
                      hidden_act="gelu", pad_token_id=0, **kw)


def perturb(model, seed):
    g = torch.Generator().manual_seed(seed + 7)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" in name or name.endswith("bias"):
                p.add_(0.1 * torch.randn(p.shape, generator=g))


def save(name, model):
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    model.save_pretrained(d, safe_serialization=True)
    for f in ("tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        shutil.copy(os.path.join(TOK, f), os.path.join(d, f))
    return d


def as_list(r):
    return r if isinstance(r, list) else [r]


def min_gap(results, log=False):
    """Smallest gap of adjacent scores; log=True: of their logs (probabilities: the logit margin)."""
    gap = 1.0
    for r in results:
        scores = [x["score"] for x in as_list(r)]
        for a, b in zip(scores, scores[1:]):
            gap = min(gap, abs(math.log(a) - math.log(b)) if log else abs(a - b))
    return gap


def rounded(x):
    if hasattr(x, "item") and not isinstance(x, (list, dict)):   # numpy scalars
        x = x.item()
    if isinstance(x, float):
        return float("%.8g" % x)
    if isinstance(x, list):
        return [rounded(v) for v in x]
    if isinstance(x, dict):
        return {k: rounded(v) for k, v in x.items()}
    return x


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = []
    fixtures = []

    # text-classification: one fixture per problem type
    for name, kw, calls in [
        ("tc-single", dict(num_labels=3, id2label={0: "NEGATIVE", 1: "NEUTRAL", 2: "POSITIVE"},
                           problem_type="single_label_classification"),
         [dict(), dict(top_k=None), dict(top_k=2), dict(function_to_apply="sigmoid", top_k=None),
          dict(function_to_apply="none", top_k=None), dict(pairs=True)]),
        ("tc-multi", dict(num_labels=4, id2label={0: "toxic", 1: "insult", 2: "threat", 3: "spam"},
                          problem_type="multi_label_classification"),
         [dict(), dict(top_k=None)]),
        ("tc-regression", dict(num_labels=1, id2label={0: "LABEL_0"}, problem_type="regression"),
         [dict(), dict(function_to_apply="none")]),
    ]:
        for seed in range(100, 200):
            torch.manual_seed(seed)
            model = BertForSequenceClassification(base_config(**kw)).eval()
            perturb(model, seed)
            d = save(name, model)
            pipe = pipeline("text-classification", model=d, tokenizer=d, device="cpu")
            recorded = []
            for c in calls:
                args = {k: v for k, v in c.items() if k != "pairs"}
                inputs = PAIRS if c.get("pairs") else TEXTS
                out = pipe(list(inputs), **args)
                recorded.append((c, inputs, out))
            gaps = [min_gap(o) for (c, i, o) in recorded if kw["num_labels"] > 1]
            if not gaps or min(gaps) >= 1e-3:
                break
        fixtures.append({"name": name, "seed": seed, "task": "text-classification", **{k: v for k, v in kw.items() if k != "id2label"}})
        for c, inputs, out in recorded:
            cases.append({"task": "text-classification", "fixture": name,
                          "args": {k: v for k, v in c.items() if k != "pairs"},
                          "inputs": inputs, "expected": rounded(out)})

    # feature-extraction: the last hidden state of every token (tokenize -> model -> hidden states)
    torch.manual_seed(300)
    model = BertModel(base_config()).eval()   # with its pooler: kiln reads BertModel checkpoints whole
    perturb(model, 300)
    d = save("fe-bert", model)
    pipe = pipeline("feature-extraction", model=d, tokenizer=d, device="cpu")
    out = pipe(TEXTS[:3])
    fixtures.append({"name": "fe-bert", "seed": 300, "task": "feature-extraction"})
    cases.append({"task": "feature-extraction", "fixture": "fe-bert", "args": {}, "inputs": TEXTS[:3], "expected": rounded(out)})
    # pooled: sentence-transformers' mean pooling (no modules.json) of the same token vectors
    pooled = [torch.tensor(o[0]).mean(dim=0).tolist() for o in pipe(TEXTS)]
    cases.append({"task": "feature-extraction", "fixture": "fe-bert", "args": {"pooled": True}, "inputs": TEXTS, "expected": rounded(pooled)})

    # fill-mask: the MLM head's decoder bias is made peaked (std 2) so top-k scores are apart;
    # seeds are picked on the logit margin (log of adjacent probabilities), as targets' probabilities are tiny
    MASKED = ["The cat sat on the [MASK].", "Paris is a [MASK] city", "[MASK] world", "The [MASK] and the [MASK] ran."]
    fm_calls = [dict(), dict(top_k=3), dict(targets=["paris", "cat", "dog", "the"]), dict(targets=["good", "world"], top_k=1)]
    for seed in range(400, 500):
        torch.manual_seed(seed)
        model = BertForMaskedLM(base_config()).eval()
        perturb(model, seed)
        with torch.no_grad():
            model.cls.predictions.bias.copy_(2.0 * torch.randn(model.cls.predictions.bias.shape))
        d = save("fm-bert", model)
        pipe = pipeline("fill-mask", model=d, tokenizer=d, device="cpu")
        recorded = [(c, pipe(list(MASKED), **c)) for c in fm_calls]

        def rows(out):
            for r in out:
                if r and isinstance(r[0], list):
                    yield from r
                else:
                    yield r
        if min(min_gap(list(rows(o)), log=True) for c, o in recorded) >= 1e-3:
            break
    fixtures.append({"name": "fm-bert", "seed": seed, "task": "fill-mask"})
    for c, out in recorded:
        cases.append({"task": "fill-mask", "fixture": "fm-bert", "args": c, "inputs": MASKED, "expected": rounded(out)})

    # token-classification (aggregation none): seeds with every token's top-2 logit margin >= 1e-3
    NER = ["My name is Wolfgang and I live in Berlin.", "Paris is a city", "hello",
           "Kiln compiles transformer checkpoints into native code.", "Zo\u00eb visited S\u00e3o Paulo \u2603 yesterday"]
    labels = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"}
    for seed in range(500, 600):
        torch.manual_seed(seed)
        model = BertForTokenClassification(base_config(num_labels=5, id2label=labels)).eval()
        perturb(model, seed)
        d = save("tok-bert", model)
        tok = AutoTokenizer.from_pretrained(d)
        with torch.no_grad():
            logits = model(**tok(NER, padding=True, return_tensors="pt")).logits
        top2 = logits.topk(2, dim=-1).values
        if (top2[..., 0] - top2[..., 1]).min().item() >= 1e-3:
            break
    pipe = pipeline("token-classification", model=d, tokenizer=d, device="cpu")
    fixtures.append({"name": "tok-bert", "seed": seed, "task": "token-classification"})
    for c in [dict(), dict(ignore_labels=[]), dict(aggregation_strategy="simple"),
              dict(aggregation_strategy="simple", ignore_labels=[]), dict(aggregation_strategy="first"),
              dict(aggregation_strategy="first", ignore_labels=[]), dict(aggregation_strategy="average", ignore_labels=[]),
              dict(aggregation_strategy="max", ignore_labels=[]), dict(aggregation_strategy="max")]:
        cases.append({"task": "token-classification", "fixture": "tok-bert", "args": c, "inputs": NER,
                      "expected": rounded(pipe(list(NER), **c))})

    # token-classification with a byte-level BPE tokenizer (RoBERTa): no sub-word prefix, so words are
    # found by Transformers' space heuristic
    BPE = os.path.join(HERE, "..", "fixtures", "tokenizer", "bytelevel-bpe")
    btok = AutoTokenizer.from_pretrained(BPE)
    for seed in range(800, 900):
        torch.manual_seed(seed)
        rcfg = RobertaConfig(vocab_size=len(btok), hidden_size=32, num_attention_heads=4, num_hidden_layers=2,
                             intermediate_size=37, max_position_embeddings=130, initializer_range=0.2, pad_token_id=btok.pad_token_id,
                             bos_token_id=btok.bos_token_id, eos_token_id=btok.eos_token_id, num_labels=5, id2label=labels)
        model = RobertaForTokenClassification(rcfg).eval()
        perturb(model, seed)
        d = os.path.join(OUT, "tok-roberta")
        shutil.rmtree(d, ignore_errors=True)
        model.save_pretrained(d, safe_serialization=True)
        for f in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(os.path.join(BPE, f), os.path.join(d, f))
        with torch.no_grad():
            logits = model(**btok(NER, padding=True, return_tensors="pt")).logits
        top2 = logits.topk(2, dim=-1).values
        if (top2[..., 0] - top2[..., 1]).min().item() >= 1e-3:
            break
    pipe = pipeline("token-classification", model=d, tokenizer=d, device="cpu")
    fixtures.append({"name": "tok-roberta", "seed": seed, "task": "token-classification"})
    for c in [dict(ignore_labels=[]), dict(aggregation_strategy="simple", ignore_labels=[]),
              dict(aggregation_strategy="first", ignore_labels=[]), dict(aggregation_strategy="average")]:
        cases.append({"task": "token-classification", "fixture": "tok-roberta", "args": c, "inputs": NER,
                      "expected": rounded(pipe(list(NER), **c))})

    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump({"generator": "tests/reference/make_pipeline_fixtures.py",
                   "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
                   "notes": ["expected: pipeline(task, model=dir)(list_of_inputs, **args), floats to 8 significant digits",
                             "compare labels identical, scores within 1e-4"],
                   "fixtures": fixtures, "cases": cases}, f, indent=1)
    print("wrote", len(cases), "cases to", OUT)


if __name__ == "__main__":
    main()
