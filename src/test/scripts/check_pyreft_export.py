"""Loads pyreft-format exports of the server with real torch, the way pyreft's ReftModel.load loads them.

Usage: python check_pyreft_export.py EXPECTED.safetensors TYPE=EXPORT.zip [TYPE=EXPORT.zip ...]
(needs torch; pyreft itself is not needed: the modules below mirror pyreft 0.1.0's intervention classes, with
pyvene's int64 buffers embed_dim and interchange_dim, so their state_dict() keys, order and _metadata are pyreft's.)

For every intkey_*.bin: torch.load with weights_only=True and with mmap=True (storages aligned), the strict
load_state_dict pyvene's IntervenableModel.load calls (LoReFT: pyreft's own load_state_dict, which rebuilds the
parametrization with base[:, :r] = S), the same keys in the same order and the same _metadata as the module's own
state_dict(), and every weight (S as torch computes rotate_layer.weight from the loaded tensors) bit-equal to
EXPECTED (written in fp32 by the exporter's caller as TYPE.<i>.<role>, i in sorted_keys order).
"""
import json
import os
import struct
import sys
import tempfile
import zipfile

import torch

CLASSES = {}


def pyreft(name):
    def register(cls):
        CLASSES[name] = cls
        return cls
    return register


class LowRankRotateLayer(torch.nn.Module):
    def __init__(self, n, m):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.empty(n, m))
        torch.nn.init.orthogonal_(self.weight)


class Base(torch.nn.Module):
    def __init__(self, d):
        super().__init__()
        self.register_buffer("embed_dim", torch.tensor(d))
        self.register_buffer("interchange_dim", torch.tensor(d))


def rotate(d, r):
    return torch.nn.utils.parametrizations.orthogonal(LowRankRotateLayer(d, r))


@pyreft("LoreftIntervention")
class Loreft(Base):
    def __init__(self, d, r, add_bias):
        super().__init__(d)
        self.rotate_layer = rotate(d, r)
        self.learned_source = torch.nn.Linear(d, r)
        self.dropout = torch.nn.Dropout(0.0)
        self.act_fn = torch.nn.Identity()

    def state_dict(self, *args, **kwargs):
        out = dict(self.learned_source.state_dict())
        out["rotate_layer"] = self.rotate_layer.weight.data
        return out

    def load_state_dict(self, state_dict, *args, **kwargs):  # pyreft's own
        self.learned_source.load_state_dict(state_dict, strict=False)
        w = state_dict["rotate_layer"]
        self.rotate_layer = rotate(self.embed_dim.item(), w.shape[-1])
        self.rotate_layer.parametrizations.weight[0].base[:, :w.shape[-1]] = w
        assert torch.allclose(self.rotate_layer.weight.data, w.data)


@pyreft("DireftIntervention")
class Direft(Base):
    def __init__(self, d, r, add_bias):
        super().__init__(d)
        self.rotate_layer = rotate(d, r)
        self.learned_source = torch.nn.Linear(d, r)
        self.dropout = torch.nn.Dropout(0.0)
        self.act_fn = torch.nn.Identity()


@pyreft("NoreftIntervention")
class Noreft(Base):
    def __init__(self, d, r, add_bias):
        super().__init__(d)
        self.proj_layer = torch.nn.Linear(d, r, bias=add_bias)
        self.learned_source = torch.nn.Linear(d, r)
        self.dropout = torch.nn.Dropout(0.0)
        self.act_fn = torch.nn.Identity()


@pyreft("NodireftIntervention")
class Nodireft(Noreft):
    pass


@pyreft("ConsreftIntervention")
class Consreft(Base):
    def __init__(self, d, r, add_bias):
        super().__init__(d)
        self.rotate_layer = rotate(d, r)
        self.learned_source = torch.nn.Parameter(torch.rand(r))


@pyreft("LobireftIntervention")
class Lobireft(Consreft):
    def __init__(self, d, r, add_bias):
        super().__init__(d, r, add_bias)
        self.dropout = torch.nn.Dropout(0.0)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        a, b = h["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[a:b]), dtype=torch.float32).reshape(h["shape"])
    return out


def check(type_name, zip_path, expected):
    with tempfile.TemporaryDirectory() as tmp:
        zipfile.ZipFile(zip_path).extractall(tmp)
        config = json.load(open(os.path.join(tmp, "config.json")))
        for i, key in enumerate(config["sorted_keys"]):
            path = os.path.join(tmp, f"intkey_{key}.bin")
            sd = torch.load(path, weights_only=True)
            torch.load(path, weights_only=True, mmap=True)
            cls_name = config["intervention_types"][i].split(".")[-1].rstrip("'>")
            rank = config["representations"][i][4]
            module = CLASSES[cls_name](config["intervention_dimensions"][i], rank, "proj_layer.bias" in sd)
            if cls_name != "LoreftIntervention":
                own = module.state_dict()
                assert list(sd.keys()) == list(own.keys()), (key, list(sd.keys()), list(own.keys()))
                assert sd._metadata == own._metadata, (key, sd._metadata, own._metadata)
            module.load_state_dict(sd)
            got = {}
            if hasattr(module, "rotate_layer"):
                got["rotate"] = module.rotate_layer.weight.detach()
            if hasattr(module, "proj_layer"):
                got["proj"] = module.proj_layer.weight.detach()
                if module.proj_layer.bias is not None:
                    got["proj_bias"] = module.proj_layer.bias.detach()
            if isinstance(module.learned_source, torch.nn.Linear):
                got["weight"] = module.learned_source.weight.detach()
                got["bias"] = module.learned_source.bias.detach()
            else:
                got["bias"] = module.learned_source.detach()
            prefix = f"{type_name}.{i}."
            want = {k[len(prefix):]: v for k, v in expected.items() if k.startswith(prefix)}
            assert set(got) == set(want), (key, set(got), set(want))
            for role, t in got.items():
                diff = (t - want[role]).abs().max().item()
                assert torch.equal(t, want[role]), (type_name, key, role, diff)
        print(f"{type_name}: {len(config['sorted_keys'])} interventions load into pyreft's modules, weights equal")


def main():
    expected = read_safetensors(sys.argv[1])
    for arg in sys.argv[2:]:
        type_name, zip_path = arg.split("=", 1)
        check(type_name, zip_path, expected)


if __name__ == "__main__":
    main()
