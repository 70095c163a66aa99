#!/usr/bin/env python3
"""An independent NumPy forward pass for the BERT-family fixtures (no Transformers, no torch).

It reads config.json + model.safetensors the way kiln does and checks the recorded outputs_*.safetensors,
so the fixtures are known to mean what a from-scratch implementation computes (tensor names, tied weights,
RoBERTa position ids, activation variants, heads). Doubles as a readable spec of the math.

Usage: numpy_forward.py [MODELS_DIR]      exit status 1 on a mismatch (> 1e-4 absolute)
"""
import json
import math
import os
import sys

import struct

import numpy as np
from safetensors.numpy import load_file

HERE = os.path.dirname(os.path.abspath(__file__))


def erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


ACT = {
    "gelu": lambda x: 0.5 * x * (1.0 + erf(x / math.sqrt(2.0))),
    "gelu_new": lambda x: 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3))),
    "gelu_pytorch_tanh": lambda x: 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3))),
    "relu": lambda x: np.maximum(x, 0.0),
    "silu": lambda x: x / (1.0 + np.exp(-x)),
}


def layer_norm(x, g, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def linear(x, w, b=None):
    y = x @ w.T
    return y if b is None else y + b


def attention(x, W, prefix_q, prefix_k, prefix_v, prefix_o, heads, mask):
    B, S, H = x.shape
    d = H // heads

    def split(t):
        return t.reshape(B, S, heads, d).transpose(0, 2, 1, 3)

    q = split(linear(x, W[prefix_q + ".weight"], W[prefix_q + ".bias"]))
    k = split(linear(x, W[prefix_k + ".weight"], W[prefix_k + ".bias"]))
    v = split(linear(x, W[prefix_v + ".weight"], W[prefix_v + ".bias"]))
    s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d)
    s = np.where(mask[:, None, None, :] > 0, s, -np.inf)
    s = s - s.max(-1, keepdims=True)
    p = np.exp(s)
    p /= p.sum(-1, keepdims=True)
    o = (p @ v).transpose(0, 2, 1, 3).reshape(B, S, H)
    return linear(o, W[prefix_o + ".weight"], W[prefix_o + ".bias"])


def load_weights_f64(path):
    """Read a safetensors file by hand (header + raw little-endian data), upcasting F32/F16/BF16 to float64.

    Integer tensors are skipped."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        buf = data[a:b]
        if t["dtype"] == "F32":
            x = np.frombuffer(buf, "<f4")
        elif t["dtype"] == "F16":
            x = np.frombuffer(buf, "<f2")
        elif t["dtype"] == "BF16":
            x = (np.frombuffer(buf, "<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            continue  # e.g. the I64 embeddings.position_ids buffer that older checkpoints (MiniLM) carry
        out[name] = x.astype(np.float64).reshape(t["shape"])
    return out


def strip(W, prefix):
    """Base models are stored without the 'bert.'/'roberta.'/'distilbert.' prefix, head models with it."""
    if any(k.startswith(prefix + ".") for k in W):
        return {k[len(prefix) + 1:] if k.startswith(prefix + ".") else k: v for k, v in W.items()}
    return W


def bert_like(cfg, W, inp, roberta):
    ids = inp["input_ids"]
    mask = inp["attention_mask"]
    eps = cfg["layer_norm_eps"]
    act = ACT[cfg["hidden_act"]]
    if roberta:
        pad = cfg["pad_token_id"]
        m = (ids != pad).astype(np.int64)
        pos = np.cumsum(m, axis=1) * m + pad
    else:
        pos = np.broadcast_to(np.arange(ids.shape[1]), ids.shape)
    tt = inp.get("token_type_ids", np.zeros_like(ids))
    x = W["embeddings.word_embeddings.weight"][ids] + W["embeddings.token_type_embeddings.weight"][tt] \
        + W["embeddings.position_embeddings.weight"][pos]
    x = layer_norm(x, W["embeddings.LayerNorm.weight"], W["embeddings.LayerNorm.bias"], eps)
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        a = attention(x, W, p + "attention.self.query", p + "attention.self.key", p + "attention.self.value",
                      p + "attention.output.dense", cfg["num_attention_heads"], mask)
        x = layer_norm(a + x, W[p + "attention.output.LayerNorm.weight"], W[p + "attention.output.LayerNorm.bias"], eps)
        h = act(linear(x, W[p + "intermediate.dense.weight"], W[p + "intermediate.dense.bias"]))
        h = linear(h, W[p + "output.dense.weight"], W[p + "output.dense.bias"])
        x = layer_norm(h + x, W[p + "output.LayerNorm.weight"], W[p + "output.LayerNorm.bias"], eps)
    return x


def distilbert(cfg, W, inp):
    ids = inp["input_ids"]
    mask = inp["attention_mask"]
    act = ACT[cfg["activation"]]
    pos = np.arange(ids.shape[1])
    x = W["embeddings.word_embeddings.weight"][ids] + W["embeddings.position_embeddings.weight"][pos][None]
    x = layer_norm(x, W["embeddings.LayerNorm.weight"], W["embeddings.LayerNorm.bias"], 1e-12)
    for i in range(cfg["n_layers"]):
        p = f"transformer.layer.{i}."
        a = attention(x, W, p + "attention.q_lin", p + "attention.k_lin", p + "attention.v_lin",
                      p + "attention.out_lin", cfg["n_heads"], mask)
        x = layer_norm(a + x, W[p + "sa_layer_norm.weight"], W[p + "sa_layer_norm.bias"], 1e-12)
        h = linear(act(linear(x, W[p + "ffn.lin1.weight"], W[p + "ffn.lin1.bias"])),
                   W[p + "ffn.lin2.weight"], W[p + "ffn.lin2.bias"])
        x = layer_norm(h + x, W[p + "output_layer_norm.weight"], W[p + "output_layer_norm.bias"], 1e-12)
    return x


def forward(d, inp):
    cfg = json.load(open(os.path.join(d, "config.json")))
    raw = load_weights_f64(os.path.join(d, "model.safetensors"))
    mt = cfg["model_type"]
    arch = cfg["architectures"][0]
    W = strip(raw, mt)
    out = {}
    if mt == "distilbert":
        x = distilbert(cfg, W, inp)
        if arch.endswith("ForSequenceClassification"):
            h = np.maximum(linear(x[:, 0], W["pre_classifier.weight"], W["pre_classifier.bias"]), 0)
            out["logits"] = linear(h, W["classifier.weight"], W["classifier.bias"])
        elif arch.endswith("ForMaskedLM"):
            h = ACT[cfg["activation"]](linear(x, W["vocab_transform.weight"], W["vocab_transform.bias"]))
            h = layer_norm(h, W["vocab_layer_norm.weight"], W["vocab_layer_norm.bias"], 1e-12)
            out["logits"] = linear(h, W["embeddings.word_embeddings.weight"], W["vocab_projector.bias"])
    else:
        roberta = mt == "roberta"
        x = bert_like(cfg, W, inp, roberta)
        eps = cfg["layer_norm_eps"]
        if arch.endswith("Model"):
            out["pooler_output"] = np.tanh(linear(x[:, 0], W["pooler.dense.weight"], W["pooler.dense.bias"]))
        elif arch.endswith("ForSequenceClassification"):
            if roberta:
                h = np.tanh(linear(x[:, 0], W["classifier.dense.weight"], W["classifier.dense.bias"]))
                out["logits"] = linear(h, W["classifier.out_proj.weight"], W["classifier.out_proj.bias"])
            else:
                h = np.tanh(linear(x[:, 0], W["pooler.dense.weight"], W["pooler.dense.bias"]))
                out["logits"] = linear(h, W["classifier.weight"], W["classifier.bias"])
        elif arch.endswith("ForMaskedLM"):
            if roberta:
                h = ACT["gelu"](linear(x, W["lm_head.dense.weight"], W["lm_head.dense.bias"]))  # always erf gelu
                h = layer_norm(h, W["lm_head.layer_norm.weight"], W["lm_head.layer_norm.bias"], eps)
                out["logits"] = linear(h, W["embeddings.word_embeddings.weight"], W["lm_head.bias"])
            else:
                t = "cls.predictions.transform."
                h = ACT[cfg["hidden_act"]](linear(x, W[t + "dense.weight"], W[t + "dense.bias"]))
                h = layer_norm(h, W[t + "LayerNorm.weight"], W[t + "LayerNorm.bias"], eps)
                out["logits"] = linear(h, W["embeddings.word_embeddings.weight"], W["cls.predictions.bias"])
    if arch.endswith("ForTokenClassification"):
        out["logits"] = linear(x, W["classifier.weight"], W["classifier.bias"])
    elif arch.endswith("ForQuestionAnswering"):
        se = linear(x, W["qa_outputs.weight"], W["qa_outputs.bias"])
        out["start_logits"], out["end_logits"] = se[..., 0], se[..., 1]
    out["last_hidden_state"] = x
    return out


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.normpath(os.path.join(HERE, "..", "fixtures", "models"))
    man = json.load(open(os.path.join(root, "MANIFEST.json")))
    bad = 0
    for fx in man["fixtures"]:
        d = os.path.join(root, fx["name"])
        worst = 0.0
        for case in fx["cases"]:
            inp = load_file(os.path.join(d, f"inputs_{case}.safetensors"))
            ref = load_file(os.path.join(d, f"outputs_{case}.safetensors"))
            got = forward(d, inp)
            valid = inp["attention_mask"].astype(bool)
            assert set(got) == set(ref), (fx["name"], sorted(got), sorted(ref))
            for k, v in ref.items():
                diff = np.abs(got[k] - v)
                if diff.ndim >= 2 and diff.shape[:2] == valid.shape:
                    diff = diff[valid]  # unpadded positions only
                worst = max(worst, float(diff.max()))
        ok = worst <= 1e-4
        bad += not ok
        print(f"{fx['name']:24s} numpy vs recorded max|diff| {worst:.3g} {'ok' if ok else 'MISMATCH'}")
    print("all ok" if not bad else f"{bad} mismatches")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
