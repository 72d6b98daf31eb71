"""HF transformers' from_pretrained on a checkpoint directory, timed as LoadBenchmark times the server's loader.

Usage: python hf_load_bench.py MODEL_DIR DTYPE   (DTYPE: float32 or bfloat16)

torch and transformers are imported before the clock starts (the JVM's engine is likewise started first); prints
one JSON object: load seconds (wall and CPU), resident memory after load (VmRSS) and its peak (VmHWM), in GB.
"""
import json
import resource
import sys
import time


def status_gb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) * 1024 / 1e9, 2)
    return None


def main():
    model_dir, dtype = sys.argv[1], sys.argv[2]
    import torch
    from transformers import AutoModelForCausalLM

    def cpu():
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    rss_before = status_gb("VmRSS")
    c0 = cpu()
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, dtype))
    model.eval()
    load_s = time.perf_counter() - t0
    load_cpu_s = cpu() - c0
    print(json.dumps({"dtype": dtype, "threads": torch.get_num_threads(), "load_s": round(load_s, 2),
                      "load_cpu_s": round(load_cpu_s, 2), "rss_before_gb": rss_before,
                      "rss_gb": status_gb("VmRSS"), "peak_rss_gb": status_gb("VmHWM"),
                      "parameters": sum(p.numel() for p in model.parameters())}))


if __name__ == "__main__":
    main()
