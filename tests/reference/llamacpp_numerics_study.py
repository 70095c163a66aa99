#!/usr/bin/env python3
"""Which llama.cpp numerics make its SmolLM2-135M Q4_1 logits differ from an f32 reference?

tests/fixtures/gguf/smollm2_llamacpp.json (tests/reference/make_llamacpp_smollm2_reference.py) holds,
for 4 prompts, llama.cpp's greedy 64-step continuation with its top-20 logits per step, and
Transformers' f32 logits (weights dequantized exactly, activations f32 — kiln's semantics) at the
same ids. The two differ by up to ~1.4 and flip the argmax at a few steps where llama.cpp's top-2
margin is > 0.05. This script finds out why.

Emulation (default): a numpy float32 forward pass of the GGUF's LLaMA graph, written the way
llama.cpp's CPU backend computes it, teacher-forced on each case's full sequence (prompt ids + the 64
step tokens) in one causal pass, in several configurations:

  f32          weights dequantized exactly, activations f32 (must match the fixture's "hf" to ~1e-4)
  q8           + activations quantized before every quantized matmul as ggml-cpu does on x86:
               Q8_1 blocks of 32 for the Q4_1 weights (d = amax/127 stored as f16, q = rint(x*127/amax),
               s = f16(d*sum q)), Q8_0 for the Q8_0 tied output (token_embd); the dot product is
               llama.cpp's: per block f16(dw)*f16(dx)*sum(qw*qx) (+ f16(m)*s for Q4_1)
  q8-exact-s   q8, but the Q4_1 min term uses f16(dx)*sum(qx) instead of the f16-rounded s
               (isolates the rounding of s)
  q8-ref       q8 with quantize_row_q8_*_ref's arithmetic (q = roundf(x/d) rounding half away from 0)
  q8+ggml      q8 + ggml's RoPE angle recurrence (theta_scale = powf(base, -2/n_dims), theta *= theta_scale),
               and the softmax scale applied inside softmax (soft_max_ext), rms_norm summed in double
  q8-nolmhead  q8 on the Q4_1 layers only, f32 lm_head (how much the Q8_0 output matmul alone contributes)
  q8-lmhead    only the lm_head input quantized to Q8_0 (the reverse)
  q8+f16kv     q8 + K and V rounded to f16 (what llama.cpp's default f16 KV cache would add)
  q8-ulp       q8 with every input embedding moved by 1 ulp (np.nextafter): how sensitive the q8 result
               is to f32 rounding anywhere upstream of a quantization

For each configuration it reports, against llama.cpp's recorded logits: the largest |logit diff| over
the recorded top-20 ids of all 256 steps, the number of steps where llama.cpp's top-2 margin > 0.05,
and at how many of those the emulation's argmax (over the whole vocabulary) differs from llama.cpp's
token; plus the largest diff against the fixture's Transformers values ("hf").

--ops CASE feeds each emulated op llama.cpp's own input tensors (read through the scheduler's eval
callback) and compares with llama.cpp's output tensors, then tracks the whole emulation's drift from
llama.cpp layer by layer (how many Q8_1 quants of each quantized matmul's input differ).

--llamacpp instead runs llama.cpp itself (llama-cpp-python) in variants — the fixture's settings replayed
(incremental decode, 1 thread), the whole sequence in one teacher-forced batch, 2 threads, flash
attention on, f16 KV cache — and reports the same numbers, to show llama.cpp's own noise floor.

    OPENBLAS_NUM_THREADS=1 /tmp/refenv/bin/python tests/reference/llamacpp_numerics_study.py \\
        .cache/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf [--configs f32,q8,...] [--llamacpp]

Needs numpy and gguf (PyPI); --llamacpp and --ops need llama-cpp-python. One thread; the default run
takes ~80 s on this VM, --ops ~30 s, --llamacpp ~1 min.

Findings (llama-cpp-python 0.3.36, x86 AVX2/AVX512 CPU kernels, extra buffer types off):
  * The "q8" recipe is llama.cpp's quantized matmul to f32 rounding: fed llama.cpp's own inputs it
    reproduces Qcur / attn_out / ffn_out / result_output to ~1e-7 relative, where f32 activations are off
    by ~1e-3..1e-2 relative. rms_norm (ggml variant) and swiglu match to 0 .. a few ulp.
  * But the whole pass does not converge to llama.cpp's logits (max diff ~1.0, 5 flips of 249): 8-bit
    activation rounding turns any ulp-level difference upstream (summation order in attention, f16 rounding
    of the Q8_1 s term, exp/sin/cos implementations) into a whole quantization step, which cascades: by
    layer 3 about a third of all activation quants differ. Moving every input embedding by 1 ulp ("q8-ulp")
    changes the logits as much as dropping the quantization does. llama.cpp is equally sensitive to itself:
    the fixture's incremental decode vs the same tokens in one batch, or flash attention on, differ by
    0.7 .. 1.3 and flip 2 .. 6 of the 249 steps with margin > 0.05. Short of replicating ggml's kernels bit
    for bit (including the batch-size-dependent paths), no emulation matches llama.cpp's logits within 0.05.
"""
import argparse
import ctypes
import json
import os
import sys

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.normpath(os.path.join(HERE, "..", "fixtures", "gguf", "smollm2_llamacpp.json"))
MARGIN = 0.05
QK = 32

CONFIGS = {
    "f32": dict(quant=False),
    "q8": dict(quant=True),
    "q8-exact-s": dict(quant=True, exact_s=True),
    "q8-ref": dict(quant=True, ref_rounding=True),
    "q8+ggml": dict(quant=True, ggml_rope=True, ggml_softmax=True, ggml_norm=True),
    "q8-nolmhead": dict(quant=True, quant_lm_head=False),
    "q8-lmhead": dict(quant=False, quant_lm_head=True),
    "q8+f16kv": dict(quant=True, f16_kv=True),
    "q8-ulp": dict(quant=True, nudge_embd=True),
}


def f16(x):
    """f32 -> f16 -> f32, round to nearest even (F16C's _cvtps_ph, GGML_CPU_FP32_TO_FP16)."""
    return np.asarray(x, dtype=np.float32).astype(np.float16).astype(np.float32)


# ----------------------------------------------------------------------------------------- weights

class QWeight:
    """A GGUF Q4_1 or Q8_0 matrix [n_out, n_in], kept as its integer quants and f16 scales."""

    def __init__(self, tensor):
        import gguf
        self.type = tensor.tensor_type.name
        n_in, n_out = int(tensor.shape[0]), int(tensor.shape[1])
        nb = n_in // QK
        raw = np.asarray(tensor.data, dtype=np.uint8).reshape(n_out, nb, -1)
        if self.type == "Q4_1":
            assert raw.shape[2] == 20
            self.d = raw[:, :, 0:2].copy().view(np.float16)[..., 0].astype(np.float32)
            self.m = raw[:, :, 2:4].copy().view(np.float16)[..., 0].astype(np.float32)
            qs = raw[:, :, 4:20]
            self.q = np.concatenate([qs & 0x0F, qs >> 4], axis=2).astype(np.float32)  # element j, j+16
            self.w = (self.d[:, :, None] * self.q + self.m[:, :, None]).reshape(n_out, n_in)
        elif self.type == "Q8_0":
            assert raw.shape[2] == 34
            self.d = raw[:, :, 0:2].copy().view(np.float16)[..., 0].astype(np.float32)
            self.m = None
            self.q = raw[:, :, 2:34].copy().view(np.int8).astype(np.float32)
            self.w = (self.d[:, :, None] * self.q).reshape(n_out, n_in)
        else:
            raise ValueError("unexpected weight type %s" % self.type)
        ref = gguf.quants.dequantize(tensor.data, tensor.tensor_type).reshape(n_out, n_in)
        assert np.array_equal(ref.astype(np.float32), self.w), "own dequantization disagrees with gguf's"
        self.w = np.ascontiguousarray(self.w, dtype=np.float32)
        self.n_out, self.n_in, self.nb = n_out, n_in, nb


class Model:
    def __init__(self, path):
        import gguf
        r = gguf.GGUFReader(path)

        def field(k):
            return r.fields[k].contents()

        self.n_layer = int(field("llama.block_count"))
        self.n_embd = int(field("llama.embedding_length"))
        self.n_head = int(field("llama.attention.head_count"))
        self.n_head_kv = int(field("llama.attention.head_count_kv"))
        self.n_rot = int(field("llama.rope.dimension_count"))
        self.freq_base = float(field("llama.rope.freq_base"))
        self.eps = np.float32(field("llama.attention.layer_norm_rms_epsilon"))
        self.head_dim = self.n_embd // self.n_head
        t = {x.name: x for x in r.tensors}
        self.tok_embd = QWeight(t["token_embd.weight"])
        self.output = QWeight(t["output.weight"]) if "output.weight" in t else self.tok_embd  # tied
        self.output_norm = np.asarray(t["output_norm.weight"].data, dtype=np.float32)
        self.layers = []
        for i in range(self.n_layer):
            p = "blk.%d." % i
            self.layers.append({
                "attn_norm": np.asarray(t[p + "attn_norm.weight"].data, dtype=np.float32),
                "ffn_norm": np.asarray(t[p + "ffn_norm.weight"].data, dtype=np.float32),
                **{k: QWeight(t[p + k + ".weight"]) for k in
                   ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")},
            })
        self.types = sorted({(k, v.type) for L in self.layers[:1] for k, v in L.items() if isinstance(v, QWeight)}
                            | {("token_embd", self.tok_embd.type)})


# ------------------------------------------------------------------------------- llama.cpp numerics

def quantize_act(x, with_sum, ref_rounding=False):
    """ggml-cpu's quantize_row_q8_1 / q8_0 (x86 AVX2 path) on rows of x [T, K]: returns q [T, nb, 32]
    (as f32 integers), f16-rounded d [T, nb], and for Q8_1 the f16 s = d*sum(q) [T, nb]."""
    T, K = x.shape
    xb = x.reshape(T, K // QK, QK).astype(np.float32)
    amax = np.abs(xb).max(axis=2)
    d = (amax / np.float32(127)).astype(np.float32)
    with np.errstate(divide="ignore"):
        if ref_rounding:  # quantize_row_q8_*_ref: id = 1/d, roundf (half away from zero)
            iv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
            v = xb * iv[:, :, None]
            q = np.sign(v) * np.floor(np.abs(v) + np.float32(0.5))
        else:  # AVX2: id = 127/amax, _mm256_round_ps(_MM_ROUND_NEAREST)
            iv = np.where(amax != 0, np.float32(127) / amax, np.float32(0)).astype(np.float32)
            q = np.rint(xb * iv[:, :, None])
    q = q.astype(np.float32)
    s = f16(d * q.sum(axis=2)) if with_sum else None
    return q, f16(d), s


def qmatmul(x, w, cfg, quant):
    """y[T, n_out] = x[T, n_in] . w^T, either in f32 or as ggml_vec_dot_q4_1_q8_1 / q8_0_q8_0 do it."""
    if not quant:
        return x.astype(np.float32) @ w.w.T
    q4_1 = w.type == "Q4_1"
    qx, dx, sx = quantize_act(x, q4_1, cfg.get("ref_rounding", False))
    if cfg.get("exact_s"):
        sx = dx * qx.sum(axis=2)
    acc = np.zeros((x.shape[0], w.n_out), dtype=np.float64)
    for b in range(w.nb):
        sumi = qx[:, b, :] @ w.q[:, b, :].T  # exact: |sum| < 2^24
        acc += (dx[:, b, None] * w.d[None, :, b]).astype(np.float32) * sumi
    if q4_1:
        acc += (sx[:, :, None] * w.m.T[None, :, :]).astype(np.float32).sum(axis=1, dtype=np.float64)
    return acc.astype(np.float32)


def rms_norm(x, g, eps, ggml):
    if ggml:  # ggml_compute_forward_rms_norm_f32: x*x in float summed in double, scale = 1.0f/sqrtf(mean + eps)
        mean = ((x * x).astype(np.float64).sum(axis=1) / x.shape[1]).astype(np.float32)
        scale = (np.float32(1) / np.sqrt((mean + eps).astype(np.float32))).astype(np.float32)
    else:
        mean = (x * x).mean(axis=1, dtype=np.float32)
        scale = (np.float32(1) / np.sqrt(mean + eps)).astype(np.float32)
    return (x * scale[:, None]).astype(np.float32) * g


def rope_angles(T, n_rot, base, ggml):
    """theta[p, i] for the rotated pairs (2i, 2i+1)."""
    pos = np.arange(T, dtype=np.float32)
    if ggml:  # ggml_rope_cache_init: theta = p; theta *= theta_scale, all in float
        theta_scale = np.float32(np.power(np.float32(base), np.float32(-2.0) / np.float32(n_rot), dtype=np.float32))
        theta = np.empty((T, n_rot // 2), dtype=np.float32)
        cur = pos.copy()
        for i in range(n_rot // 2):
            theta[:, i] = cur
            cur = (cur * theta_scale).astype(np.float32)
    else:  # Transformers: inv_freq = 1/(base ** (arange(0, d, 2)/d)); freqs = pos * inv_freq
        inv = (np.float32(1) / np.power(np.float32(base), np.arange(0, n_rot, 2, dtype=np.float32) / np.float32(n_rot),
                                         dtype=np.float32)).astype(np.float32)
        theta = (pos[:, None] * inv[None, :]).astype(np.float32)
    return np.cos(theta).astype(np.float32), np.sin(theta).astype(np.float32)


def rope(x, cos, sin):
    """llama.cpp rope mode 0 (adjacent pairs) on x [T, H, D]; the GGUF stores Q/K rows permuted for it."""
    x0, x1 = x[..., 0::2], x[..., 1::2]
    c, s = cos[:, None, :], sin[:, None, :]
    out = np.empty_like(x)
    out[..., 0::2] = x0 * c - x1 * s
    out[..., 1::2] = x0 * s + x1 * c
    return out


def softmax_rows(a):
    m = a.max(axis=-1, keepdims=True)
    e = np.exp(a - m, dtype=np.float32)
    return (e / e.sum(axis=-1, keepdims=True, dtype=np.float32)).astype(np.float32)


def forward(model, ids, cfg, out_rows, trace=None):
    """Logits [len(out_rows), n_vocab] of a causal pass over ids; trace (a dict) collects each layer's
    attention-norm output and residual stream under llama.cpp's tensor names."""
    quant = cfg.get("quant", False)
    T = len(ids)
    H, Hkv, D = model.n_head, model.n_head_kv, model.head_dim
    ggml_norm = cfg.get("ggml_norm", False)
    cos, sin = rope_angles(T, model.n_rot, model.freq_base, cfg.get("ggml_rope", False))
    mask = np.triu(np.full((T, T), -np.inf, dtype=np.float32), 1)
    kq_scale = np.float32(1.0 / np.sqrt(D))
    x = model.tok_embd.w[np.asarray(ids)].copy()
    if cfg.get("nudge_embd"):
        x = np.nextafter(x, np.float32(np.inf)).astype(np.float32)
    for il, L in enumerate(model.layers):
        h = rms_norm(x, L["attn_norm"], model.eps, ggml_norm)
        if trace is not None:
            trace["attn_norm-%d" % il] = h
        q = qmatmul(h, L["attn_q"], cfg, quant).reshape(T, H, D)
        k = qmatmul(h, L["attn_k"], cfg, quant).reshape(T, Hkv, D)
        v = qmatmul(h, L["attn_v"], cfg, quant).reshape(T, Hkv, D)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        if cfg.get("f16_kv"):
            k, v = f16(k), f16(v)
        attn = np.empty((T, H, D), dtype=np.float32)
        for hh in range(H):
            g = hh // (H // Hkv)
            if cfg.get("ggml_softmax"):  # kq = k.q; soft_max_ext(kq*scale + mask)
                s = (q[:, hh, :] @ k[:, g, :].T).astype(np.float32) * kq_scale + mask
            else:  # Transformers: (q . k) * scale, + mask
                s = (q[:, hh, :] @ k[:, g, :].T) * kq_scale + mask
            attn[:, hh, :] = softmax_rows(s) @ v[:, g, :]
        if trace is not None:
            trace["kqv_out-%d" % il] = attn.reshape(T, H * D)
        x = x + qmatmul(attn.reshape(T, H * D), L["attn_output"], cfg, quant)
        h = rms_norm(x, L["ffn_norm"], model.eps, ggml_norm)
        if trace is not None:
            trace["ffn_norm-%d" % il] = h
        gate = qmatmul(h, L["ffn_gate"], cfg, quant)
        up = qmatmul(h, L["ffn_up"], cfg, quant)
        act = (gate / (np.float32(1) + np.exp(-gate))).astype(np.float32) * up
        if trace is not None:
            trace["ffn_swiglu-%d" % il] = act
        x = x + qmatmul(act, L["ffn_down"], cfg, quant)
        if trace is not None:
            trace["l_out-%d" % il] = x
    h = rms_norm(x[out_rows], model.output_norm, model.eps, ggml_norm)
    return qmatmul(h, model.output, cfg, cfg.get("quant_lm_head", quant))


# ----------------------------------------------------------------------------------------- scoring

def score(cases, logits_per_case):
    """max |diff| vs llama.cpp and vs hf over the recorded ids; steps with margin > MARGIN; flips there."""
    dmax = hmax = 0.0
    n_marg = flips = 0
    flip_at = []
    for ci, (case, lg) in enumerate(zip(cases, logits_per_case)):
        for i, st in enumerate(case["steps"]):
            row = lg[i]
            ids = [t for t, _ in st["top"]]
            ref = np.array([v for _, v in st["top"]], dtype=np.float64)
            dmax = max(dmax, float(np.abs(row[ids] - ref).max()))
            if "hf" in st:
                hmax = max(hmax, float(np.abs(row[ids] - np.array(st["hf"])).max()))
            if st["top"][0][1] - st["top"][1][1] > MARGIN:
                n_marg += 1
                if int(np.argmax(row)) != st["token"]:
                    flips += 1
                    flip_at.append((ci, i, round(st["top"][0][1] - st["top"][1][1], 3)))
    return dmax, hmax, n_marg, flips, flip_at


def run_emulation(gguf_path, cases, names):
    model = Model(gguf_path)
    print("weight types:", ", ".join("%s=%s" % kv for kv in model.types), file=sys.stderr)
    rows = []
    for name in names:
        cfg = CONFIGS[name]
        per_case = []
        for case in cases:
            ids = case["ids"] + [s["token"] for s in case["steps"]]
            n = len(case["ids"])
            per_case.append(forward(model, ids, cfg, np.arange(n - 1, n - 1 + len(case["steps"]))))
        r = score(cases, per_case)
        rows.append((name,) + r)
        print_row(name, r)
        sys.stdout.flush()
    return rows


# ------------------------------------------------------------------------------- llama.cpp itself

def import_llama(eval_callback=None):
    """llama_cpp.Llama on the plain CPU kernels (llamacpp_plain_cpu.py) and, optionally, a
    ggml_backend_sched_eval_callback on every context."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import llamacpp_plain_cpu
    llamacpp_plain_cpu.plain_cpu(eval_callback)
    from llama_cpp import Llama
    return Llama


def run_llamacpp(gguf_path, cases):
    Llama = import_llama()

    variants = [
        # name, Llama kwargs, teacher-forced in one batch?
        ("fixture settings, incremental", dict(n_threads=1), False),
        ("one batch, 1 thread", dict(n_threads=1, n_threads_batch=1), True),
        ("one batch, 2 threads", dict(n_threads=2, n_threads_batch=2), True),
        ("incremental, 2 threads", dict(n_threads=2, n_threads_batch=2), False),
        ("one batch, flash_attn", dict(n_threads=1, n_threads_batch=1, flash_attn=True), True),
        ("incremental, flash_attn", dict(n_threads=1, flash_attn=True), False),
        ("one batch, f16 KV", dict(n_threads=1, n_threads_batch=1, type_k=1, type_v=1), True),
        ("one batch, n_ubatch=32", dict(n_threads=1, n_threads_batch=1, n_ubatch=32), True),
    ]
    rows = []
    for name, kw, batch in variants:
        args = dict(model_path=gguf_path, n_ctx=512, n_batch=512, logits_all=True, verbose=False, seed=0,
                    type_k=0, type_v=0)
        args.update(kw)
        llm = Llama(**args)
        per_case = []
        for case in cases:
            toks = [s["token"] for s in case["steps"]]
            n = len(case["ids"])
            llm.reset()
            if batch:
                llm.eval(case["ids"] + toks)
            else:
                llm.eval(case["ids"])
                for t in toks[:-1]:
                    llm.eval([t])
            per_case.append(np.array(llm.scores[n - 1:n - 1 + len(toks)], dtype=np.float32))
        r = score(cases, per_case)
        rows.append(("llama.cpp: " + name,) + r)
        print_row("llama.cpp: " + name, r)
        sys.stdout.flush()
        del llm
    return rows


# -------------------------------------------------------------- per-op check against llama.cpp's tensors

class _GGMLTensor(ctypes.Structure):  # struct ggml_tensor (GGML_MAX_DIMS 4, MAX_OP_PARAMS 64, MAX_SRC 10, MAX_NAME 64)
    _fields_ = [("type", ctypes.c_int), ("buffer", ctypes.c_void_p), ("ne", ctypes.c_int64 * 4), ("nb", ctypes.c_size_t * 4),
                ("op", ctypes.c_int), ("op_params", ctypes.c_int32 * 16), ("flags", ctypes.c_int32),
                ("src", ctypes.c_void_p * 10), ("view_src", ctypes.c_void_p), ("view_offs", ctypes.c_size_t),
                ("data", ctypes.c_void_p), ("name", ctypes.c_char * 64), ("extra", ctypes.c_void_p), ("padding", ctypes.c_char * 8)]


def llamacpp_tensors(gguf_path, ids):
    """llama.cpp's own intermediate f32 tensors (first contiguous one of each name) for one batch over ids,
    via the scheduler's eval callback; arrays are [n_tokens, ne0]."""
    import llama_cpp.llama_cpp as llama_c
    got = {}

    def cb(t, ask, _):
        if ask:
            return True
        tt = ctypes.cast(t, ctypes.POINTER(_GGMLTensor)).contents
        name, ne, nb = tt.name.decode(), list(tt.ne), list(tt.nb)
        if (tt.type == 0 and tt.data and name not in got and ne[2] == ne[3] == 1 and nb[0] == 4 and nb[1] == 4 * ne[0]):
            buf = (ctypes.c_float * (ne[0] * ne[1])).from_address(tt.data)
            got[name] = np.frombuffer(buf, dtype=np.float32).reshape(ne[1], ne[0]).copy()
        return True

    callback = llama_c.ggml_backend_sched_eval_callback(cb)
    Llama = import_llama(callback)
    llm = Llama(model_path=gguf_path, n_ctx=512, n_batch=512, logits_all=True, verbose=False, n_threads=1,
                n_threads_batch=1, type_k=0, type_v=0)
    llm.eval(ids)
    del llm
    return got


def run_ops(gguf_path, cases, case_index, layers=(0, 1, 15, 29)):
    """Feed each emulated op llama.cpp's own input tensor and compare with llama.cpp's output tensor; then
    run the whole emulation and show how far its residual stream drifts from llama.cpp's, layer by layer."""
    model = Model(gguf_path)
    case = cases[case_index]
    ids = case["ids"] + [s["token"] for s in case["steps"]]
    lc = llamacpp_tensors(gguf_path, ids)

    def cmp(label, ours, ref):
        d = np.abs(ours - ref)
        print("  %-34s max|d| %.3g  (max|ref| %.3g, rel %.1e)" % (label, d.max(), np.abs(ref).max(),
                                                                 d.max() / np.abs(ref).max()))

    print("case %d, %d tokens in one batch: each op fed llama.cpp's own input" % (case_index, len(ids)))
    for il in layers:
        L = model.layers[il]
        x = lc["embd"] if il == 0 else lc["l_out-%d" % (il - 1)]
        print(" layer", il)
        cmp("attn_norm (ggml rms_norm)", rms_norm(x, L["attn_norm"], model.eps, True), lc["attn_norm-%d" % il])
        for mm, src, dst in (("attn_q", "attn_norm", "Qcur"), ("attn_output", "kqv_out", "attn_out"),
                             ("ffn_down", "ffn_swiglu", "ffn_out")):
            a = lc["%s-%d" % (src, il)]
            cmp("%s, Q8_1 activations" % mm, qmatmul(a, L[mm], {}, True), lc["%s-%d" % (dst, il)])
            cmp("%s, Q8_1 ref rounding" % mm, qmatmul(a, L[mm], {"ref_rounding": True}, True), lc["%s-%d" % (dst, il)])
            cmp("%s, f32 activations" % mm, qmatmul(a, L[mm], {}, False), lc["%s-%d" % (dst, il)])
        g, u = lc["ffn_gate-%d" % il], lc["ffn_up-%d" % il]
        cmp("swiglu", (g / (np.float32(1) + np.exp(-g))).astype(np.float32) * u, lc["ffn_swiglu-%d" % il])
    print(" output")
    cmp("lm_head, Q8_0 activations", qmatmul(lc["result_norm"], model.output, {}, True), lc["result_output"])
    cmp("lm_head, f32 activations", qmatmul(lc["result_norm"], model.output, {}, False), lc["result_output"])

    print("whole emulation (q8+ggml) vs llama.cpp, same batch: per layer, the largest relative difference of")
    print("each quantized matmul's input and how many of its Q8_1 quants differ (of 39744 for attn_norm, kqv_out,")
    print("ffn_norm, 105984 for ffn_swiglu), and the residual stream's drift")
    trace = {}
    logits = forward(model, ids, CONFIGS["q8+ggml"], np.arange(len(ids)), trace)
    for il in range(model.n_layer):
        line = "  layer %2d" % il
        for name in ("attn_norm", "kqv_out", "ffn_norm", "ffn_swiglu"):
            a, b = trace["%s-%d" % (name, il)], lc["%s-%d" % (name, il)]
            flips = int((quantize_act(a, True)[0] != quantize_act(b, True)[0]).sum())
            line += "  %s %.0e %d" % (name, np.abs(a - b).max() / np.abs(b).max(), flips)
        ref = lc["l_out-%d" % il]
        print(line + "  l_out %.0e" % (np.abs(trace["l_out-%d" % il] - ref).max() / np.abs(ref).max()))
    print("  logits max|d| %.3f" % np.abs(logits - lc["result_output"]).max())


def print_row(name, r):
    dmax, hmax, n_marg, flips, flip_at = r
    print("%-34s max|d| vs llama.cpp %.4f  vs hf %.4f  flips %d/%d %s" % (name, dmax, hmax, flips, n_marg,
                                                                          flip_at if flip_at else ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gguf")
    ap.add_argument("--fixture", default=FIXTURE)
    ap.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated, from: " + ", ".join(CONFIGS))
    ap.add_argument("--cases", default=None, help="comma-separated case indices (default all)")
    ap.add_argument("--llamacpp", action="store_true", help="run llama.cpp variants instead of the emulation")
    ap.add_argument("--ops", type=int, metavar="CASE", default=None,
                    help="check each emulated op against llama.cpp's own tensors on one case (needs llama-cpp-python)")
    a = ap.parse_args()
    cases = json.load(open(a.fixture))["cases"]
    if a.cases:
        cases = [cases[int(i)] for i in a.cases.split(",")]
    if a.ops is not None:
        run_ops(a.gguf, cases, a.ops)
    elif a.llamacpp:
        run_llamacpp(a.gguf, cases)
    else:
        run_emulation(a.gguf, cases, a.configs.split(","))
    return 0


if __name__ == "__main__":
    sys.exit(main())
