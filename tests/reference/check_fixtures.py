#!/usr/bin/env python3
"""Sanity check: reload every fixture in tests/fixtures/models with Transformers and compare the recorded outputs.

Usage: check_fixtures.py [MODELS_DIR]
Exit status 1 when any output differs by more than 1e-5 (absolute) or an argmax margin is below 1e-3.
"""
import json
import os
import sys

import torch
import transformers
from safetensors.torch import load_file
from transformers import (AutoModel, AutoModelForMaskedLM, AutoModelForQuestionAnswering,
                          AutoModelForSequenceClassification, AutoModelForTokenClassification)

transformers.logging.set_verbosity_error()
try:
    transformers.utils.logging.disable_progress_bar()
except Exception:
    pass
torch.set_num_threads(1)

HERE = os.path.dirname(os.path.abspath(__file__))
AUTO = {"base": AutoModel, "seqcls": AutoModelForSequenceClassification,
        "tokcls": AutoModelForTokenClassification, "qa": AutoModelForQuestionAnswering, "mlm": AutoModelForMaskedLM}


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.normpath(os.path.join(HERE, "..", "fixtures", "models"))
    man = json.load(open(os.path.join(root, "MANIFEST.json")))
    bad = 0
    for fx in man["fixtures"]:
        d = os.path.join(root, fx["name"])
        model = AUTO[fx["head"]].from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
        worst = 0.0
        for case in fx["cases"]:
            inp = load_file(os.path.join(d, f"inputs_{case}.safetensors"))
            ref = load_file(os.path.join(d, f"outputs_{case}.safetensors"))
            assert all(v.dtype == torch.int64 for v in inp.values())
            assert all(v.dtype == torch.float32 for v in ref.values())
            with torch.no_grad():
                res = model(**inp, output_hidden_states=True)
            for k, v in ref.items():
                got = res.hidden_states[-1] if (k == "last_hidden_state" and fx["head"] != "base") else getattr(res, k)
                worst = max(worst, float((got.float() - v).abs().max()))
            # argmax margins at unpadded positions
            valid = inp["attention_mask"].bool()
            if fx["head"] in ("tokcls", "mlm"):
                t = torch.topk(ref["logits"], 2, dim=-1).values
                m = (t[..., 0] - t[..., 1])[valid].min()
                if m < 1e-3:
                    print(f"  {fx['name']} {case}: margin {m}")
                    bad += 1
            if fx["head"] == "seqcls" and ref["logits"].shape[-1] > 1:
                t = torch.sort(ref["logits"], dim=-1, descending=True).values
                m = (t[..., :-1] - t[..., 1:]).min()
                if m < 1e-3:
                    print(f"  {fx['name']} {case}: margin {m}")
                    bad += 1
        ok = worst <= 1e-5
        bad += not ok
        print(f"{fx['name']:24s} {fx['architecture']:34s} max|diff| {worst:.3g} {'ok' if ok else 'MISMATCH'}")
    print("all ok" if not bad else f"{bad} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
