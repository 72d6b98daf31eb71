#!/usr/bin/env python
"""Random tiny models of every supported family, and what Hugging Face transformers computes on them.

The generator half of the differential config check (`dev.reftserver.bench.ConfigDiff` is the other half; the
whole loop: `scripts/config-diff.sh`). Each case draws a config.json the way real checkpoints write them (both the
transformers 4.x and 5.x forms, RoPE scalings, sliding windows, soft-caps, biases, tied or not, keys left out so
that the config class's defaults apply), builds the model with transformers, randomises every weight (norms too),
saves it, reloads it from disk and records its outputs. Dev tool: needs torch and transformers; never a dependency
of the server or its tests.

usage: config_diff_gen.py [--stored=DTYPE] OUTDIR SEED COUNT [ARCH,ARCH...]   COUNT cases, seeds SEED.., archs in turn
       config_diff_gen.py --from-config CASE_DIR             rebuild one case from CASE_DIR/config.json (+ meta.json)

--stored: the dtype the weights are saved in, float32 (default), bfloat16, float16, or mixed (each case draws one):
as real checkpoints are stored in 16 bits. transformers' outputs are then those of the stored weights widened to
float32, which the server loaded with float32 must equal.

Archs: llama mistral qwen2 qwen3 gemma gemma2 gemma3 gemma3mm phi3 smollm3 granite gpt2 (gemma3mm: the
multimodal Gemma3ForConditionalGeneration form with a tiny SigLIP tower, whose text model the server serves).

Each case directory gets: config.json (exactly the drawn dict), meta.json (arch, seed, prompt lengths),
model.safetensors and generation_config.json (save_pretrained), ref.json (prompts, HF greedy ids from
generate(do_sample=False) with the cache and from an argmax loop without it, top-1/top-2 margins per step,
transformers' errors), logits_<i>.bin (float32 [T, V], every position), logits_bf16_<i>.bin (the same from
transformers' bfloat16 forward of the same weights), steplogits_<i>.bin and steplogits_nc_<i>.bin (float32 [8, V],
each greedy step's logits with and without the cache), steplogits_bf16_<i>.bin (the bfloat16 model's cached steps
fed the float32 greedy ids) and, for longrope, steplogits_bf16_nc_<i>.bin (its steps without a cache, the whole
sequence each step, fed the float32 no-cache greedy ids).
Made with transformers 5.18 and torch 2.13 (CPU, float32, eager attention).
"""
import json, math, os, random, shutil, sys, traceback, warnings

warnings.filterwarnings("ignore")
import numpy as np
import torch
import transformers
from transformers import AutoConfig, AutoModelForCausalLM
from transformers.utils import logging as hf_logging

hf_logging.set_verbosity_error()
hf_logging.disable_progress_bar()
torch.set_num_threads(2)

ARCHS = ["llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "gemma3mm", "phi3", "smollm3", "granite",
         "gpt2"]
ARCH_NAME = {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM",
             "qwen3": "Qwen3ForCausalLM", "gemma": "GemmaForCausalLM", "gemma2": "Gemma2ForCausalLM",
             "gemma3": "Gemma3ForCausalLM", "phi3": "Phi3ForCausalLM", "smollm3": "SmolLM3ForCausalLM",
             "granite": "GraniteForCausalLM", "gpt2": "GPT2LMHeadModel"}
MODEL_TYPE = {"gemma3": "gemma3_text"}
EXPLICIT_HEAD_DIM = {"llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "smollm3", "granite"}
GEN = 8


def ch(r, *xs):
    return r.choice(xs)


def draw_rope(r, arch, head_dim, rotary_dim, maxpos):
    """returns (rope dict without theta, notes) ; type may be 'default'."""
    if arch == "phi3":
        kinds = ["default", "longrope", "longrope"]
    elif arch == "gemma3":
        kinds = ["default", "linear", "linear", "dynamic", "llama3", "yarn"]
    else:
        kinds = ["default", "default", "linear", "dynamic", "llama3", "yarn", "yarn", "longrope"]
    k = r.choice(kinds)
    if k == "default":
        return {"rope_type": "default"}
    if k == "linear":
        return {"rope_type": "linear", "factor": ch(r, 2.0, 4.0, 8.0, 1.5)}
    if k == "dynamic":
        return {"rope_type": "dynamic", "factor": ch(r, 2.0, 4.0, 1.5)}
    if k == "llama3":
        orig = ch(r, 16, 32, 64, 8192)
        return {"rope_type": "llama3", "factor": ch(r, 8.0, 32.0, 4.0), "low_freq_factor": ch(r, 1.0, 2.0),
                "high_freq_factor": ch(r, 4.0, 8.0), "original_max_position_embeddings": orig}
    if k == "yarn":
        d = {"rope_type": "yarn", "factor": ch(r, 2.0, 4.0, 8.0, 40.0)}
        if r.random() < 0.8:
            d["original_max_position_embeddings"] = ch(r, 16, 32, 48, 4096)
        if r.random() < 0.3:
            d["beta_fast"] = ch(r, 32.0, 16.0)
            d["beta_slow"] = ch(r, 1.0, 2.0)
        if r.random() < 0.2:
            d["attention_factor"] = ch(r, 1.0, 0.8, 1.2)
        elif r.random() < 0.2:
            d["mscale"] = 1.0
            d["mscale_all_dim"] = ch(r, 1.0, 0.707)
        if r.random() < 0.2:
            d["truncate"] = False
        return d
    if k == "longrope":
        half = rotary_dim // 2
        orig = ch(r, 16, 24, 32, 48)
        d = {"rope_type": "longrope",
             "short_factor": [round(1.0 + 0.05 * r.random() * i, 4) for i in range(half)],
             "long_factor": [round(1.0 + (3.0 * r.random() + 1) * i / max(1, half), 4) for i in range(half)]}
        if arch != "phi3":
            d["original_max_position_embeddings"] = orig
        if r.random() < 0.5:
            d["factor"] = ch(r, 4.0, 8.0, 32.0)
        if r.random() < 0.2:
            d["attention_factor"] = ch(r, 1.0, 1.3)
        return d
    raise AssertionError


def draw(seed, arch):
    r = random.Random(seed)
    meta = {"seed": seed, "arch": arch}
    c = {"architectures": [ARCH_NAME[arch]], "model_type": MODEL_TYPE.get(arch, arch), "torch_dtype": "float32"}
    vocab = r.randint(300, 1000)
    if arch == "gpt2":
        heads = ch(r, 1, 2, 4, 8)
        hd = ch(r, 8, 16)
        hidden = heads * hd
        while hidden < 32:
            hd *= 2
            hidden = heads * hd
        c.update({"vocab_size": vocab, "n_embd": hidden, "n_head": heads, "n_layer": r.randint(1, 4),
                  "n_positions": ch(r, 128, 256, 1024), "n_ctx": 1024,
                  "layer_norm_epsilon": ch(r, 1e-5, 1e-6),
                  "bos_token_id": r.randrange(vocab), "eos_token_id": r.randrange(vocab)})
        if r.random() < 0.5:
            c["n_inner"] = r.choice([None, 64, 96, 4 * hidden])
        c["activation_function"] = r.choice(["gelu_new"] * 8 + ["gelu", "relu", "gelu_pytorch_tanh"])
        if r.random() < 0.3:
            c["tie_word_embeddings"] = ch(r, True, False)
        if r.random() < 0.2:
            c["scale_attn_by_inverse_layer_idx"] = True
        if r.random() < 0.15:
            c["scale_attn_weights"] = False
        if r.random() < 0.15:
            c["reorder_and_upcast_attn"] = True
        meta["max_prompt"] = min(70, c["n_positions"] - GEN)
        return c, meta

    heads = ch(r, 1, 2, 4, 4, 8)
    kv_choices = [k for k in range(1, heads + 1) if heads % k == 0]
    kv = r.choice(kv_choices)
    base_hd = ch(r, 8, 16, 16, 32)
    hidden = heads * base_hd
    while hidden < 32:
        hidden *= 2
    while hidden > 128 and base_hd > 8:
        base_hd //= 2
        hidden = heads * base_hd
    head_dim = hidden // heads
    explicit_hd = None
    if arch in EXPLICIT_HEAD_DIM and (r.random() < 0.4 or arch in ("qwen3", "gemma", "gemma2")):
        explicit_hd = ch(r, 8, 16, 24, 32, head_dim)
        head_dim = explicit_hd
    layers = r.randint(1, 4)
    inter = r.choice([32, 48, 64, 96, 128, 200, 256])
    maxpos = ch(r, 128, 256, 512, 2048, 4096, 131072)
    c.update({"vocab_size": vocab, "hidden_size": hidden, "num_attention_heads": heads, "num_hidden_layers": layers,
              "intermediate_size": inter, "max_position_embeddings": maxpos,
              "rms_norm_eps": ch(r, 1e-6, 1e-5, 1e-6, 0.1)})
    if r.random() < 0.96:
        c["num_key_value_heads"] = kv
    else:
        kv = heads
    if explicit_hd is not None:
        c["head_dim"] = explicit_hd
    c["bos_token_id"] = r.randrange(vocab)
    c["eos_token_id"] = ch(r, r.randrange(vocab), [r.randrange(vocab), r.randrange(vocab)])
    c["pad_token_id"] = 0
    if r.random() < 0.6:
        c["tie_word_embeddings"] = ch(r, True, False)
    gemma = arch.startswith("gemma")
    act_key = "hidden_activation" if arch in ("gemma2", "gemma3") else "hidden_act"
    if gemma:
        acts = ["gelu_pytorch_tanh"] * 5 + ["gelu", "silu", "gelu_new", "gelu_pytorch_tanh"]
    else:
        acts = ["silu"] * 8 + ["gelu_pytorch_tanh", "gelu", "relu", "swish", "gelu_new"]
    if r.random() < 0.7:
        c[act_key] = r.choice(acts)
    if arch in ("gemma2", "gemma3") and r.random() < 0.2:
        c["hidden_act"] = r.choice(acts)  # the other key too
    # biases
    if arch in ("llama", "qwen3", "gemma", "gemma2", "gemma3", "smollm3", "granite", "mistral", "qwen2", "phi3"):
        if r.random() < 0.35:
            c["attention_bias"] = True
    if arch in ("llama", "granite", "smollm3", "qwen2", "mistral") and r.random() < 0.3:
        c["mlp_bias"] = True
    # partial rotary
    partial = 1.0
    if arch == "phi3" and r.random() < 0.5:
        partial = ch(r, 0.5, 0.75, 0.25)
    elif arch != "phi3" and r.random() < 0.02:
        partial = 0.5
    if arch == "phi3":
        head_dim = hidden // heads
    rotary_dim = int(head_dim * partial)
    if rotary_dim % 2:
        partial = 1.0
        rotary_dim = head_dim
    theta = ch(r, 10000.0, 10000.0, 500000.0, 1000000.0, 100.0, 1000.0)
    rope = draw_rope(r, arch, head_dim, rotary_dim, maxpos)
    rt = rope["rope_type"]
    # the max prompt we use
    max_prompt = 70
    if rt in ("longrope", "yarn") or (rt == "llama3" and rope.get("original_max_position_embeddings", 0) < 100):
        pass
    # small max_position_embeddings sometimes
    if r.random() < 0.12:
        c["max_position_embeddings"] = maxpos = ch(r, 40, 64, 80)
        meta["small_maxpos"] = True
    if arch == "phi3" and rt == "longrope":
        orig = ch(r, 16, 24, 32, 48)
        c["original_max_position_embeddings"] = orig
        c["max_position_embeddings"] = maxpos = max(maxpos, orig * ch(r, 4, 8, 32))
    # form
    form = "v5" if r.random() < 0.5 else "v4"
    meta["form"] = form
    if arch == "gemma3":
        local = ch(r, 10000.0, 10000.0, 100.0)
        if form == "v5":
            full = dict(rope)
            full["rope_theta"] = theta
            c["rope_parameters"] = {"full_attention": full, "sliding_attention": {"rope_type": "default", "rope_theta": local}}
        else:
            c["rope_theta"] = theta
            c["rope_local_base_freq"] = local
            if rt != "default":
                c["rope_scaling"] = dict(rope)
            elif r.random() < 0.3:
                c["rope_scaling"] = None
    else:
        if form == "v5":
            p = dict(rope)
            p["rope_theta"] = theta
            if partial != 1.0:
                p["partial_rotary_factor"] = partial
            c["rope_parameters"] = p
        else:
            c["rope_theta"] = theta
            if rt != "default":
                s = dict(rope)
                if r.random() < 0.2:
                    s["type"] = s.pop("rope_type")  # older key
                    if arch == "phi3" and s["type"] == "longrope" and r.random() < 0.5:
                        s["type"] = "su"
                c["rope_scaling"] = s
            elif r.random() < 0.3:
                c["rope_scaling"] = None
            if partial != 1.0:
                c["partial_rotary_factor"] = partial
    if arch != "phi3" and rt in ("llama3", "yarn", "longrope") and r.random() < 0.1:
        # a top-level original_max_position_embeddings besides the rope one (HF prefers the top-level one)
        c["original_max_position_embeddings"] = ch(r, 16, 32, 64)
    # sliding windows
    win = ch(r, 4, 7, 16, 24, 33)
    if arch == "mistral":
        if r.random() < 0.6:
            c["sliding_window"] = win
        else:
            c["sliding_window"] = None
        if r.random() < 0.05:
            c["layer_types"] = [ch(r, "full_attention", "sliding_attention") for _ in range(layers)]
    elif arch == "phi3":
        if r.random() < 0.4:
            c["sliding_window"] = win
    elif arch in ("qwen2", "qwen3"):
        x = r.random()
        c["sliding_window"] = ch(r, win, None, 4096) if x < 0.9 else win
        c["use_sliding_window"] = r.random() < 0.6
        c["max_window_layers"] = r.randint(0, layers)
        if r.random() < 0.15:
            c["layer_types"] = [ch(r, "full_attention", "sliding_attention") for _ in range(layers)]
    elif arch in ("gemma2", "gemma3"):
        c["sliding_window"] = win
        if arch == "gemma3":
            x = r.random()
            if x < 0.3:
                c["layer_types"] = [ch(r, "full_attention", "sliding_attention") for _ in range(layers)]
            elif x < 0.7:
                c["sliding_window_pattern"] = ch(r, 2, 3, 6)
        elif r.random() < 0.2:
            c["layer_types"] = [ch(r, "full_attention", "sliding_attention") for _ in range(layers)]
        c["query_pre_attn_scalar"] = ch(r, head_dim, 256, 24, 144)
        if arch == "gemma2":
            c["attn_logit_softcapping"] = ch(r, 50.0, 5.0, None, 1.0)
            c["final_logit_softcapping"] = ch(r, 30.0, 3.0, None)
        else:
            if r.random() < 0.3:
                c["attn_logit_softcapping"] = ch(r, 50.0, 5.0)
            if r.random() < 0.3:
                c["final_logit_softcapping"] = ch(r, 30.0, 3.0)
    elif arch == "smollm3":
        if r.random() < 0.5:
            c["no_rope_layers"] = [ch(r, 0, 1, 1) for _ in range(layers)]
        elif r.random() < 0.5:
            c["no_rope_layer_interval"] = ch(r, 1, 2, 3, 4)
        if r.random() < 0.5:
            c["use_sliding_window"] = True
            c["sliding_window"] = win
        if r.random() < 0.1:
            c["layer_types"] = [ch(r, "full_attention", "sliding_attention") for _ in range(layers)]
            c["sliding_window"] = win
    elif arch == "granite":
        c["embedding_multiplier"] = ch(r, 1.0, 12.0, 0.5)
        c["residual_multiplier"] = ch(r, 1.0, 0.22, 0.5)
        c["logits_scaling"] = ch(r, 1.0, 8.0, 0.25)
        c["attention_multiplier"] = ch(r, 1.0, 0.0078125, 0.125, 1.0 / math.sqrt(head_dim))
    # sometimes leave keys out, so the server's defaults must match the config class's
    omit = []
    for k in ("head_dim", "query_pre_attn_scalar", "attn_logit_softcapping", "final_logit_softcapping",
              "rope_theta", "rms_norm_eps", "sliding_window", "hidden_act", "hidden_activation",
              "tie_word_embeddings", "num_key_value_heads"):
        if k in c and r.random() < (0.03 if k in ("head_dim", "num_key_value_heads") else 0.08):
            omit.append(k)
            del c[k]
    if arch == "qwen3" and "head_dim" not in c and "head_dim" not in omit:
        pass
    if omit:
        meta["omitted"] = omit
    meta["max_prompt"] = max_prompt
    return c, meta


def draw_mm(seed):
    """Gemma 3's multimodal form: the text config nested, some keys at the top level winning over it."""
    r = random.Random(seed * 31 + 5)
    text, meta = draw(seed, "gemma3")
    for k in ("architectures", "torch_dtype", "bos_token_id", "eos_token_id", "pad_token_id"):
        text.pop(k, None)
    text["model_type"] = "gemma3_text"
    top = {"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3", "torch_dtype": "float32",
           "mm_tokens_per_image": 4, "boi_token_index": 255999, "eoi_token_index": 256000, "image_token_index": 262144,
           "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 32, "intermediate_size": 64,
                             "num_hidden_layers": 1, "num_attention_heads": 2, "image_size": 28, "patch_size": 14,
                             "vision_use_head": False}}
    # keys that may sit at the top level and win over text_config
    if "tie_word_embeddings" in text and r.random() < 0.5:
        top["tie_word_embeddings"] = text.pop("tie_word_embeddings")
    elif r.random() < 0.3:
        top["tie_word_embeddings"] = r.choice([True, False])
    v = text["vocab_size"]
    if r.random() < 0.5:
        top["eos_token_id"] = [r.randrange(v), r.randrange(v)]
    else:
        text["eos_token_id"] = r.randrange(v)
    text["bos_token_id"] = r.randrange(v)
    text["pad_token_id"] = 0
    omit = []
    for k in ("head_dim", "num_key_value_heads", "query_pre_attn_scalar", "sliding_window", "rope_theta",
              "rms_norm_eps", "hidden_activation", "max_position_embeddings"):
        if k in text and r.random() < 0.2:
            omit.append(k); del text[k]
    top["text_config"] = text
    meta["arch"] = "gemma3mm"
    meta["omitted"] = omit
    return top, meta


def randomize(model, gemma):
    g = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name or name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or "ln_f.weight" in name:
                if p.dim() == 1 and name.endswith("weight"):
                    if gemma:
                        p.copy_(torch.empty_like(p).uniform_(-0.5, 0.5, generator=g))
                    else:
                        p.copy_(torch.empty_like(p).uniform_(0.5, 1.5, generator=g))
                    continue
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)


def write_json(path, d):
    with open(path, "w") as f:
        json.dump(d, f, indent=2)


def build(case_dir, cfg_dict, meta):
    """Build model from cfg_dict, save into case_dir, compute references. returns status dict."""
    os.makedirs(case_dir, exist_ok=True)
    write_json(os.path.join(case_dir, "config.json"), cfg_dict)
    write_json(os.path.join(case_dir, "meta.json"), meta)
    try:
        cfg = AutoConfig.from_pretrained(case_dir)
    except Exception as e:
        return {"status": "hf_reject_config", "error": f"{type(e).__name__}: {e}"[:500]}
    try:
        torch.manual_seed(0)
        cfg._attn_implementation = "eager"
        model = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager", dtype=torch.float32)
    except Exception as e:
        return {"status": "hf_reject_model", "error": f"{type(e).__name__}: {e}"[:500]}
    randomize(model, meta["arch"].startswith("gemma"))
    stored = meta.get("stored", "float32")
    if stored != "float32":
        model.to(getattr(torch, stored))
        cfg_dict["torch_dtype"] = stored
        write_json(os.path.join(case_dir, "config.json"), cfg_dict)
    model.save_pretrained(case_dir, safe_serialization=True)
    # the tested config.json is exactly the drawn dict
    write_json(os.path.join(case_dir, "config.json"), cfg_dict)
    model.float()
    try:
        ref, info = AutoModelForCausalLM.from_pretrained(case_dir, attn_implementation="eager", dtype=torch.float32,
                                                         output_loading_info=True)
    except Exception as e:
        return {"status": "hf_reject_reload", "error": f"{type(e).__name__}: {e}"[:500]}
    ref.eval()
    model.eval()
    loading = {k: list(v) for k, v in info.items() if v and k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    r = random.Random(meta["seed"] * 7 + 1)
    vocab = cfg_dict.get("vocab_size") or cfg_dict["text_config"]["vocab_size"]
    maxp = meta.get("max_prompt", 70)
    n = r.choice([2, 3])
    lengths = []
    for i in range(n):
        lengths.append(r.choice([1, r.randint(2, 12), r.randint(13, maxp), r.randint(13, maxp), r.randint(40, maxp)]))
    # longrope: one prompt that starts within the original context and whose generation crosses it
    rp = cfg_dict.get("rope_parameters") or cfg_dict.get("rope_scaling") or {}
    longrope = isinstance(rp, dict) and (rp.get("rope_type") or rp.get("type")) in ("longrope", "su")
    if longrope:
        orig = cfg_dict.get("original_max_position_embeddings") if meta["arch"] == "phi3" else rp.get(
            "original_max_position_embeddings", cfg_dict.get("max_position_embeddings"))
        if orig and orig - 6 >= 1:
            lengths[0] = orig - r.randint(0, 6)
    if "prompt_lengths" in meta:
        lengths = meta["prompt_lengths"]
    meta["prompt_lengths"] = lengths
    write_json(os.path.join(case_dir, "meta.json"), meta)
    prompts = [[r.randrange(vocab) for _ in range(L)] for L in lengths]
    out = {"prompts": prompts, "greedy": [], "margins": [], "loading": loading, "reload_diff": 0.0}
    with torch.no_grad():
        for i, pr in enumerate(prompts):
            ids = torch.tensor([pr])
            try:
                logits = ref(ids).logits[0].float()
            except Exception as e:
                out.setdefault("hf_errors", []).append(f"forward: {type(e).__name__}: {e}"[:300])
                out["greedy"].append(None)
                out["margins"].append(None)
                out.setdefault("greedy_nocache", []).append(None)
                out.setdefault("margins_nocache", []).append(None)
                continue
            if i == 0:
                l0 = model(ids).logits[0].float()
                out["reload_diff"] = float((l0 - logits).abs().max() / logits.abs().max().clamp_min(1e-30))
            logits.numpy().astype("<f4").tofile(os.path.join(case_dir, f"logits_{i}.bin"))
            try:
                g = ref.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=GEN, do_sample=False,
                                 return_dict_in_generate=True, output_logits=True, pad_token_id=0)
                toks = g.sequences[0, len(pr):].tolist()
                steps = torch.stack([x[0] for x in g.logits]).float()
                steps.numpy().astype("<f4").tofile(os.path.join(case_dir, f"steplogits_{i}.bin"))
                margins = []
                for s in range(steps.shape[0]):
                    top = torch.topk(steps[s], 2).values
                    margins.append(float((top[0] - top[1]) / steps[s].abs().max().clamp_min(1e-30)))
                out["greedy"].append(toks)
                out["margins"].append(margins)
                # greedy without a cache: the whole sequence through the model at every step
                seq = list(pr)
                nc, ncl, ncm = [], [], []
                for s in range(GEN):
                    lg = ref(torch.tensor([seq])).logits[0, -1].float()
                    t = int(lg.argmax())
                    top = torch.topk(lg, 2).values
                    ncm.append(float((top[0] - top[1]) / lg.abs().max().clamp_min(1e-30)))
                    nc.append(t); ncl.append(lg); seq.append(t)
                torch.stack(ncl).numpy().astype("<f4").tofile(os.path.join(case_dir, f"steplogits_nc_{i}.bin"))
                out.setdefault("greedy_nocache", []).append(nc)
                out.setdefault("margins_nocache", []).append(ncm)
            except Exception as e:
                out.setdefault("hf_errors", []).append(f"generate: {type(e).__name__}: {e}"[:300])
                out["greedy"].append(None)
                out["margins"].append(None)
                out.setdefault("greedy_nocache", []).append(None)
                out.setdefault("margins_nocache", []).append(None)
    # transformers' own bfloat16 forward of the same weights: how far bfloat16 rounding alone moves each position's
    # logits from float32 on this model (ConfigDiff --dtype=bfloat16 holds the server's bfloat16 path to it)
    try:
        low = AutoModelForCausalLM.from_pretrained(case_dir, attn_implementation="eager", dtype=torch.bfloat16)
        low.eval()
        with torch.no_grad():
            for i, pr in enumerate(prompts):
                if out["greedy"][i] is not None:
                    o = low(torch.tensor([pr]), use_cache=True)
                    o.logits[0].float().numpy().astype("<f4").tofile(os.path.join(case_dir, f"logits_bf16_{i}.bin"))
                    # its cached decode steps fed the float32 greedy ids: [len(greedy), V], row 0 the prompt's last
                    steps, cache = [o.logits[0, -1].float()], o.past_key_values
                    for t in out["greedy"][i][:-1]:
                        o = low(torch.tensor([[t]]), past_key_values=cache, use_cache=True)
                        steps.append(o.logits[0, -1].float())
                        cache = o.past_key_values
                    torch.stack(steps).numpy().astype("<f4").tofile(
                        os.path.join(case_dir, f"steplogits_bf16_{i}.bin"))
                    if longrope and out["greedy_nocache"][i] is not None:
                        # longrope: the whole sequence each step (as the no-cache loop, whose ids the server's
                        # rebuild follows), fed the float32 no-cache greedy ids; row 0 the prompt's last position
                        seq, steps = list(pr), []
                        for t in [None] + out["greedy_nocache"][i][:-1]:
                            if t is not None:
                                seq.append(t)
                            steps.append(low(torch.tensor([seq])).logits[0, -1].float())
                        torch.stack(steps).numpy().astype("<f4").tofile(
                            os.path.join(case_dir, f"steplogits_bf16_nc_{i}.bin"))
    except Exception as e:
        out.setdefault("hf_errors", []).append(f"bfloat16: {type(e).__name__}: {e}"[:300])
    write_json(os.path.join(case_dir, "ref.json"), out)
    return {"status": "ok", "loading": loading, "reload_diff": out["reload_diff"]}


def main():
    if sys.argv[1] == "--from-config":
        d = sys.argv[2]
        cfg = json.load(open(os.path.join(d, "config.json")))
        meta = json.load(open(os.path.join(d, "meta.json"))) if os.path.exists(os.path.join(d, "meta.json")) else {
            "seed": 1, "arch": [k for k, v in ARCH_NAME.items() if v == cfg["architectures"][0]][0]}
        for f in os.listdir(d):
            if f.endswith(".bin") or f.endswith(".safetensors") or f in ("ref.json", "generation_config.json"):
                os.remove(os.path.join(d, f))
        st = build(d, cfg, meta)
        print(json.dumps({"case": d, **st}))
        return
    args = [a for a in sys.argv[1:] if not a.startswith("--stored=")]
    stored = ([a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--stored=")] or ["float32"])[0]
    outdir, seed, count = args[0], int(args[1]), int(args[2])
    archs = args[3].split(",") if len(args) > 3 else ARCHS
    os.makedirs(outdir, exist_ok=True)
    for s in range(seed, seed + count):
        arch = archs[s % len(archs)]
        cfg, meta = draw_mm(s) if arch == "gemma3mm" else draw(s, arch)
        meta["stored"] = random.Random(s * 13 + 3).choice(["float32", "bfloat16", "float16"]) \
            if stored == "mixed" else stored
        d = os.path.join(outdir, f"{arch}-{s}")
        if os.path.exists(d):
            shutil.rmtree(d)
        try:
            st = build(d, cfg, meta)
        except Exception as e:
            st = {"status": "gen_error", "error": traceback.format_exc()[-800:]}
        print(json.dumps({"case": d, **st}), flush=True)


if __name__ == "__main__":
    main()
