#!/usr/bin/env python3
"""Tiny GGUF files, written with PyPI gguf's GGUFWriter, and what kiln must read out of them.

Writes tests/fixtures/gguf/:
  tiny-llama-<t>.gguf           a tiny random LlamaForCausalLM (transformers) converted the way llama.cpp's
                                convert_hf_to_gguf.py does it: llama.cpp tensor names (token_embd.weight,
                                blk.N.attn_q.weight, ..., output_norm.weight, output.weight), attn_q/attn_k rows
                                permuted for ggml's interleaved RoPE, llama.* hyperparameters, tokenizer.ggml.*
                                with a tiny byte-level-BPE-style vocabulary, general.file_type.
                                <t> = f32, f16, q8_0, q4_0, q4_1, q4_k, q6_k: 2-D weights in that type, norms in F32
                                (as llama.cpp does); for q4_k/q6_k only tensors whose rows split into 256-element
                                super-blocks (the ffn_down weights) take the K-quant, the rest fall back to Q8_0.
  tiny-llama-logits.safetensors input_ids (i64 [1, 8]) and logits_<t> (f32 [1, 8, vocab]): Transformers (eager,
                                f32) run on the weights as kiln reads them, i.e. each GGUF tensor dequantized by
                                gguf.quants.dequantize, q/k un-permuted. This is kiln's documented semantics for
                                quantized weights (common/quant.h): f32 activations, dequantized f32 weights.
  blocks.gguf                   every type kiln reads (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q6_K), tensors
                                "<type>.random" (quantized from random rows of different scales), "<type>.bits"
                                (quantized types: arbitrary block bytes with finite f16 scales, so every nibble
                                and bit pattern is seen), "<type>.special" (zeros, constants, ties, tiny values),
                                "q8_0.from_source" (gguf's Q8_0 quantization of the f32 rows "q8_0_source"), and
                                metadata keys "kiln.test.*" of every GGUF value type, arrays and nested arrays.
  blocks-reference.safetensors  gguf.quants.dequantize of every blocks.gguf tensor (same names, f32, HF shape);
                                "q8_0_source" and "q8_K_source" (f32 rows); "q8_K_d" (f32), "q8_K_qs",
                                "q8_K_bsums" (i32): ggml's quantize_row_q8_K_ref of q8_K_source, ported below.
  MANIFEST.json                 per file: version, alignment, every key/value (type and value), every tensor
                                (name, ggml type, shape in PyTorch order, offset into the data section, bytes) and a
                                checksum of its gguf-dequantized f32 values (see checksum()), so the C test checks
                                every tensor of every file bit-exactly without storing its values. 64-bit integers
                                past 2^53 are written as decimal strings (JSON numbers are doubles).

Q4_K and Q6_K: gguf 0.19 cannot quantize them, so quantize_q4_k / quantize_q6_k below build the blocks in
numpy (a plain min/max search, not llama.cpp's optimizer) and assert that gguf.quants.dequantize of those blocks
reconstructs the input closely; the references are always gguf's dequantization, never this script's.

Usage: make_gguf_fixtures.py [OUT_DIR]   (default: tests/fixtures/gguf next to this script)
Deterministic: fixed seeds, one torch thread; rerunning reproduces the files byte for byte.
"""
import json
import os
import sys

import numpy as np
import torch
import transformers
from safetensors.numpy import save_file

import gguf
from gguf import GGMLQuantizationType as QT
from gguf import GGUFValueType as VT

transformers.logging.set_verbosity_error()
torch.set_num_threads(1)

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.normpath(os.path.join(HERE, "..", "fixtures", "gguf"))

# ---- the tiny model -------------------------------------------------------------------------------
VOCAB = 64
HIDDEN = 32
INTER = 256        # ffn_down rows are 256 long: the one weight that K-quants can take
LAYERS = 2
HEADS = 4
KV_HEADS = 2       # grouped-query attention, as SmolLM2 has
CONTEXT = 128
ROPE_THETA = 10000.0
RMS_EPS = 1e-5
INIT_RANGE = 0.1
SEQ = 8
MIN_MARGIN = 1e-3  # every compared argmax has a top-2 logit margin at least this large

FILE_TYPES = {  # fixture name -> (type of 2-D weights, llama.cpp's general.file_type)
    "f32": (QT.F32, 0),
    "f16": (QT.F16, 1),
    "q8_0": (QT.Q8_0, 7),
    "q4_0": (QT.Q4_0, 2),
    "q4_1": (QT.Q4_1, 3),
    "q4_k": (QT.Q4_K, 15),   # LLAMA_FTYPE_MOSTLY_Q4_K_M
    "q6_k": (QT.Q6_K, 18),
}

CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def checksum(values: np.ndarray) -> str:
    """sum_i bits(values[i]) * (2i + 1) mod 2^64, as 16 hex digits: the f32 bit patterns weighted by odd numbers,
    so any change to any one element changes it. Vectorised (a real model's 135M values take seconds);
    tests/gguf/gguf_test_util.h computes the same in C."""
    bits = np.ascontiguousarray(values, dtype="<f4").reshape(-1).view("<u4").astype(np.uint64)
    weights = np.arange(bits.size, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    return f"{int(np.sum(bits * weights, dtype=np.uint64)):016x}"


# ---- K-quant blocks in numpy (gguf cannot quantize these) ------------------------------------------

def f16(x):
    return np.asarray(x, dtype=np.float32).astype(np.float16)


def quantize_q4_k(rows: np.ndarray) -> np.ndarray:
    blocks = rows.reshape(-1, 256).astype(np.float32)
    out = np.zeros((blocks.shape[0], 144), dtype=np.uint8)
    for i, x in enumerate(blocks):
        sub = x.reshape(8, 32)
        mins = np.maximum(-sub.min(axis=1), 0)                   # y = d*sc*q - dmin*m, so m covers -min
        scales = (sub.max(axis=1) + mins) / 15
        d = f16(scales.max() / 63)
        dmin = f16(mins.max() / 63)
        sc = np.clip(np.round(scales / np.float32(d)) if d else np.zeros(8), 0, 63).astype(np.int64)
        mn = np.clip(np.round(mins / np.float32(dmin)) if dmin else np.zeros(8), 0, 63).astype(np.int64)
        d1 = np.float32(d) * sc.astype(np.float32)
        m1 = np.float32(dmin) * mn.astype(np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.where(d1[:, None] > 0, np.round((sub + m1[:, None]) / d1[:, None]), 0)
        q = np.clip(q, 0, 15).astype(np.uint8)
        s = np.zeros(12, dtype=np.uint8)
        for j in range(4):
            s[j] = sc[j] | ((sc[j + 4] >> 4) << 6)
            s[j + 4] = mn[j] | ((mn[j + 4] >> 4) << 6)
            s[j + 8] = (sc[j + 4] & 0xF) | ((mn[j + 4] & 0xF) << 4)
        qs = np.zeros(128, dtype=np.uint8)
        for k in range(4):
            qs[32 * k:32 * k + 32] = q[2 * k] | (q[2 * k + 1] << 4)
        out[i] = np.concatenate([d.reshape(1).view(np.uint8), dmin.reshape(1).view(np.uint8), s, qs])
    return out.reshape(*rows.shape[:-1], rows.shape[-1] // 256 * 144)


def quantize_q6_k(rows: np.ndarray) -> np.ndarray:
    blocks = rows.reshape(-1, 256).astype(np.float32)
    out = np.zeros((blocks.shape[0], 210), dtype=np.uint8)
    for i, x in enumerate(blocks):
        groups = x.reshape(16, 16)
        gscale = np.abs(groups).max(axis=1) / 31
        d = f16(gscale.max() / 127)
        sc = np.clip(np.round(gscale / np.float32(d)) if d else np.zeros(16), -128, 127).astype(np.int8)
        dg = np.float32(d) * sc.astype(np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.where(dg[:, None] != 0, np.round(groups / dg[:, None]), 0)
        q = (np.clip(q, -32, 31) + 32).astype(np.uint8).reshape(256)
        ql = np.zeros(128, dtype=np.uint8)
        qh = np.zeros(64, dtype=np.uint8)
        for e in range(256):
            h, r = divmod(e, 128)
            ql[64 * h + r % 64] |= (q[e] & 0xF) << (4 * (r // 64))
            qh[32 * h + r % 32] |= (q[e] >> 4) << (2 * (r // 32))
        out[i] = np.concatenate([ql, qh, sc.view(np.uint8), d.reshape(1).view(np.uint8)])
    return out.reshape(*rows.shape[:-1], rows.shape[-1] // 256 * 210)


def quantize(x: np.ndarray, qtype) -> np.ndarray:
    """The stored form of f32 `x` in qtype: what GGUFWriter.add_tensor takes (uint8 bytes for block types)."""
    if qtype == QT.F32:
        return x.astype(np.float32)
    if qtype == QT.F16:
        return x.astype(np.float16)
    if qtype == QT.Q4_K:
        q = quantize_q4_k(x)
    elif qtype == QT.Q6_K:
        q = quantize_q6_k(x)
    else:
        return gguf.quants.quantize(x.astype(np.float32), qtype)
    back = gguf.quants.dequantize(q, qtype)
    nmse = float(np.sum((back - x) ** 2) / max(np.sum(x.astype(np.float64) ** 2), 1e-30))
    assert nmse < (2e-2 if qtype == QT.Q4_K else 2e-3), (qtype.name, nmse)   # a packing bug gives ~1
    return q


def dequantize(stored: np.ndarray, qtype) -> np.ndarray:
    if qtype == QT.F32:
        return stored.astype(np.float32)
    if qtype == QT.F16:
        return stored.astype(np.float32)
    return gguf.quants.dequantize(stored, qtype).astype(np.float32)


# ---- the tiny LLaMA ------------------------------------------------------------------------------

def tiny_vocab():
    """64 tokens in GPT-2's byte-level spelling (Ġ is a space), with merges that build the longer ones."""
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    chars = list("Ġetaoinshrdlucmwfgypbvk.,!?'") + ["Ċ"]
    merges, merged = [], []
    pairs = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a"), ("e", "r"), ("o", "n"), ("Ġ", "s"),
             ("e", "d"), ("i", "s"), ("a", "t"), ("Ġ", "w"), ("o", "r"), ("Ġ", "o"), ("e", "n"), ("Ġ", "c"),
             ("in", "g"), ("Ġ", "b"), ("Ġ", "f"), ("a", "n"), ("Ġthe", "r"), ("Ġ", "h"), ("l", "l"), ("Ġa", "n"),
             ("r", "e"), ("o", "u"), ("Ġ", "m"), ("Ġ", "i"), ("Ġ", "d"), ("i", "t"), ("e", "s"), ("o", "w")]
    for a, b in pairs:
        merges.append(f"{a} {b}")
        merged.append(a + b)
    tokens = specials + chars + merged
    assert len(tokens) == VOCAB and len(set(tokens)) == VOCAB, len(tokens)
    types = [3] * len(specials) + [1] * (len(chars) + len(merged))   # 3 control, 1 normal
    return tokens, types, merges


def hf_to_gguf_names(n_layers):
    m = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
         "lm_head.weight": "output.weight"}
    for i in range(n_layers):
        p, q = f"model.layers.{i}.", f"blk.{i}."
        m.update({p + "input_layernorm.weight": q + "attn_norm.weight",
                  p + "self_attn.q_proj.weight": q + "attn_q.weight",
                  p + "self_attn.k_proj.weight": q + "attn_k.weight",
                  p + "self_attn.v_proj.weight": q + "attn_v.weight",
                  p + "self_attn.o_proj.weight": q + "attn_output.weight",
                  p + "post_attention_layernorm.weight": q + "ffn_norm.weight",
                  p + "mlp.gate_proj.weight": q + "ffn_gate.weight",
                  p + "mlp.up_proj.weight": q + "ffn_up.weight",
                  p + "mlp.down_proj.weight": q + "ffn_down.weight"})
    return m


def permute(w, n_head):
    """convert_hf_to_gguf.py's LlamaModel.permute: HF's rotate-half layout -> ggml's interleaved pairs."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute(w, n_head):
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def make_model(seed):
    torch.manual_seed(seed)
    cfg = transformers.LlamaConfig(
        vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=INTER, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, max_position_embeddings=CONTEXT,
        rms_norm_eps=RMS_EPS, rope_theta=ROPE_THETA, tie_word_embeddings=False, initializer_range=INIT_RANGE,
        bos_token_id=1, eos_token_id=2, pad_token_id=2, attn_implementation="eager")
    model = transformers.LlamaForCausalLM(cfg).eval()
    with torch.no_grad():   # norms away from 1 so that a missing norm weight shows
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
    return model


def top2_margin(logits):
    s = np.sort(logits.reshape(-1, logits.shape[-1]), axis=-1)
    return float((s[:, -1] - s[:, -2]).min())


def run_with_weights(model, weights):
    """Transformers' logits with the model's parameters replaced by `weights` (HF names, f32 numpy)."""
    m = make_model(0)
    m.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in weights.items()}, strict=True)
    ids = torch.tensor([INPUT_IDS], dtype=torch.long)
    with torch.no_grad():
        return m(input_ids=ids).logits.float().numpy()


INPUT_IDS = [1, 35, 3, 47, 10, 60, 22, 5]


def tensor_type_for(fixture_type, gguf_name, shape):
    if len(shape) == 1:
        return QT.F32
    if fixture_type in (QT.Q4_K, QT.Q6_K) and shape[-1] % 256 != 0:
        return QT.Q8_0
    return fixture_type


def write_llama(out_dir, model, name, qtype, file_type, manifest):
    path = os.path.join(out_dir, f"tiny-llama-{name}.gguf")
    w = gguf.GGUFWriter(path, "llama")
    kv = []   # (key, value type, value, array element type) as written, for the manifest

    def add(key, vtype, value, sub=None):
        w.add_key_value(key, value, vtype, sub_type=sub)
        kv.append((key, vtype, value, sub))

    add("general.name", VT.STRING, f"kiln tiny llama {name}")
    add("general.file_type", VT.UINT32, file_type)
    if qtype not in (QT.F32, QT.F16):
        add("general.quantization_version", VT.UINT32, 2)
    add("llama.vocab_size", VT.UINT32, VOCAB)
    add("llama.context_length", VT.UINT32, CONTEXT)
    add("llama.embedding_length", VT.UINT32, HIDDEN)
    add("llama.block_count", VT.UINT32, LAYERS)
    add("llama.feed_forward_length", VT.UINT32, INTER)
    add("llama.rope.dimension_count", VT.UINT32, HIDDEN // HEADS)
    add("llama.attention.head_count", VT.UINT32, HEADS)
    add("llama.attention.head_count_kv", VT.UINT32, KV_HEADS)
    add("llama.attention.layer_norm_rms_epsilon", VT.FLOAT32, RMS_EPS)
    add("llama.rope.freq_base", VT.FLOAT32, ROPE_THETA)
    tokens, types, merges = tiny_vocab()
    add("tokenizer.ggml.model", VT.STRING, "gpt2")
    add("tokenizer.ggml.pre", VT.STRING, "smollm")
    add("tokenizer.ggml.tokens", VT.ARRAY, tokens, VT.STRING)
    add("tokenizer.ggml.token_type", VT.ARRAY, types, VT.INT32)
    add("tokenizer.ggml.merges", VT.ARRAY, merges, VT.STRING)
    add("tokenizer.ggml.bos_token_id", VT.UINT32, 1)
    add("tokenizer.ggml.eos_token_id", VT.UINT32, 2)
    add("tokenizer.ggml.unknown_token_id", VT.UINT32, 0)
    add("tokenizer.ggml.padding_token_id", VT.UINT32, 2)
    add("tokenizer.ggml.add_bos_token", VT.BOOL, False)
    add("tokenizer.chat_template", VT.STRING, CHAT_TEMPLATE)

    names = hf_to_gguf_names(LAYERS)
    state = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    as_read = {}   # HF name -> f32 weights as kiln reads them (dequantized, un-permuted)
    for hf_name, x in state.items():
        gname = names[hf_name]
        if gname.endswith("attn_q.weight"):
            x = permute(x, HEADS)
        elif gname.endswith("attn_k.weight"):
            x = permute(x, KV_HEADS)
        ttype = tensor_type_for(qtype, gname, x.shape)
        stored = quantize(x, ttype)
        w.add_tensor(gname, stored, raw_dtype=ttype if ttype not in (QT.F32, QT.F16) else None)
        back = dequantize(stored, ttype).reshape(x.shape)
        if gname.endswith("attn_q.weight"):
            back = unpermute(back, HEADS)
        elif gname.endswith("attn_k.weight"):
            back = unpermute(back, KV_HEADS)
        as_read[hf_name] = back
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    manifest[os.path.basename(path)] = describe_file(path, kv)
    return run_with_weights(model, as_read)


# ---- describing a file with gguf's own reader ----------------------------------------------------

def json_value(vtype, value, sub):
    if vtype == VT.ARRAY:
        items = list(value)
        if sub is None:   # nested: element types inferred by the writer
            sub = VT.ARRAY if isinstance(items[0], (list, tuple)) else VT.get_type(items[0])
        return {"type": sub.name.lower(), "n": len(items),
                "values": [json_value(sub, v, None) for v in items]}
    if vtype == VT.FLOAT32:
        return float(np.float32(value))
    if vtype == VT.FLOAT64:
        return float(value)
    if vtype == VT.BOOL:
        return bool(value)
    if vtype == VT.STRING:
        return value
    if abs(int(value)) > 2 ** 53:
        return str(int(value))
    return int(value)


TYPE_NAMES = {VT.UINT8: "u8", VT.INT8: "i8", VT.UINT16: "u16", VT.INT16: "i16", VT.UINT32: "u32",
              VT.INT32: "i32", VT.FLOAT32: "f32", VT.BOOL: "bool", VT.STRING: "string", VT.ARRAY: "array",
              VT.UINT64: "u64", VT.INT64: "i64", VT.FLOAT64: "f64"}


def fix_type_names(v):
    if isinstance(v, dict):
        v = dict(v)
        v["type"] = TYPE_NAMES[VT[v["type"].upper()]]
        v["values"] = [fix_type_names(x) for x in v["values"]]
    return v


def describe_file(path, kv):
    r = gguf.GGUFReader(path)
    # The writer adds general.architecture itself; take it (and anything else) from the reader.
    written = {k for k, _, _, _ in kv}
    kvs = []
    for f in r.fields.values():
        if f.name.startswith("GGUF."):
            continue
        if f.name not in written:
            assert f.types[0] == VT.STRING, f.name
            kvs.append({"key": f.name, "type": "string", "value": f.contents()})
    for key, vtype, value, sub in kv:
        kvs.append({"key": key, "type": TYPE_NAMES[vtype], "value": fix_type_names(json_value(vtype, value, sub))})
    order = [f.name for f in r.fields.values() if not f.name.startswith("GGUF.")]
    kvs.sort(key=lambda e: order.index(e["key"]))
    tensors = []
    for t in r.tensors:
        shape = [int(s) for s in reversed(t.shape.tolist())]
        values = dequantize(np.asarray(t.data), t.tensor_type).reshape(-1)
        tensors.append({"name": t.name, "ggml_type": t.tensor_type.name, "ggml_type_id": int(t.tensor_type),
                        "shape": shape, "offset": int(t.data_offset - r.data_offset), "size_bytes": int(t.n_bytes),
                        "dequant_checksum": checksum(values)})
    return {"version": 3, "alignment": int(r.alignment), "data_offset": int(r.data_offset), "kv": kvs,
            "tensors": tensors}


# ---- blocks.gguf: every type, odd bit patterns ----------------------------------------------------

BLOCK_TYPES = [QT.F32, QT.F16, QT.BF16, QT.Q8_0, QT.Q4_0, QT.Q4_1, QT.Q4_K, QT.Q6_K]


def random_bits(qtype, n_blocks, rng):
    """Arbitrary block bytes whose f16 scale fields hold finite values of either sign."""
    size = gguf.GGML_QUANT_SIZES[qtype][1]
    b = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint8)
    scale_at = {QT.Q8_0: [0], QT.Q4_0: [0], QT.Q4_1: [0, 2], QT.Q4_K: [0, 2], QT.Q6_K: [208]}[qtype]
    for off in scale_at:
        vals = f16(rng.uniform(-2, 2, size=n_blocks) * 10.0 ** rng.integers(-6, 3, size=n_blocks))
        b[:, off:off + 2] = vals.view(np.uint8).reshape(n_blocks, 2)
    return b


def special_rows(qtype):
    bs = 256 if qtype in (QT.Q4_K, QT.Q6_K) else 32
    n = 512
    rows = np.zeros((4, n), dtype=np.float32)
    rows[1] = 3.25                                               # constant blocks
    ramp = (np.arange(n) % bs - bs / 2).astype(np.float32)
    rows[2] = ramp * np.float32(127 / (bs / 2)) / 2              # many values on rounding ties
    rows[2, ::bs] = 127.0
    rows[3] = np.float32(1e-7) * np.sin(np.arange(n, dtype=np.float32))   # scales in f16's subnormal range
    rows[3, 256:] *= -1e9
    return rows


def write_blocks(out_dir, manifest, refs):
    rng = np.random.default_rng(6)
    path = os.path.join(out_dir, "blocks.gguf")
    w = gguf.GGUFWriter(path, "kiln-test")
    kv = []

    def add(key, vtype, value, sub=None):
        w.add_key_value(key, value, vtype, sub_type=sub)
        kv.append((key, vtype, value, sub))

    add("kiln.test.u8", VT.UINT8, 200)
    add("kiln.test.i8", VT.INT8, -100)
    add("kiln.test.u16", VT.UINT16, 65000)
    add("kiln.test.i16", VT.INT16, -32000)
    add("kiln.test.u32", VT.UINT32, 4000000000)
    add("kiln.test.i32", VT.INT32, -2000000000)
    add("kiln.test.f32", VT.FLOAT32, 0.1)
    add("kiln.test.bool", VT.BOOL, True)
    add("kiln.test.string", VT.STRING, "héllo, wörld")
    add("kiln.test.u64", VT.UINT64, 18000000000000000000)
    add("kiln.test.i64", VT.INT64, -9000000000000000000)
    add("kiln.test.f64", VT.FLOAT64, 2.5e-300)
    add("kiln.test.empty_string", VT.STRING, "")
    add("kiln.test.array_u8", VT.ARRAY, [0, 1, 255], VT.UINT8)
    add("kiln.test.array_i16", VT.ARRAY, [-32768, 0, 32767], VT.INT16)
    add("kiln.test.array_f32", VT.ARRAY, [0.5, -1.25, 3.0e38], VT.FLOAT32)
    add("kiln.test.array_f64", VT.ARRAY, [1.0 / 3.0, -0.0], VT.FLOAT64)
    add("kiln.test.array_i32", VT.ARRAY, [-1, 2, -3, 2147483647], VT.INT32)
    add("kiln.test.array_u32", VT.ARRAY, [7, 8, 9], VT.UINT32)
    add("kiln.test.array_i64", VT.ARRAY, [-(2 ** 63), 2 ** 63 - 1], VT.INT64)
    add("kiln.test.array_u64", VT.ARRAY, [2 ** 64 - 1], VT.UINT64)
    add("kiln.test.array_bool", VT.ARRAY, [True, False, True], VT.BOOL)
    add("kiln.test.array_string", VT.ARRAY, ["a", "", "ünïcode", "x y"], VT.STRING)
    add("kiln.test.array_nested", VT.ARRAY, [[1, 2], [3], [4, 5, 6]], VT.ARRAY)
    add("kiln.test.array_nested2", VT.ARRAY, [[["p", "q"]], [["r"]]], VT.ARRAY)

    for qtype in BLOCK_TYPES:
        tname = qtype.name.lower()
        x = rng.standard_normal((3, 512)).astype(np.float32) * np.array([[1e-3], [1.0], [100.0]], np.float32)
        x[1, :64] += 2.0   # a block with a large offset (Q4_1/Q4_K minimums)
        if qtype == QT.BF16:
            stored = gguf.quants.quantize(x, QT.BF16)
        else:
            stored = quantize(x, qtype)
        w.add_tensor(f"{tname}.random", stored, raw_dtype=qtype if qtype not in (QT.F32, QT.F16) else None)
        if qtype not in (QT.F32, QT.F16, QT.BF16):
            bs, size = gguf.GGML_QUANT_SIZES[qtype]
            bits = random_bits(qtype, 2 * 512 // bs, rng).reshape(2, 512 // bs * size)
            w.add_tensor(f"{tname}.bits", bits, raw_dtype=qtype)
            w.add_tensor(f"{tname}.special", quantize(special_rows(qtype), qtype), raw_dtype=qtype)
        else:
            # plain types: infinities, NaN-free extremes, subnormals, signed zero
            x = np.array([[0.0, -0.0, 1.0, -2.5, 65504.0, -65504.0, 6e-8, -6e-8, 1e-40, 3.0e38,
                           -3.0e38, 0.333, 1e-5, 7.0, -7.0, 1e4]], dtype=np.float32)
            if qtype == QT.F16:
                x = np.clip(x, -65504, 65504)
                stored = x.astype(np.float16)
            elif qtype == QT.BF16:
                stored = gguf.quants.quantize(x, QT.BF16)
            else:
                stored = x
            w.add_tensor(f"{tname}.special", stored, raw_dtype=QT.BF16 if qtype == QT.BF16 else None)

    # Q8_0 round trip: the source rows, and gguf's quantization of them (ties and zeros included).
    src = rng.standard_normal((4, 256)).astype(np.float32)
    src[1] *= 1e-3
    src[2, :32] = 0.0
    src[2, 32:64] = np.arange(32, dtype=np.float32) - 15.5
    src[2, 64:96] = np.float32(127.0) * (np.arange(32) % 2 * 2 - 1) / 2   # exactly half-way values
    src[2, 64] = 127.0
    src[3] = np.float32(1e-6) * src[3]
    w.add_tensor("q8_0.from_source", gguf.quants.quantize(src, QT.Q8_0), raw_dtype=QT.Q8_0)
    refs["q8_0_source"] = src

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    manifest["blocks.gguf"] = describe_file(path, kv)
    r = gguf.GGUFReader(path)
    for t in r.tensors:
        shape = [int(s) for s in reversed(t.shape.tolist())]
        refs[t.name] = dequantize(np.asarray(t.data), t.tensor_type).reshape(shape)

    # Q8_K (activations for K-quants): ggml's quantize_row_q8_K_ref, ported.
    q8k = rng.standard_normal((2, 512)).astype(np.float32)
    q8k[1, 256:] = 0.0
    q8k[0, 100] = -9.0   # the largest magnitude negative: maps to +127
    refs["q8_K_source"] = q8k
    d, qs, bsums = quantize_q8_k(q8k.reshape(-1))
    refs["q8_K_d"], refs["q8_K_qs"], refs["q8_K_bsums"] = d, qs.astype(np.int32), bsums.astype(np.int32)


def nearest_int(f):
    v = (np.asarray(f, dtype=np.float32) + np.float32(12582912.0)).astype(np.float32)
    return (v.view(np.int32) & 0x007fffff) - 0x00400000


def quantize_q8_k(x):
    blocks = x.reshape(-1, 256)
    d = np.zeros(len(blocks), np.float32)
    qs = np.zeros((len(blocks), 256), np.int64)
    for i, b in enumerate(blocks):
        amax, mx = np.float32(0), np.float32(0)
        for v in b:   # first of the largest magnitudes, as the C loop picks it
            if abs(v) > amax:
                amax, mx = abs(v), v
        if amax == 0:
            continue
        iscale = np.float32(-127.0) / mx
        qs[i] = np.minimum(127, nearest_int(iscale * b))
        d[i] = np.float32(1.0) / iscale
    bsums = qs.reshape(len(blocks), 16, 16).sum(axis=-1)
    return d, qs, bsums


def manifest_json(manifest):
    """JSON with one line per key/value and per tensor: small, and diffs stay readable."""
    one = lambda v: json.dumps(v, ensure_ascii=False)  # noqa: E731
    out = ["{"]
    for k in ("generator", "gguf", "transformers", "torch"):
        out.append(f" {one(k)}: {one(manifest[k])},")
    out.append(f' "model": {one(manifest["model"])},')
    out.append(' "files": {')
    names = list(manifest["files"])
    for i, name in enumerate(names):
        f = manifest["files"][name]
        out.append(f"  {one(name)}: {{")
        for k in ("version", "alignment", "data_offset"):
            out.append(f"   {one(k)}: {one(f[k])},")
        out.append('   "kv": [')
        out.extend(f"    {one(kv)}" + ("," if j + 1 < len(f["kv"]) else "") for j, kv in enumerate(f["kv"]))
        out.append("   ],")
        out.append('   "tensors": [')
        out.extend(f"    {one(t)}" + ("," if j + 1 < len(f["tensors"]) else "") for j, t in enumerate(f["tensors"]))
        out.append("   ]")
        out.append("  }" + ("," if i + 1 < len(names) else ""))
    out.append(" }")
    out.append("}")
    return "\n".join(out) + "\n"


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT
    os.makedirs(out_dir, exist_ok=True)
    manifest = {"generator": "tests/reference/make_gguf_fixtures.py", "gguf": gguf.__version__ if hasattr(
        gguf, "__version__") else "0.19.0", "transformers": transformers.__version__, "torch": torch.__version__,
        "files": {}}

    # A seed whose logits (for every fixture type) have top-2 margins of at least MIN_MARGIN.
    for seed in range(100):
        model = make_model(seed)
        files, logits = {}, {}
        for name, (qtype, ftype) in FILE_TYPES.items():
            logits[name] = write_llama(out_dir, model, name, qtype, ftype, files)
        margins = {k: top2_margin(v) for k, v in logits.items()}
        if min(margins.values()) >= MIN_MARGIN:
            break
        print(f"seed {seed}: margins {margins}, retrying", file=sys.stderr)
    f32_check = model(input_ids=torch.tensor([INPUT_IDS])).logits.detach().float().numpy()
    assert np.abs(f32_check - logits["f32"]).max() < 1e-5, "the GGUF round trip changed the f32 model"

    save_file({"input_ids": np.array([INPUT_IDS], dtype=np.int64),
               **{f"logits_{k}": v.astype(np.float32) for k, v in logits.items()}},
              os.path.join(out_dir, "tiny-llama-logits.safetensors"))

    refs = {}
    write_blocks(out_dir, files, refs)
    save_file({k: np.ascontiguousarray(v) for k, v in refs.items()}, os.path.join(out_dir, "blocks-reference.safetensors"))

    manifest["files"] = files
    manifest["model"] = {"seed": seed, "vocab": VOCAB, "hidden": HIDDEN, "intermediate": INTER, "layers": LAYERS,
                         "heads": HEADS, "kv_heads": KV_HEADS, "context": CONTEXT, "rope_theta": ROPE_THETA,
                         "rms_eps": RMS_EPS, "input_ids": INPUT_IDS, "min_top2_margin": min(margins.values()),
                         "logits_margins": margins}
    with open(os.path.join(out_dir, "MANIFEST.json"), "w") as f:
        f.write(manifest_json(manifest))
    total = sum(os.path.getsize(os.path.join(out_dir, n)) for n in os.listdir(out_dir))
    print(f"wrote {out_dir}: {total} bytes, seed {seed}, min top-2 margin {min(margins.values()):.4g}")


if __name__ == "__main__":
    main()
