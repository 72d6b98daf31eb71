"""HF transformers' from_pretrained on a checkpoint directory, timed as LoadBenchmark times the server's loader.

Usage: python hf_load_bench.py MODEL_DIR DTYPE   (DTYPE: float32 or bfloat16)

torch and transformers are imported before the clock starts (the JVM's engine is likewise started first); prints
one JSON object: load seconds (wall and CPU), load plus one forward of a one-token prompt (from_pretrained maps a
file whose dtype needs no conversion and reads its weights only when a forward touches them), resident memory
after load (VmRSS) and its peak (VmHWM), and after that forward, in GB.
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
    rss = status_gb("VmRSS")
    peak = status_gb("VmHWM")
    # The first forward, one token: a lazily mapped file is read here.
    with torch.inference_mode():
        model(torch.tensor([[1]])).logits.argmax()
    first_s = time.perf_counter() - t0
    print(json.dumps({"dtype": dtype, "threads": torch.get_num_threads(), "load_s": round(load_s, 2),
                      "load_cpu_s": round(load_cpu_s, 2), "load_and_first_token_s": round(first_s, 2),
                      "rss_before_gb": rss_before,
                      "rss_gb": rss, "peak_rss_gb": peak, "rss_after_first_token_gb": status_gb("VmRSS"),
                      "parameters": sum(p.numel() for p in model.parameters())}))


if __name__ == "__main__":
    main()
