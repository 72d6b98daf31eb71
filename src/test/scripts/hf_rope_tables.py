"""Writes src/test/resources/reference/rope-tables.json: transformers' RoPE cos and sin rows, as float32 bits, at
chosen positions for the reference configs (RopeTablesTest checks the server's tables against them bit for bit).

Run from the repository root with torch and transformers installed:
    python src/test/scripts/hf_rope_tables.py
"""
import json
import struct

import torch
import transformers
from transformers import AutoConfig

ROOT = "src/test/resources/reference/"
DIRS = ["stories15m-hf", "models-next/llama3-rope", "models-next/qwen3", "models-next/mistral-sliding",
        "models-next/gemma2", "rope-scaling/qwen2-yarn", "variants/granite"]
POSITIONS = [0, 1, 2, 7, 100, 511, 1000, 4095, 8191, 32767, 100000, 131071]


def bits(t):
    return [struct.unpack("<I", struct.pack("<f", v))[0] for v in t.tolist()]


out = {"transformers": transformers.__version__, "torch": torch.__version__, "positions": POSITIONS, "models": {}}
for d in DIRS:
    cfg = AutoConfig.from_pretrained(ROOT + d)
    modeling = __import__(getattr(transformers, cfg.architectures[0]).__module__, fromlist=["x"])
    rotary = [getattr(modeling, k) for k in dir(modeling) if k.endswith("RotaryEmbedding")][0](config=cfg)
    ids = torch.tensor(POSITIONS)[None]
    cos, sin = rotary(torch.zeros(1, len(POSITIONS), 8), ids)
    out["models"][d] = {"cos": [bits(r) for r in cos[0]], "sin": [bits(r) for r in sin[0]]}
with open(ROOT + "rope-tables.json", "w") as f:
    json.dump(out, f, separators=(",", ":"))
