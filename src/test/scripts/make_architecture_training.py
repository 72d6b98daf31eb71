"""Training's loss and gradients on every supported block: for tiny models of each family
(reference/models-next and variants), a random LoReFT intervention (rank 4, after decoder layer 0, so that gradients flow back through every later block; position l1)
and what transformers computes for the training reference's batch (reference/training/loreft-l1: its 8 examples'
input ids, labels and intervention positions, right-padded with id 0 and masked as pyreft's collator pads): the
token-weighted mean cross-entropy and its gradients with respect to the intervention's W and b, with pyreft's
LoReFT h + S (W h + b - S^T h) applied by a forward hook at the positions (S a plain tensor here: its gradient
through torch's orthogonal parametrization does not depend on the model and is checked on stories15M).

Writes reference/architecture-training/<model>/bundle.zip (reft-bundle/1, the intervention) and reference.json
(loss, grad_weight [r*d], grad_bias [r]).

Run from the repository root with torch and transformers installed (the server never needs them):
    python src/test/scripts/make_architecture_training.py
"""
import io, json, os, zipfile
import torch
import torch.nn.functional as F
from safetensors.torch import save
import transformers as T

ROOT = "src/test/resources/reference"
OUT = f"{ROOT}/architecture-training"
MODELS = ["models-next/llama3-rope", "models-next/qwen3", "models-next/gemma2", "models-next/phi3",
          "models-next/mistral-sliding", "variants/gemma3", "variants/granite", "variants/smollm3",
          "variants/gpt2-layer-scaled", "variants/gpt2-unscaled"]
LAYER, RANK = 0, 4
TRAINING = json.load(open(f"{ROOT}/training/loreft-l1/reference.json"))


def decoder_layers(model):
    if hasattr(model, "transformer"):
        return model.transformer.h
    inner = model.model
    return inner.language_model.layers if hasattr(inner, "language_model") else inner.layers


def main():
    torch.set_num_threads(1)
    examples = TRAINING["examples"]
    longest = max(len(e["input_ids"]) for e in examples)
    ids = torch.tensor([e["input_ids"] + [0] * (longest - len(e["input_ids"])) for e in examples])
    mask = torch.tensor([[1] * len(e["input_ids"]) + [0] * (longest - len(e["input_ids"])) for e in examples])
    labels = torch.tensor([e["labels"] + [-100] * (longest - len(e["labels"])) for e in examples])
    where = [e["intervention_locations"][0] for e in examples]
    for name in MODELS:
        model = T.AutoModelForCausalLM.from_pretrained(f"{ROOT}/{name}", dtype=torch.float32,
                                                       attn_implementation="eager")
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        d = model.config.get_text_config().hidden_size
        g = torch.Generator().manual_seed(7)
        S = torch.linalg.qr(torch.randn(d, RANK, generator=g))[0].contiguous()
        W = (torch.randn(RANK, d, generator=g) * (2.0 / d ** 0.5)).requires_grad_(True)
        b = (torch.randn(RANK, generator=g) * 2.0).requires_grad_(True)

        def hook(module, args, out):
            h = out[0] if isinstance(out, tuple) else out
            rows = []
            for i, at in enumerate(where):
                base = h[i, at]
                edited = base + (base @ W.T + b - base @ S) @ S.T
                row = h[i].clone()
                row[at] = edited
                rows.append(row)
            h = torch.stack(rows)
            return (h,) + tuple(out[1:]) if isinstance(out, tuple) else h

        handle = decoder_layers(model)[LAYER].register_forward_hook(hook)
        try:
            logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits.float()
        finally:
            handle.remove()
        shift_logits = logits[:, :-1].reshape(-1, logits.shape[-1])
        shift_labels = labels[:, 1:].reshape(-1)
        loss = F.cross_entropy(shift_logits, shift_labels, ignore_index=-100, reduction="mean")
        loss.backward()
        manifest = {"format": "reft-bundle/1", "base_model": {"hidden_size": d,
                    "num_layers": model.config.get_text_config().num_hidden_layers},
                    "prompt_positions": "l1", "share_weights": False,
                    "interventions": [{"layer": LAYER, "component": "block_output", "type": "loreft", "rank": RANK,
                                       "apply_to": "all", "act": "linear",
                                       "tensors": {"rotate": "0.rotate", "weight": "0.weight", "bias": "0.bias"}}]}
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
            # A fixed timestamp: the same weights give the same bytes.
            stamp = (2026, 1, 1, 0, 0, 0)
            z.writestr(zipfile.ZipInfo("reft.json", stamp), json.dumps(manifest, indent=1))
            z.writestr(zipfile.ZipInfo("weights.safetensors", stamp), save({
                "0.rotate": S, "0.weight": W.detach().contiguous(), "0.bias": b.detach().contiguous()}))
        folder = f"{OUT}/{name.split('/')[-1]}"
        os.makedirs(folder, exist_ok=True)
        with open(f"{folder}/bundle.zip", "wb") as f:
            f.write(buf.getvalue())
        ref = {"model": f"reference/{name}", "made_with": {"transformers": T.__version__, "torch": torch.__version__},
               "layer": LAYER, "rank": RANK, "examples": "reference/training/loreft-l1 (input_ids, labels, positions)",
               "loss": float(loss), "grad_weight": W.grad.reshape(-1).tolist(), "grad_bias": b.grad.tolist()}
        with open(f"{folder}/reference.json", "w") as f:
            json.dump(ref, f, indent=1)
        print(name, "loss", round(float(loss), 5), "|gW|", round(float(W.grad.norm()), 5),
              "|gb|", round(float(b.grad.norm()), 5))


if __name__ == "__main__":
    main()
