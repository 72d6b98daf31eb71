"""Interventions on every supported architecture: for tiny models of each family (reference/models-next, tiny and
variants), a LoReFT bundle of four interventions at the first and the last block, and what
transformers computes with them applied as pyreft applies them: at the output of decoder layer N
(`model.layers[N].output`, GPT-2's `transformer.h[N].output`), at the first two and last two prompt positions
(`f2+l2`, untied: pyreft's get_intervention_locations, first = [0, min(L//2, 2)), last = [L - min(L//2, 2), L)),
during the prefill only; the generated tokens run the plain model through the KV cache.

The four interventions, with pyreft's formula h + S (act(W h + b) - S^T h) (S [d, r] with orthonormal columns,
W [r, d], b [r]; a bundle holds one type, and the other types' formulas are checked on stories15M):
    0  layer 0      first positions  rank 3  act linear
    1  layer 0      last positions   rank 2  act relu
    2  last layer   last positions   rank 4  act linear
    3  last layer   first positions  rank 2  act gelu
No two of them edit the same position of the same layer, so their order does not matter.

Writes reference/architecture-interventions/<model>/bundle.zip (reft-bundle/1) and reference.json: per prompt the
ids, the positions edited, 12 greedy ids (stopping after EOS), and the last-position logits at the 16 largest and
at 48 fixed ids (prompts
longer than the model's context left out). A seed is kept only if every greedy step has a top-1/top-2 margin of at least 2e-3.

Run from the repository root with torch and transformers installed (the server never needs them):
    python src/test/scripts/make_architecture_interventions.py
"""
import io, json, os, zipfile
import torch
import torch.nn.functional as F
from safetensors.torch import save
import transformers as T

ROOT = "src/test/resources/reference"
OUT = f"{ROOT}/architecture-interventions"
MODELS = ["models-next/llama3-rope", "models-next/qwen3", "models-next/gemma2", "models-next/phi3",
          "models-next/mistral-sliding", "tiny/gpt2", "tiny/qwen2", "variants/granite", "variants/gemma3"]
PROMPT_NAMES = ["one_char", "short", "sentence", "long", "long300"]
PROMPTS = {p["name"]: p["ids"] for p in json.load(open(f"{ROOT}/models-next/phi3/reference.json"))["prompts"]}
STEPS = 12
ACTS = {"linear": lambda x: x, "relu": F.relu, "gelu": F.gelu}


def positions(length, group):
    n = min(length // 2, 2)
    return list(range(0, n)) if group == "first" else list(range(length - n, length))


def make_bundle(d, layers, seed):
    g = torch.Generator().manual_seed(seed)
    def gauss(*shape, scale=1.0):
        return torch.randn(*shape, generator=g) * scale
    def orthonormal(r):
        q, _ = torch.linalg.qr(gauss(d, r))
        return q.contiguous()
    last = layers - 1
    specs = [("loreft", 0, "first", 3, "linear"), ("loreft", 0, "last", 2, "relu"),
             ("loreft", last, "last", 4, "linear"), ("loreft", last, "first", 2, "gelu")]
    tensors, interventions, math = {}, [], []
    for i, (kind, layer, apply_to, r, act) in enumerate(specs):
        t = {"weight": gauss(r, d, scale=2.0 / d ** 0.5), "bias": gauss(r, scale=3.0)}
        if kind in ("loreft", "direft"):
            t["rotate"] = orthonormal(r)
        else:
            t["proj"] = gauss(r, d, scale=1.0 / d ** 0.5)
        if kind == "noreft":
            t["proj_bias"] = gauss(r, scale=0.5)
        names = {}
        for role, value in t.items():
            tensors[f"{i}.{role}"] = value
            names[role] = f"{i}.{role}"
        interventions.append({"layer": layer, "component": "block_output", "type": kind, "rank": r,
                              "apply_to": apply_to, "act": act, "tensors": names})
        math.append((kind, layer, apply_to, act, t))
    manifest = {"format": "reft-bundle/1", "base_model": {"hidden_size": d, "num_layers": layers},
                "prompt_positions": "f2+l2", "share_weights": False, "interventions": interventions}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        # A fixed timestamp: the same weights give the same bytes.
        stamp = (2026, 1, 1, 0, 0, 0)
        z.writestr(zipfile.ZipInfo("reft.json", stamp), json.dumps(manifest, indent=1))
        z.writestr(zipfile.ZipInfo("weights.safetensors", stamp), save(tensors))
    return buf.getvalue(), math


def edit(kind, act, t, h):
    """pyreft's intervention of `kind` on h [k, d] (float32)."""
    f = ACTS[act]
    if kind == "loreft":
        S = t["rotate"]
        return h + (f(h @ t["weight"].T + t["bias"]) - h @ S) @ S.T
    if kind == "direft":
        return h + f(h @ t["weight"].T + t["bias"]) @ t["rotate"].T
    if kind == "nodireft":
        return h + f(h @ t["weight"].T + t["bias"]) @ t["proj"]
    if kind == "noreft":
        P = t["proj"]
        return h + (f(h @ t["weight"].T + t["bias"]) - (h @ P.T + t["proj_bias"])) @ P
    raise ValueError(kind)


def decoder_layers(model):
    if hasattr(model, "transformer"):
        return model.transformer.h
    inner = model.model
    return inner.language_model.layers if hasattr(inner, "language_model") else inner.layers


def run(model, math, ids):
    layers = decoder_layers(model)
    length = len(ids)
    active = {"on": True}
    handles = []
    for kind, layer, apply_to, act, t in math:
        at = positions(length, apply_to)
        def hook(module, args, out, kind=kind, act=act, t=t, at=at):
            if not active["on"] or not at:
                return out
            h = out[0] if isinstance(out, tuple) else out
            h = h.clone()
            h[0, at] = edit(kind, act, t, h[0, at])
            return (h,) + tuple(out[1:]) if isinstance(out, tuple) else h
        handles.append(layers[layer].register_forward_hook(hook))
    try:
        with torch.no_grad():
            out = model(input_ids=torch.tensor([ids]), use_cache=True)
            active["on"] = False
            logits = out.logits[0, -1].float()
            pkv = out.past_key_values
            greedy, margins = [], []
            step_logits = logits
            eos = model.generation_config.eos_token_id
            eos = set(eos if isinstance(eos, list) else [eos])
            for _ in range(STEPS):
                top2 = torch.topk(step_logits, 2).values
                margins.append(float(top2[0] - top2[1]))
                nxt = int(torch.argmax(step_logits))
                greedy.append(nxt)
                if nxt in eos or len(greedy) == STEPS:
                    break
                o = model(input_ids=torch.tensor([[nxt]]), past_key_values=pkv, use_cache=True)
                pkv = o.past_key_values
                step_logits = o.logits[0, -1].float()
    finally:
        for h in handles:
            h.remove()
    return logits, greedy, min(margins)


def main():
    torch.set_num_threads(1)
    for name in MODELS:
        path = f"{ROOT}/{name}"
        model = T.AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="eager")
        model.eval()
        cfg = model.config.get_text_config()
        d, layers, vocab = cfg.hidden_size, cfg.num_hidden_layers, cfg.vocab_size
        context = getattr(cfg, "max_position_embeddings", None) or cfg.n_positions
        fixed = list(range(5, vocab, vocab // 48))[:48]
        for seed in range(1, 50):
            zipped, math = make_bundle(d, layers, seed)
            rows, worst = [], 1e9
            for p in PROMPT_NAMES:
                ids = PROMPTS[p] if vocab >= 32000 else [1] + [3 + x % (vocab - 3) for x in PROMPTS[p][1:]]
                if len(ids) + STEPS > context:
                    continue
                logits, greedy, margin = run(model, math, ids)
                base_logits, _, _ = run(model, [], ids)
                worst = min(worst, margin)
                top = torch.topk(logits, 16).indices.tolist()
                at = top + fixed
                rows.append({"name": p, "ids": ids,
                             "positions": {"first": positions(len(ids), "first"),
                                           "last": positions(len(ids), "last")},
                             "greedy": greedy,
                             "logit_ids": at, "logits": [float(logits[i]) for i in at],
                             "max_edit_effect": float((logits - base_logits).abs().max())})
            if worst >= 2e-3:
                break
        folder = f"{OUT}/{name.split('/')[-1]}"
        os.makedirs(folder, exist_ok=True)
        with open(f"{folder}/bundle.zip", "wb") as f:
            f.write(zipped)
        ref = {"model": f"reference/{name}", "made_with": {"transformers": T.__version__,
               "torch": torch.__version__}, "seed": seed, "min_greedy_margin": worst,
               "positions": "f2+l2", "steps": STEPS, "prompts": rows}
        with open(f"{folder}/reference.json", "w") as f:
            json.dump(ref, f, indent=1)
        print(name, "seed", seed, "margin", round(worst, 5),
              "effects", [round(r["max_edit_effect"], 3) for r in rows])


if __name__ == "__main__":
    main()
