"""Tiny random-weight models with the RoPE scalings of long-context checkpoints, and what transformers computes.

Writes src/test/resources/reference/rope-scaling/<name>/ (config.json, generation_config.json, model.safetensors,
reference.json, logits.safetensors) in the format of reference/models-next (see its README):

- phi3-longrope: Phi3ForCausalLM with rope_scaling longrope (short/long factors, Hub form, no factor: the ratio of
  max_position_embeddings to the top-level original_max_position_embeddings 32) and partial_rotary_factor 0.75,
  as Phi-3.5-mini and Phi-4-mini carry. Prompts up to 31 tokens prefill with the short factors and cross the
  original context while decoding; long and long300 prefill with the long factors.
- qwen2-yarn: Qwen2ForCausalLM (q/k/v bias) with rope_scaling {"type": "yarn", "factor": 8,
  "original_max_position_embeddings": 64} and max_position_embeddings 256, as Qwen2.5 model cards suggest for long
  contexts (the config's max_position_embeddings stays, yarn takes the model to original x factor = 512): long300
  runs past 256.
- llama-yarn-v5config: LlamaForCausalLM with rope_parameters (transformers-5 form) yarn with mscale and
  mscale_all_dim, beta_fast 8, beta_slow 2 and truncate false (a fractional correction range).

Prompts and ids are those of reference/models-next (the stories15M tokenizer). Greedy ids come from an argmax loop
that runs the whole sequence through the model at each step, each prompt alone: transformers' longrope picks short
or long factors per forward from its largest position, so with the whole sequence each step a sequence that grows
past the original context is rotated with the long factors throughout, which is what Phi3ForCausalLM's
prepare_inputs_for_generation means to do by dropping the cache at that step. In transformers 5.18 model.generate
does not: past that step it feeds only the newest token, without a cache (reference.json records per prompt
whether generate agrees with the loop; for yarn, which has no switch, it always does).

Run from the repository root with torch and transformers installed (the server never needs them):
    python src/test/scripts/make_rope_scaling_models.py
"""
import copy
import json
import os
import sys

import torch
from safetensors.torch import save_file
import transformers
from transformers import LlamaConfig, LlamaForCausalLM, Phi3Config, Phi3ForCausalLM, Qwen2Config, Qwen2ForCausalLM

ROOT = "src/test/resources/reference"
OUT = f"{ROOT}/rope-scaling"
PROMPTS = json.load(open(f"{ROOT}/models-next/phi3/reference.json"))["prompts"]
MIN_MARGIN = 2e-3

COMMON = dict(vocab_size=32000, bos_token_id=1, eos_token_id=2, pad_token_id=0, initializer_range=0.2,
              tie_word_embeddings=True)

MODELS = {
    "phi3-longrope": dict(
        cls=Phi3ForCausalLM, config_cls=Phi3Config, seed=2101,
        config=dict(COMMON, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=2,
                    num_key_value_heads=1, max_position_embeddings=1024, original_max_position_embeddings=32,
                    partial_rotary_factor=0.75, rms_norm_eps=1e-5, sliding_window=None,
                    rope_scaling={"type": "longrope", "short_factor": [1.0, 1.1, 1.3, 1.6, 2.0, 2.5],
                                  "long_factor": [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]}),
        hub=dict(rope_theta=10000.0)),
    "qwen2-yarn": dict(
        cls=Qwen2ForCausalLM, config_cls=Qwen2Config, seed=2201,
        config=dict(COMMON, hidden_size=64, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-6,
                    use_sliding_window=False,
                    rope_scaling={"type": "yarn", "factor": 8.0, "original_max_position_embeddings": 64}),
        hub=dict(rope_theta=10000.0)),
    "llama-yarn-v5config": dict(
        cls=LlamaForCausalLM, config_cls=LlamaConfig, seed=2301,
        config=dict(COMMON, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, head_dim=16, max_position_embeddings=2048, rms_norm_eps=1e-5,
                    rope_parameters={"rope_type": "yarn", "rope_theta": 10000.0, "factor": 16.0,
                                     "original_max_position_embeddings": 48, "beta_fast": 8.0, "beta_slow": 2.0,
                                     "mscale": 1.2, "mscale_all_dim": 0.8, "truncate": False}),
        hub=None),
}


def build(spec, seed):
    cfg = copy.deepcopy(spec["config"])  # the config class fills in rope_scaling's dict
    if spec["hub"]:
        cfg.update(spec["hub"])
    config = spec["config_cls"](**cfg)
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = spec["cls"](config).eval()
    g = torch.Generator().manual_seed(seed + 7)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1 and "norm" in name:
                p.add_(0.3 * torch.randn(p.shape, generator=g))
    return model


def greedy(model, ids, eos):
    """16 greedy ids from an argmax loop that runs the whole sequence each step (stopping after an EOS id), the
    margins of its steps, and whether model.generate with the KV cache gives the same ids."""
    seq = list(ids)
    margins = []
    for _ in range(16):
        logits = model(torch.tensor([seq])).logits[0, -1].float()
        top = torch.topk(logits, 2).values
        margins.append(float(top[0] - top[1]))
        seq.append(int(logits.argmax()))
        if seq[-1] in eos:
            break
    new = seq[len(ids):]
    out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                         do_sample=False, max_new_tokens=16, eos_token_id=eos, pad_token_id=0)
    return new, margins, out[0, len(ids):].tolist() == new


def make(name, spec):
    tried = []
    for seed in range(spec["seed"], spec["seed"] + 40):
        model = build(spec, seed)
        eos = model.config.eos_token_id
        eos = eos if isinstance(eos, list) else [eos]
        results = []
        worst = float("inf")
        with torch.no_grad():
            for p in PROMPTS:
                last = model(torch.tensor([p["ids"]])).logits[0, -1].float().clone()
                ids, margins, cached = greedy(model, p["ids"], eos)
                worst = min(worst, min(margins))
                results.append((p, last, ids, margins, cached))
        tried.append({"seed": seed, "min_greedy_margin": worst})
        if worst >= MIN_MARGIN:
            break
    else:
        sys.exit(f"{name}: no seed with a greedy margin of {MIN_MARGIN}")
    out = f"{OUT}/{name}"
    os.makedirs(out, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    config = json.load(open(f"{out}/config.json"))
    if spec["hub"]:
        # The Hub's transformers-4.x form: top-level rope_theta and rope_scaling as the checkpoint cards give it.
        config.pop("rope_parameters", None)
        config["rope_theta"] = spec["hub"]["rope_theta"]
        config["rope_scaling"] = spec["config"]["rope_scaling"]
        for k in ("partial_rotary_factor", "original_max_position_embeddings"):
            if k in spec["config"]:
                config[k] = spec["config"][k]
        json.dump(config, open(f"{out}/config.json", "w"), indent=2, sort_keys=True)
        reloaded = spec["cls"].from_pretrained(out, attn_implementation="eager").eval()
        with torch.no_grad():
            again = reloaded(torch.tensor([PROMPTS[-1]["ids"]])).logits[0, -1]
        assert torch.equal(again, results[-1][1]), f"{name}: the Hub-form config loads to other logits"
    save_file({p["name"]: last.contiguous() for p, last, _, _, _ in results}, f"{out}/logits.safetensors")
    rope = model.model.rotary_emb
    reference = {
        "name": name,
        "architecture": model.config.architectures[0] if model.config.architectures else spec["cls"].__name__,
        "config_form": "hub (transformers 4.x)" if spec["hub"] else "transformers 5",
        "rope_parameters": model.config.rope_parameters,
        "attention_scaling": rope.attention_scaling,
        "made_with": {"transformers": transformers.__version__, "torch": torch.__version__},
        "weights": {"seed": seed, "seeds_tried": tried, "dtype": "float32",
                    "init": f"torch.manual_seed(seed); {spec['cls'].__name__}(config) with initializer_range 0.2;"
                            " then every 1-D norm weight += 0.3 * N(0,1) (torch.Generator seeded seed + 7)"},
        "generation": "argmax loop over 16 steps, each running the whole sequence (prompt + ids so far) through the"
                      " model, each prompt alone; ids stop after the first EOS (included when hit).",
        "generate_with_cache_equal": all(c for _, _, _, _, c in results),
        "tolerance": {"logits_abs": 1e-4, "greedy_ids": "exact"},
        "min_greedy_margin": min(min(m) for _, _, _, m, _ in results),
        "prompts": [{"name": p["name"], "ids": p["ids"], "n_tokens": len(p["ids"]),
                     "greedy": {"ids": ids, "n": len(ids), "min_margin": min(m),
                                "generate_with_cache_equal": c}}
                    for p, _, ids, m, c in results],
    }
    json.dump(reference, open(f"{out}/reference.json", "w"), indent=1)
    print(name, "seed", seed, "min margin", reference["min_greedy_margin"], "attention_scaling",
          rope.attention_scaling)


if __name__ == "__main__":
    for name, spec in MODELS.items():
        make(name, spec)
