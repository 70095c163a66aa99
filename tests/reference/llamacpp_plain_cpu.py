"""llama.cpp as the reference scripts and bench/generate run it: call plain_cpu() before the first
`Llama(...)` (make_llamacpp_smollm2_reference.py, make_gguf_spm_fixture.py and
llamacpp_numerics_study.py import this module, which calls it once; bench/generate/run.py calls it
unless --llama-extra-bufts).

llama.cpp's extra buffer types (AMX and repacked weights) crash this VM (its CPU reports AMX, which
the kernel does not enable for the process: decode segfaults), so every Llama is made with
use_extra_bufts=False; the plain CPU kernels compute the same Q4_1 x Q8_1 dot products.
eval_callback, when given, becomes every context's cb_eval (ggml's scheduler calls it with each
tensor it computes: how llamacpp_numerics_study.py reads llama.cpp's intermediate tensors).
greedy_steps is the greedy loop the reference scripts record llama.cpp's tokens and logits with.
"""
import llama_cpp.llama_cpp as llama_c
import numpy as np

_default_model_params = llama_c.llama_model_default_params
_default_context_params = llama_c.llama_context_default_params


def plain_cpu(eval_callback=None):
    def model_params():
        p = _default_model_params()
        p.use_extra_bufts = False
        return p

    def context_params():
        p = _default_context_params()
        if eval_callback is not None:
            p.cb_eval = eval_callback
        return p

    llama_c.llama_model_default_params = model_params
    llama_c.llama_context_default_params = context_params


def greedy_steps(llm, ids, steps, top, digits):
    """llm (logits_all=True) evaluates ids, then takes `steps` greedy tokens; each step: {"token", "top":
    the `top` largest logits as [id, value] (value rounded to `digits` significant digits)}."""
    llm.reset()
    llm.eval(ids)
    out = []
    for _ in range(steps):
        logits = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
        order = np.argsort(-logits, kind="stable")[:top]
        out.append({"token": int(order[0]), "top": [[int(i), float("%.*g" % (digits, logits[i]))] for i in order]})
        llm.eval([int(order[0])])
    return out


plain_cpu()
