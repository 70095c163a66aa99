#!/usr/bin/env python3
"""Tiny random BERT / RoBERTa / DistilBERT checkpoints with recorded Transformers outputs.

Writes tests/fixtures/models/<name>/ for every fixture below:
  config.json, model.safetensors          (from save_pretrained, safe_serialization=True)
  inputs_<case>.safetensors               (int64; input_ids, attention_mask[, token_type_ids])
  outputs_<case>.safetensors              (float32; Transformers output names)
  outputs_native_<case>.safetensors       (f16/bf16 fixtures only: run in the native dtype, information only)
and tests/fixtures/models/MANIFEST.json.

Usage: make_bert_fixtures.py [OUT_DIR]   (default: tests/fixtures/models next to this script)

Reference outputs are always computed by reloading the saved checkpoint with
from_pretrained(dir, dtype=float32, attn_implementation="eager"), i.e. f16/bf16 weights upcast to f32,
which is how kiln computes such checkpoints.
"""
import json
import math
import os
import re
import shutil
import sys

import numpy as np
import torch
import transformers
from safetensors.torch import save_file
from transformers import (
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    BertConfig,
    DistilBertConfig,
    RobertaConfig,
)

transformers.logging.set_verbosity_error()
try:  # silence the "Loading weights" / "Writing model shards" progress bars
    transformers.utils.logging.disable_progress_bar()
except Exception:
    pass
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

torch.set_num_threads(1)  # deterministic reductions

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.normpath(os.path.join(HERE, "..", "fixtures", "models"))

# ---- sizes (shared by every fixture) -------------------------------------------------------------
VOCAB = 99
HIDDEN = 32
HEADS = 4
LAYERS = 2
INTER = 37  # odd on purpose
MAX_POS = 80  # RoBERTa needs >= pad_token_id + 1 + 64
INIT_RANGE = 0.2  # 10x the HF default so attention is far from uniform and activations differ visibly
MIN_MARGIN = 1e-3

CASES = ["seq1", "seq7", "seq64", "batch3"]
BATCH3_LENGTHS = [7, 3, 5]

PAD_ID = {"bert": 0, "roberta": 1, "distilbert": 0}

SST3 = ["NEGATIVE", "NEUTRAL", "POSITIVE"]
SST2 = ["NEGATIVE", "POSITIVE"]
TOXIC = ["toxic", "insult", "threat", "obscene"]
NER_A = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
NER_B = ["O", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]

# name, family, head, activation, extra config, dtype
FIXTURES = [
    ("bert-base", "bert", "base", "gelu", {}, "float32"),
    ("bert-seqcls", "bert", "seqcls", "relu",
     {"labels": SST3, "problem_type": "single_label_classification"}, "float32"),
    ("bert-multilabel", "bert", "seqcls", "gelu_new",
     {"labels": TOXIC, "problem_type": "multi_label_classification"}, "float32"),
    ("bert-regression", "bert", "seqcls", "silu", {"num_labels": 1, "problem_type": "regression"}, "float32"),
    ("bert-tokcls", "bert", "tokcls", "gelu_pytorch_tanh", {"labels": NER_A}, "float32"),
    ("bert-qa", "bert", "qa", "gelu", {}, "float32"),
    ("bert-mlm", "bert", "mlm", "gelu_new", {}, "float32"),
    ("roberta-base", "roberta", "base", "gelu", {}, "float32"),
    ("roberta-seqcls", "roberta", "seqcls", "gelu_pytorch_tanh",
     {"labels": SST3, "problem_type": "single_label_classification"}, "float32"),
    ("roberta-tokcls", "roberta", "tokcls", "relu", {"labels": NER_B}, "float32"),
    ("roberta-qa", "roberta", "qa", "silu", {}, "float32"),
    ("roberta-mlm", "roberta", "mlm", "gelu_new", {}, "float32"),
    ("distilbert-base", "distilbert", "base", "gelu", {}, "float32"),
    ("distilbert-seqcls", "distilbert", "seqcls", "relu",
     {"labels": SST2, "problem_type": "single_label_classification"}, "float32"),
    ("distilbert-tokcls", "distilbert", "tokcls", "silu", {"labels": NER_A}, "float32"),
    ("distilbert-qa", "distilbert", "qa", "gelu_new", {}, "float32"),
    ("distilbert-mlm", "distilbert", "mlm", "gelu_pytorch_tanh", {}, "float32"),
    ("distilbert-sinusoidal", "distilbert", "base", "gelu", {"sinusoidal_pos_embds": True}, "float32"),
    ("bert-f16", "bert", "base", "gelu", {}, "float16"),
    ("bert-bf16", "bert", "base", "gelu_new", {}, "bfloat16"),
]

AUTO = {
    "base": AutoModel,
    "seqcls": AutoModelForSequenceClassification,
    "tokcls": AutoModelForTokenClassification,
    "qa": AutoModelForQuestionAnswering,
    "mlm": AutoModelForMaskedLM,
}

HEAD_OUTPUTS = {
    "seqcls": ["logits"],
    "tokcls": ["logits"],
    "qa": ["start_logits", "end_logits"],
    "mlm": ["logits"],
}


def make_config(family, head, act, extra):
    common = dict(vocab_size=VOCAB, max_position_embeddings=MAX_POS, initializer_range=INIT_RANGE)
    if "labels" in extra:
        labels = extra["labels"]
        common["id2label"] = {i: l for i, l in enumerate(labels)}
        common["label2id"] = {l: i for i, l in enumerate(labels)}
    elif "num_labels" in extra:
        common["num_labels"] = extra["num_labels"]
    if "problem_type" in extra:
        common["problem_type"] = extra["problem_type"]
    if family == "bert":
        cfg = BertConfig(hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                         intermediate_size=INTER, type_vocab_size=2, hidden_act=act, pad_token_id=0,
                         layer_norm_eps=1e-12, **common)
    elif family == "roberta":
        # like the real roberta-base: pad 1, bos 0, eos 2, one token type, eps 1e-5
        cfg = RobertaConfig(hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                            intermediate_size=INTER, type_vocab_size=1, hidden_act=act, pad_token_id=1,
                            bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5, **common)
    elif family == "distilbert":
        cfg = DistilBertConfig(dim=HIDDEN, n_layers=LAYERS, n_heads=HEADS, hidden_dim=INTER, activation=act,
                               pad_token_id=0, sinusoidal_pos_embds=extra.get("sinusoidal_pos_embds", False),
                               **common)
    else:
        raise ValueError(family)
    return cfg


def make_inputs(family):
    """Inputs are fixed per family (seeded), independent of the model seed."""
    g = torch.Generator().manual_seed({"bert": 101, "roberta": 202, "distilbert": 303}[family])
    pad = PAD_ID[family]

    def ids(shape):
        x = torch.randint(3, VOCAB, shape, generator=g, dtype=torch.int64)
        assert not (x == pad).any()
        return x

    cases = {}
    for case, n in (("seq1", 1), ("seq7", 7), ("seq64", 64)):
        d = {"input_ids": ids((1, n)), "attention_mask": torch.ones((1, n), dtype=torch.int64)}
        if family == "bert":
            tt = torch.zeros((1, n), dtype=torch.int64)
            if n == 64:
                tt[:, 30:] = 1  # two segments
            d["token_type_ids"] = tt
        cases[case] = d
    L = max(BATCH3_LENGTHS)
    input_ids = torch.full((3, L), pad, dtype=torch.int64)
    mask = torch.zeros((3, L), dtype=torch.int64)
    for b, n in enumerate(BATCH3_LENGTHS):
        input_ids[b, :n] = ids((n,))
        mask[b, :n] = 1
    d = {"input_ids": input_ids, "attention_mask": mask}
    if family == "bert":
        tt = torch.zeros((3, L), dtype=torch.int64)
        tt[0, 4:7] = 1  # sequence 0: segments 0 0 0 0 1 1 1
        tt[1, 1:3] = 1  # sequence 1: segments 0 1 1 | pad
        d["token_type_ids"] = tt
    cases["batch3"] = d
    return cases


@torch.no_grad()
def perturb(model, seed):
    """Init leaves LayerNorm at gamma=1/beta=0 and biases at 0: make them non-trivial."""
    g = torch.Generator().manual_seed(seed * 7919 + 17)
    seen = set()
    ln_names = []
    for mname, mod in model.named_modules():
        if isinstance(mod, torch.nn.LayerNorm):
            mod.weight.add_(0.2 * torch.randn(mod.weight.shape, generator=g))
            mod.bias.add_(0.1 * torch.randn(mod.bias.shape, generator=g))
            seen.add(id(mod.weight))
            seen.add(id(mod.bias))
            ln_names.append(mname)
    for pname, p in model.named_parameters():  # named_parameters() yields each tied tensor once
        if id(p) in seen:
            continue
        if pname.endswith("bias"):
            p.add_(0.1 * torch.randn(p.shape, generator=g))
            seen.add(id(p))
    return ln_names


def valid_positions(inputs):
    return inputs["attention_mask"].bool()


def top_gaps(x, k):
    """Gaps between consecutive sorted values among the top k along the last axis."""
    k = min(k, x.shape[-1])
    if k < 2:
        return torch.full(x.shape[:-1] + (0,), float("inf"))
    v = torch.topk(x, k, dim=-1).values
    return v[..., :-1] - v[..., 1:]


def margins(head, num_labels, out, inputs):
    """Smallest top-2 margin (sorted-order gaps for small label sets) over every compared position."""
    m = float("inf")
    valid = valid_positions(inputs)
    if head == "seqcls":
        if num_labels < 2:
            return None
        m = min(m, float(top_gaps(out["logits"], num_labels).min()))  # full label order (top-k stable)
    elif head == "tokcls":
        g = top_gaps(out["logits"], 2)[..., 0]
        m = min(m, float(g[valid].min()))
    elif head == "mlm":
        g = top_gaps(out["logits"], 2)[..., 0]
        m = min(m, float(g[valid].min()))
    elif head == "qa":
        for name in ("start_logits", "end_logits"):
            x = out[name].masked_fill(~valid, -math.inf)
            for b in range(x.shape[0]):
                n = int(valid[b].sum())
                if n >= 2:
                    m = min(m, float(top_gaps(x[b], 2)[0]))
    else:
        return None
    return m


@torch.no_grad()
def run(model, head, inputs):
    res = model(**inputs, output_hidden_states=True, return_dict=True)
    out = {}
    if head == "base":
        out["last_hidden_state"] = res.last_hidden_state
        assert torch.equal(res.hidden_states[-1], res.last_hidden_state)
        if getattr(res, "pooler_output", None) is not None:
            out["pooler_output"] = res.pooler_output
    else:
        for n in HEAD_OUTPUTS[head]:
            out[n] = getattr(res, n)
        out["last_hidden_state"] = res.hidden_states[-1]
    return out


def to_f32(out):
    return {k: v.detach().float().contiguous() for k, v in out.items()}


def sinusoidal_table(n_pos, dim):
    pe = np.array([[pos / np.power(10000, 2 * (j // 2) / dim) for j in range(dim)] for pos in range(n_pos)])
    t = torch.zeros(n_pos, dim)
    t[:, 0::2] = torch.FloatTensor(np.sin(pe[:, 0::2]))
    t[:, 1::2] = torch.FloatTensor(np.cos(pe[:, 1::2]))
    return t


def build(name, family, head, act, extra, dtype, out_dir, base_seed):
    cfg_probe = make_config(family, head, act, extra)
    num_labels = cfg_probe.num_labels
    inputs = make_inputs(family)
    auto = AUTO[head]
    tdtype = getattr(torch, dtype)

    chosen = None
    for seed in range(base_seed, base_seed + 1000):
        torch.manual_seed(seed)
        cfg = make_config(family, head, act, extra)
        model = auto.from_config(cfg, attn_implementation="eager")
        model.eval()
        perturb(model, seed)
        if dtype != "float32":
            model = model.to(tdtype)
        # margins of the model as kiln will compute it (weights as saved, math in f32)
        m32 = model.float() if dtype != "float32" else model
        outs = {c: run(m32, head, inputs[c]) for c in CASES}
        ms = [margins(head, num_labels, outs[c], inputs[c]) for c in CASES]
        ms = [x for x in ms if x is not None]
        min_margin = min(ms) if ms else None
        if min_margin is None or min_margin >= MIN_MARGIN:
            chosen = seed
            if dtype != "float32":
                model = model.to(tdtype)
            break
    assert chosen is not None, f"{name}: no seed with margins >= {MIN_MARGIN}"

    d = os.path.join(out_dir, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    model.save_pretrained(d, safe_serialization=True)
    files = sorted(os.listdir(d))
    assert files == ["config.json", "model.safetensors"], files

    # reference outputs: reload and upcast to f32 (what kiln computes)
    ref = auto.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
    assert ref.config._attn_implementation == "eager"
    if extra.get("sinusoidal_pos_embds"):
        pe = ref.distilbert.embeddings.position_embeddings.weight if head != "base" else \
            ref.embeddings.position_embeddings.weight
        assert torch.allclose(pe, sinusoidal_table(MAX_POS, HIDDEN), atol=1e-6), "sinusoidal table mismatch"

    case_info = {}
    for c in CASES:
        out = to_f32(run(ref, head, inputs[c]))
        if dtype == "float32":  # reload must reproduce the in-memory model exactly
            for k in out:
                assert torch.equal(out[k], outs[c][k].float()), (name, c, k)
        save_file({k: v.contiguous() for k, v in inputs[c].items()}, os.path.join(d, f"inputs_{c}.safetensors"))
        save_file(out, os.path.join(d, f"outputs_{c}.safetensors"))
        info = {
            "inputs": {k: list(v.shape) for k, v in inputs[c].items()},
            "outputs": {k: list(v.shape) for k, v in out.items()},
        }
        if dtype != "float32":
            nat = auto.from_pretrained(d, dtype=tdtype, attn_implementation="eager").eval()
            try:
                nout = to_f32(run(nat, head, inputs[c]))
                save_file(nout, os.path.join(d, f"outputs_native_{c}.safetensors"))
                info["native_max_abs_diff"] = {k: float((nout[k] - out[k]).abs().max()) for k in out}
            except Exception as e:  # torch CPU without this dtype
                info["native_error"] = repr(e)
        case_info[c] = info

    for f in os.listdir(d):  # safetensors writes 0600; make the fixtures world-readable like the rest of the tree
        os.chmod(os.path.join(d, f), 0o644)

    ref_cfg = ref.config
    entry = {
        "name": name,
        "model_type": ref_cfg.model_type,
        "architecture": ref_cfg.architectures[0],
        "family": family,
        "head": head,
        "dtype": dtype,
        "activation": act,
        "activation_field": "activation" if family == "distilbert" else "hidden_act",
        "pad_token_id": ref_cfg.pad_token_id,
        "seed": chosen,
        "cases": case_info,
        "output_names": list(case_info["seq1"]["outputs"].keys()),
    }
    if head in ("seqcls", "tokcls"):
        entry["num_labels"] = ref_cfg.num_labels
        entry["id2label"] = {str(k): v for k, v in ref_cfg.id2label.items()}
        entry["problem_type"] = ref_cfg.problem_type
    if min_margin is not None:
        entry["min_top2_margin"] = min_margin
    notes = []
    if family == "roberta":
        notes.append("position ids = cumsum(input_ids != pad) * (input_ids != pad) + pad_token_id (start at 2; "
                     "padding tokens get position 1); no token_type_ids given: type 0 (type_vocab_size 1); "
                     "layer_norm_eps 1e-5")
    if family == "distilbert":
        notes.append("no token_type_ids; activation in config field 'activation'; LayerNorm eps hard-coded 1e-12")
    if extra.get("sinusoidal_pos_embds"):
        notes.append("sinusoidal_pos_embds=true: position_embeddings.weight is still stored in the checkpoint and "
                     "equals the sinusoidal table (sin on even, cos on odd columns)")
    if head == "mlm":
        notes.append("decoder weight tied to word embeddings and not stored in model.safetensors")
    if family == "roberta" and head == "mlm":
        notes.append("RobertaLMHead uses exact (erf) gelu regardless of hidden_act")
    if head == "seqcls" and family == "roberta":
        notes.append("RobertaClassificationHead: <s> token -> dense -> tanh -> out_proj (no pooler)")
    if head == "seqcls" and family == "distilbert":
        notes.append("pre_classifier -> ReLU -> classifier on token 0")
    if head == "seqcls" and family == "bert":
        notes.append("pooler (dense+tanh on token 0) -> classifier")
    if head == "seqcls" and ref_cfg.problem_type == "multi_label_classification":
        notes.append("pipeline applies sigmoid per label")
    if head == "seqcls" and ref_cfg.problem_type == "regression":
        notes.append("num_labels 1: pipeline returns the raw score (function_to_apply none)")
    if dtype != "float32":
        notes.append(f"weights stored as {dtype}; outputs_* computed with the weights upcast to float32 (compare at "
                     f"f32 tolerance); outputs_native_* ran in {dtype} on torch CPU, information only "
                     "(native_max_abs_diff per case: how far native-dtype math lands from the f32 reference)")
    entry["notes"] = notes
    return entry, sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT
    os.makedirs(out_dir, exist_ok=True)
    entries = []
    total = 0
    for i, (name, family, head, act, extra, dtype) in enumerate(FIXTURES):
        entry, size = build(name, family, head, act, extra, dtype, out_dir, base_seed=1000 * (i + 1))
        total += size
        entry["bytes"] = size
        entries.append(entry)
        print(f"{name:24s} seed={entry['seed']:<6d} margin={entry.get('min_top2_margin')} bytes={size}")
    manifest = {
        "generator": "tests/reference/make_bert_fixtures.py",
        "versions": {"torch": torch.__version__.split("+")[0], "transformers": transformers.__version__,
                     "safetensors": __import__("safetensors").__version__, "numpy": np.__version__},
        "sizes": {"vocab_size": VOCAB, "hidden_size": HIDDEN, "num_attention_heads": HEADS,
                  "num_hidden_layers": LAYERS, "intermediate_size": INTER, "max_position_embeddings": MAX_POS,
                  "initializer_range": INIT_RANGE},
        "cases": {"seq1": "batch 1, length 1", "seq7": "batch 1, length 7",
                  "seq64": "batch 1, length 64 (BERT: token_type_ids 1 from position 30)",
                  "batch3": "batch 3, lengths 7,3,5 right-padded with pad_token_id to 7, attention_mask 0 on "
                            "padding (BERT: token_type_ids 0001111 / 011 / 00000)"},
        "notes": [
            "inputs_*: int64, names as Transformers takes them; outputs_*: float32, names as Transformers "
            "returns them; head models also carry the encoder's last_hidden_state (hidden_states[-1])",
            "outputs at padded positions (attention_mask 0) are what Transformers computes (padded queries "
            "attend to the real keys) but tests should compare only unpadded positions",
            "attention: eager; LayerNorm gamma/beta and every bias perturbed with noise after init; "
            "initializer_range 0.2 so attention is not uniform",
            "argmax margins: min_top2_margin is the smallest top-2 logit gap over every unpadded position "
            "(seqcls: every gap of the sorted label order) across all cases; always >= 1e-3",
            "tolerance hints: f32 outputs agree with kiln's f32 math to ~1e-5 relative to the scale of the sums; "
            "f16/bf16 fixtures: compare outputs_* (f32 math on upcast weights) at the same tolerance",
            "config.json is written by transformers 5: 'dtype' (not 'torch_dtype'); id2label omitted when it is "
            "the default 2 labels; no 'position_embedding_type' field",
        ],
        "total_bytes": total,
        "fixtures": entries,
    }
    text = json.dumps(manifest, indent=1)
    # keep shapes on one line: [\n  1,\n  7\n ] -> [1, 7]
    text = re.sub(r"\[\s*(-?\d+(?:,\s*-?\d+)*)\s*\]", lambda m: "[" + ", ".join(m.group(1).replace(",", " ").split()) + "]", text)
    with open(os.path.join(out_dir, "MANIFEST.json"), "w") as f:
        f.write(text + "\n")
    print(f"total {total} bytes in {len(entries)} fixtures")


if __name__ == "__main__":
    main()
