"""Writes small pyreft-style save directories with real torch.save, for the importer's tests.

Usage: python make_torch_saved_bundles.py OUT_DIR   (needs torch; pyreft itself is not needed)

The modules mirror pyreft 0.1.0's DireftIntervention, ConsreftIntervention, LobireftIntervention and
NoreftIntervention (pyvene's base intervention registers the int64 buffers embed_dim and interchange_dim), so their
default state_dict() is what pyreft's ReftModel.save writes, orthogonal parametrization included. The parametrized
X gets random entries below and above its diagonal (training only moves the part below; the part above must be
ignored) while its diagonal keeps torch's -1. Each case is saved in some dtype (the bf16 one keeps its rotation in
fp32, as pyreft does: bf16 cannot hold a 32x4 orthonormal basis within the importer's 1e-3); expected.safetensors
holds, in fp32,
what the importer must recover: S as torch itself computes it in float64 from the saved tensors, W, b, P, p.
"""
import json
import os
import struct
import sys

import torch

D, R = 32, 4


class LowRankRotateLayer(torch.nn.Module):
    def __init__(self, n, m):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.empty(n, m))
        torch.nn.init.orthogonal_(self.weight)


class Base(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("embed_dim", torch.tensor(D))
        self.register_buffer("interchange_dim", torch.tensor(D))


def rotate():
    layer = torch.nn.utils.parametrizations.orthogonal(LowRankRotateLayer(D, R))
    with torch.no_grad():
        x = layer.parametrizations.weight.original
        noise = 0.3 * torch.randn(D, R)
        keep_diag = torch.zeros(D, R, dtype=torch.bool)
        keep_diag[range(R), range(R)] = True
        x.add_(noise.masked_fill(keep_diag, 0.0))
    return layer


class Direft(Base):
    def __init__(self):
        super().__init__()
        self.rotate_layer = rotate()
        self.learned_source = torch.nn.Linear(D, R)


class Consreft(Base):
    def __init__(self):
        super().__init__()
        self.rotate_layer = rotate()
        self.learned_source = torch.nn.Parameter(torch.rand(R))


class Lobireft(Consreft):
    pass


class Noreft(Base):
    def __init__(self):
        super().__init__()
        self.proj_layer = torch.nn.Linear(D, R, bias=True)
        self.learned_source = torch.nn.Linear(D, R)


def materialized_s(module_cls, state):
    """S = rotate_layer.weight as torch computes it, in float64, from the tensors as saved."""
    m = module_cls().double()
    m.load_state_dict({k: v.to(torch.float64) if v.is_floating_point() else v for k, v in state.items()})
    with torch.no_grad():
        return m.rotate_layer.weight.float()


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = t.detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def config(type_name, layers, dotted):
    keys, counter, reps = [], {}, []
    for layer in layers:
        proposal = (f"layer.{layer}.comp.block_output.unit.pos.nunit.1" if dotted
                    else f"layer_{layer}_comp_block_output_unit_pos_nunit_1")
        counter[proposal] = counter.get(proposal, -1) + 1
        keys.append(f"{proposal}#{counter[proposal]}")
        reps.append([layer, "block_output", "pos", 1, R] + [None] * 9)
    cfg = {"intervention_constant_sources": [True] * len(layers), "intervention_dimensions": [D] * len(layers),
           "intervention_types": [f"<class 'pyreft.interventions.{type_name}'>"] * len(layers), "mode": "parallel",
           "representations": reps, "sorted_keys": keys, "transformers_version": "5.18.0"}
    return cfg, keys


def main(out):
    torch.manual_seed(7)
    expected = {}
    cases = [
        # name, module, pyreft class, dtype, layers, dotted keys
        ("direft_f32", Direft, "DireftIntervention", torch.float32, [1, 2], False),
        ("consreft_f16", Consreft, "ConsreftIntervention", torch.float16, [0], False),
        ("lobireft_bf16_dotted", Lobireft, "LobireftIntervention", torch.bfloat16, [3, 3], True),
        ("noreft_strided", Noreft, "NoreftIntervention", torch.float32, [2], False),
    ]
    for name, cls, type_name, dtype, layers, dotted in cases:
        case_dir = os.path.join(out, name)
        os.makedirs(case_dir, exist_ok=True)
        cfg, keys = config(type_name, layers, dotted)
        with open(os.path.join(case_dir, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        for i, key in enumerate(keys):
            module = cls()
            state = {k: (v.to(dtype) if v.is_floating_point() and not (dtype == torch.bfloat16 and "rotate" in k)
                         else v) for k, v in module.state_dict().items()}
            if name == "noreft_strided":
                # a transposed view (strides (1, R)) and a slice at storage offset 3 of a larger tensor
                state["learned_source.weight"] = state["learned_source.weight"].t().contiguous().t()
                big = torch.randn(R + 5)
                big[3:3 + R] = state["learned_source.bias"]
                state["learned_source.bias"] = big[3:3 + R]
            torch.save(state, os.path.join(case_dir, f"intkey_{key}.bin"))
            prefix = f"{name}.{i}."
            if hasattr(module, "rotate_layer"):
                expected[prefix + "rotate"] = materialized_s(cls, state)
            if isinstance(getattr(module, "learned_source"), torch.nn.Linear):
                expected[prefix + "weight"] = state["learned_source.weight"].float()
                expected[prefix + "bias"] = state["learned_source.bias"].float()
            else:
                expected[prefix + "bias"] = state["learned_source"].float()
            if hasattr(module, "proj_layer"):
                expected[prefix + "proj"] = state["proj_layer.weight"].float()
                expected[prefix + "proj_bias"] = state["proj_layer.bias"].float()
    write_safetensors(os.path.join(out, "expected.safetensors"), expected)


if __name__ == "__main__":
    main(sys.argv[1])
