"""Import before `from llama_cpp import Llama`, in the scripts that run llama.cpp
(make_llamacpp_smollm2_reference.py, make_gguf_spm_fixture.py).

llama.cpp's extra buffer types (AMX and repacked weights) crash this VM (its CPU reports AMX, which
the kernel does not enable for the process: decode segfaults), so every Llama is made with
use_extra_bufts=False; the plain CPU kernels compute the same Q4_1 x Q8_1 dot products.
"""
import llama_cpp.llama_cpp as llama_c

_default_params = llama_c.llama_model_default_params


def _params_without_extra_bufts():
    p = _default_params()
    p.use_extra_bufts = False
    return p


llama_c.llama_model_default_params = _params_without_extra_bufts
