"""Config variants of the supported Llama-family architectures: tiny random-weight models and what transformers
computes on them, in the format of reference/models-next (see its README; greedy ids from an argmax loop over the
whole sequence, 16 steps, stopping after EOS; a seed kept only with every greedy margin >= 2e-3).

Kept in src/test/resources/reference/variants/ (ModelsNextReferenceTest and others): `llama-biases`,
LlamaForCausalLM with attention_bias and mlp_bias (q, k, v, o, gate, up and down all carry a bias) and linear RoPE
scaling in the transformers-5 config form; `gemma`, GemmaForCausalLM (Gemma 1: (1 + w) RMSNorm, embedding times
sqrt(hidden), the released configs' hidden_act "gelu" read as the tanh approximation, multi-query attention, explicit
head_dim, tied embeddings); `gemma3`, Gemma3ForCausalLM; `gemma3-vlm`, Gemma3ForConditionalGeneration (the same text
model under `language_model`, with a tiny SigLIP vision tower and projector that text prompts never use), saved as
transformers saves it and its config.json rewritten to the released form (a sparse text_config); `smollm3`,
SmolLM3ForCausalLM (no RoPE on every second layer, attention_bias; full attention everywhere, as the released
SmolLM3-3B); `granite`, GraniteForCausalLM (Granite 3.x's multipliers: embedding 12, attention 1/64, residual 0.22,
logits divided by 8; biases everywhere); `gpt2-layer-scaled` and `gpt2-unscaled`, GPT2LMHeadModel with
scale_attn_by_inverse_layer_idx, and with scale_attn_weights false and a ReLU MLP; `qwen2-gelu`, Qwen2ForCausalLM
with the exact (erf) GELU. The others check configuration paths of the other families once, without
adding their files to the repository:
    python src/test/scripts/make_config_variants.py --all
then add "variants/<name>,2" rows to ModelsNextReferenceTest's sources and run it.

Run from the repository root with torch and transformers installed (the server never needs them):
    python src/test/scripts/make_config_variants.py
"""
import copy, json, os, sys
import torch
from safetensors.torch import save_file
import transformers as T

ROOT = "src/test/resources/reference"
OUT = f"{ROOT}/variants"
PROMPTS = json.load(open(f"{ROOT}/models-next/phi3/reference.json"))["prompts"]
COMMON = dict(vocab_size=32000, bos_token_id=1, eos_token_id=2, pad_token_id=0, initializer_range=0.2)

MODELS = {
  "llama-biases": (T.LlamaForCausalLM, T.LlamaConfig, dict(COMMON, hidden_size=16, intermediate_size=40,
      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, attention_bias=True, mlp_bias=True,
      tie_word_embeddings=True, max_position_embeddings=512, rms_norm_eps=1e-5,
      rope_parameters={"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0})),
  "gemma": (T.GemmaForCausalLM, T.GemmaConfig, dict(COMMON, hidden_size=16, intermediate_size=40,
      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=1, head_dim=8, hidden_act="gelu",
      tie_word_embeddings=True, max_position_embeddings=1024, rms_norm_eps=1e-6)),
  "gemma3": (T.Gemma3ForCausalLM, T.Gemma3TextConfig, dict(COMMON, hidden_size=16, intermediate_size=40,
      num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=1, head_dim=8, query_pre_attn_scalar=24,
      sliding_window=7, sliding_window_pattern=2, max_position_embeddings=1024, rms_norm_eps=1e-6,
      tie_word_embeddings=True, rope_parameters={
          "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0},
          "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}})),
  "gemma3-vlm": (T.Gemma3ForConditionalGeneration, T.Gemma3Config, dict(text_config=dict(COMMON, hidden_size=16,
      intermediate_size=40, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=1, head_dim=8,
      query_pre_attn_scalar=24, sliding_window=7, sliding_window_pattern=2, max_position_embeddings=1024,
      rope_parameters={"full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0},
          "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}),
      vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
          image_size=28, patch_size=14),
      mm_tokens_per_image=4, boi_token_index=31990, eoi_token_index=31991, image_token_index=31992)),
  "smollm3": (T.SmolLM3ForCausalLM, T.SmolLM3Config, dict(COMMON, hidden_size=32, intermediate_size=48,
      num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, no_rope_layer_interval=2,
      attention_bias=True, tie_word_embeddings=True,
      max_position_embeddings=1024, rope_parameters={"rope_type": "default", "rope_theta": 5000000.0})),
  "granite": (T.GraniteForCausalLM, T.GraniteConfig, dict(COMMON, hidden_size=32, intermediate_size=48,
      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
      embedding_multiplier=12.0, attention_multiplier=0.015625, residual_multiplier=0.22, logits_scaling=8.0,
      attention_bias=True, mlp_bias=True, max_position_embeddings=1024,
      rope_parameters={"rope_type": "default", "rope_theta": 10000.0})),
  "llama-dynamic": (T.LlamaForCausalLM, T.LlamaConfig, dict(COMMON, hidden_size=32, intermediate_size=48,
      num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=True,
      max_position_embeddings=512, rope_parameters={"rope_type": "dynamic", "factor": 4.0, "rope_theta": 10000.0})),
  "gemma2-mqa-nofinalcap": (T.Gemma2ForCausalLM, T.Gemma2Config, dict(COMMON, hidden_size=32, intermediate_size=64,
      num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=1, head_dim=8, query_pre_attn_scalar=40,
      attn_logit_softcapping=30.0, final_logit_softcapping=None, sliding_window=7, max_position_embeddings=1024, attention_bias=True,
      tie_word_embeddings=True)),
  "qwen3-untied-wide": (T.Qwen3ForCausalLM, T.Qwen3Config, dict(COMMON, hidden_size=32, intermediate_size=48,
      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=24, tie_word_embeddings=False, attention_bias=True,
      max_position_embeddings=1024, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0})),
  "qwen2-sliding-layers": (T.Qwen2ForCausalLM, T.Qwen2Config, dict(COMMON, hidden_size=32, intermediate_size=48,
      num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
      use_sliding_window=True, sliding_window=9, max_window_layers=1, max_position_embeddings=1024)),
  "mistral-headdim": (T.MistralForCausalLM, T.MistralConfig, dict(COMMON, hidden_size=24, intermediate_size=48,
      num_hidden_layers=2, num_attention_heads=3, num_key_value_heads=1, head_dim=12, sliding_window=5,
      tie_word_embeddings=False, max_position_embeddings=1024)),
  "phi3-window-partial": (T.Phi3ForCausalLM, T.Phi3Config, dict(COMMON, hidden_size=32, intermediate_size=48,
      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, partial_rotary_factor=0.5,
      sliding_window=11, tie_word_embeddings=False, max_position_embeddings=1024)),
}

# Hub-form rewrites of config.json: Gemma's released configs say hidden_act "gelu" and mean the tanh approximation.
# GPT-2's attention scaling switches: scores divided by layer + 1 (scale_attn_by_inverse_layer_idx, as the
# Stanford CRFM GPT-2 checkpoints set it), and scores not divided by sqrt(head_dim) at all (scale_attn_weights false)
GPT2 = dict(vocab_size=32000, bos_token_id=1, eos_token_id=2, initializer_range=0.2, n_embd=16, n_layer=3, n_head=4,
            n_positions=1024)
MODELS["gpt2-layer-scaled"] = (T.GPT2LMHeadModel, T.GPT2Config, dict(GPT2, scale_attn_by_inverse_layer_idx=True))
MODELS["gpt2-unscaled"] = (T.GPT2LMHeadModel, T.GPT2Config, dict(GPT2, scale_attn_weights=False,
                                                                   activation_function="relu"))
# the exact (erf) GELU in a gated MLP
MODELS["qwen2-gelu"] = (T.Qwen2ForCausalLM, T.Qwen2Config, dict(COMMON, hidden_size=16, intermediate_size=40,
    num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, hidden_act="gelu", tie_word_embeddings=True,
    max_position_embeddings=1024, rms_norm_eps=1e-6))

HUB_FORM = {"gemma": {"hidden_act": "gelu"},
            # Gemma 3's released form: one global rope_theta with rope_scaling, rope_local_base_freq for the
            # sliding layers, sliding_window_pattern instead of layer_types
            "gemma3": {"rope_local_base_freq": 10000.0, "sliding_window_pattern": 2, "layer_types": None}}


def build(cls, ccls, cfg, seed):
    config = ccls(**copy.deepcopy(cfg)); config._attn_implementation = "eager"
    torch.manual_seed(seed); model = cls(config).eval()
    g = torch.Generator().manual_seed(seed + 7)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1 and "norm" in name:
                p.add_(0.3 * torch.randn(p.shape, generator=g))
            elif p.dim() == 1 and "bias" in name:
                p.add_(0.2 * torch.randn(p.shape, generator=g))
    return model

def greedy(model, ids, eos):
    seq = list(ids); margins = []
    for _ in range(16):
        logits = model(torch.tensor([seq])).logits[0, -1].float()
        top = torch.topk(logits, 2).values; margins.append(float(top[0] - top[1]))
        seq.append(int(logits.argmax()))
        if seq[-1] in eos: break
    return seq[len(ids):], margins

KEPT = ["llama-biases", "gemma", "gemma3", "gemma3-vlm", "smollm3", "granite", "gpt2-layer-scaled", "gpt2-unscaled",
        "qwen2-gelu"]


def released_multimodal_form(out):
    """config.json as Gemma 3's released multimodal checkpoints carry it: text_config lists only what differs from
    Gemma3TextConfig's defaults, in the transformers 4.x RoPE form, and the EOS ids sit at the top level."""
    c = json.load(open(f"{out}/config.json")); t = c["text_config"]
    rp = t.pop("rope_parameters"); full = dict(rp["full_attention"])
    assert full.pop("rope_theta") == 1000000.0 and rp["sliding_attention"]["rope_theta"] == 10000.0  # the defaults
    keep = ["hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
            "head_dim", "query_pre_attn_scalar", "sliding_window", "max_position_embeddings", "vocab_size",
            "bos_token_id", "pad_token_id", "model_type"]
    text = {k: t[k] for k in keep}; text["sliding_window_pattern"] = 2; text["rope_scaling"] = full
    c["text_config"] = text; c["eos_token_id"] = [t["eos_token_id"]]
    c["torch_dtype"] = c.pop("dtype")
    json.dump(c, open(f"{out}/config.json", "w"), indent=2, sort_keys=True)
only = [a for a in sys.argv[1:] if a != "--all"] or (list(MODELS) if "--all" in sys.argv else KEPT)
for name, (cls, ccls, cfg) in MODELS.items():
    if name not in only: continue
    for seed in range(100, 140):
        model = build(cls, ccls, cfg, seed)
        eos = getattr(model.config, "text_config", model.config).eos_token_id
        eos = eos if isinstance(eos, list) else [eos]
        res = []; worst = 1e9
        with torch.no_grad():
            for p in PROMPTS:
                last = model(torch.tensor([p["ids"]])).logits[0, -1].float().clone()
                ids, m = greedy(model, p["ids"], eos); worst = min(worst, min(m)); res.append((p, last, ids, m))
        if worst >= 2e-3: break
    else:
        print(name, "no seed"); continue
    out = f"{OUT}/{name}"; os.makedirs(out, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    save_file({p["name"]: l.contiguous() for p, l, _, _ in res}, f"{out}/logits.safetensors")
    if name == "gemma3-vlm":
        released_multimodal_form(out)
        again = cls.from_pretrained(out, attn_implementation="eager").eval()
        with torch.no_grad():
            for p, l, _, _ in res:
                assert torch.equal(again(torch.tensor([p["ids"]])).logits[0, -1], l), name
    if name in HUB_FORM:
        # config.json as the family's released checkpoints carry it (transformers 4.x form); it must load to the
        # very same logits
        c = json.load(open(f"{out}/config.json"))
        rp = c.pop("rope_parameters")
        c.update(HUB_FORM[name])
        if "full_attention" in rp:
            full = dict(rp["full_attention"])
            c["rope_theta"] = full.pop("rope_theta")
            c["rope_scaling"] = full if full.get("rope_type", "default") != "default" else None
        else:
            c["rope_theta"] = rp["rope_theta"]; c["rope_scaling"] = None
        c = {k: v for k, v in c.items() if (v is not None or k == "rope_scaling") and not k.startswith("_")}
        c["torch_dtype"] = c.pop("dtype")
        json.dump(c, open(f"{out}/config.json", "w"), indent=2, sort_keys=True)
        again = cls.from_pretrained(out, attn_implementation="eager").eval()
        with torch.no_grad():
            for p, l, _, _ in res:
                assert torch.equal(again(torch.tensor([p["ids"]])).logits[0, -1], l), name
    json.dump({"name": name, "architecture": cls.__name__,
               "made_with": {"transformers": T.__version__, "torch": torch.__version__},
               "weights": {"seed": seed, "dtype": "float32", "init": "torch.manual_seed(seed); the model class's"
                           " init with initializer_range 0.2; then every 1-D norm weight += 0.3 * N(0,1) and every"
                           " bias += 0.2 * N(0,1) (torch.Generator seeded seed + 7)"},
               "generation": "argmax loop over 16 steps over the whole sequence, each prompt alone",
               "tolerance": {"logits_abs": 1e-4, "greedy_ids": "exact"}, "min_greedy_margin": worst,
               "config_form": "hub (transformers 4.x)" if name in HUB_FORM or name == "gemma3-vlm" else "transformers 5",
               "prompts": [{"name": p["name"], "ids": p["ids"], "greedy": {"ids": ids}} for p, _, ids, _ in res]},
              open(f"{out}/reference.json", "w"), indent=1)
    print(name, "seed", seed, "margin", worst, flush=True)
