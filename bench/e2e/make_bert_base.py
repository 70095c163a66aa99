#!/usr/bin/env python3
"""make_bert_base.py — a BERT-base-shaped checkpoint with random weights (no download): the
BertModel of bert-base-uncased's config (12 layers, hidden 768, 12 heads, intermediate 3072,
vocab 30522), seeded, written with save_pretrained as config.json + model.safetensors.

    python bench/e2e/make_bert_base.py OUT_DIR

Needs torch and transformers (PyPI). The weights are never committed (about 440 MB).
"""
import sys

import torch
from transformers import BertConfig, BertModel


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                        intermediate_size=3072, max_position_embeddings=512, hidden_act="gelu")
    model = BertModel(config).eval()
    model.save_pretrained(sys.argv[1], safe_serialization=True)
    print(f"{sys.argv[1]}: BERT-base shape, random weights, "
          f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters")


if __name__ == "__main__":
    main()
