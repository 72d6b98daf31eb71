"""HF transformers on a checkpoint directory, measured as RealSizeBenchmark measures the server; prints one JSON.

Usage: python hf_real_size_bench.py MODEL_DIR [--dtypes bfloat16,float32] [--decode-tokens 64]
           [--prefill-prompt-file F] [--prompts-file F]

Each dtype runs in a process of its own so its peak resident memory (ru_maxrss) is its own. Per dtype: load
time (from_pretrained), peak resident memory, batch-1 greedy decode tokens/s (generate of N+1 tokens minus
generate of 1, so prefill is not counted), batch-16 greedy generate tokens/s (left-padded, all new tokens
counted), each the median of three runs after a warm-up of both shapes, the prefill time of the long prompt
(one forward), and the greedy continuation of each prompt.
"""
import argparse
import json
import resource
import subprocess
import sys
import time


def median(run):
    """The median of three runs, as RealSizeBenchmark takes the server's."""
    return sorted(run() for _ in range(3))[1]


def measure(model_dir, dtype, decode_tokens, prefill_text, prompts):
    import torch
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(0)
    tok = PreTrainedTokenizerFast(tokenizer_file=f"{model_dir}/tokenizer.json")
    tok.pad_token_id = 0
    tok.padding_side = "left"
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, dtype))
    model.eval()
    load_s = time.perf_counter() - t0
    gen = dict(do_sample=False, pad_token_id=0)

    def generate(ids, n):
        t = time.perf_counter()
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, **gen)
        return time.perf_counter() - t, out.shape[1] - ids.shape[1]

    with torch.inference_mode():
        one = tok(prompts[0], return_tensors="pt").input_ids
        batch = tok([prompts[i % len(prompts)] for i in range(16)], return_tensors="pt", padding=True)

        def decode_b1():
            t1, n1 = generate(one, 1)
            tn, nn = generate(one, decode_tokens + 1)
            return (nn - n1) / (tn - t1)

        def decode_b16():
            t = time.perf_counter()
            out = model.generate(**batch, max_new_tokens=decode_tokens, **gen)
            return (out.shape[1] - batch.input_ids.shape[1]) * 16 / (time.perf_counter() - t)

        # warm-up, as RealSizeBenchmark warms the server: the shapes of both measures
        generate(one, 8)
        generate(one, decode_tokens + 1)
        model.generate(**batch, max_new_tokens=8, **gen)
        b1 = median(decode_b1)
        b16 = median(decode_b16)

        long_ids = tok(prefill_text, return_tensors="pt").input_ids
        model(long_ids[:, :64])  # warm-up
        t = time.perf_counter()
        model(long_ids)
        prefill_s = time.perf_counter() - t

        greedy = []
        for p in prompts:
            ids = tok(p, return_tensors="pt").input_ids
            out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=decode_tokens, **gen)
            new = out[0, ids.shape[1]:].tolist()
            # the continuation as a completion returns it: decoded after the prompt, so a leading space stays
            prefix = tok.decode(ids[0], skip_special_tokens=True)
            full = tok.decode(out[0], skip_special_tokens=True)
            text = full[len(prefix):] if full.startswith(prefix) else tok.decode(new, skip_special_tokens=True)
            greedy.append({"prompt": p, "ids": new, "text": text})

    return {
        "dtype": dtype,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "load_s": round(load_s, 2),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2),
        "decode_batch1_tokens_per_s": round(b1, 2),
        "decode_batch16_tokens_per_s": round(b16, 2),
        "prefill_tokens": long_ids.shape[1],
        "prefill_s": round(prefill_s, 3),
        "greedy": greedy,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("--dtypes", default="bfloat16,float32")
    ap.add_argument("--decode-tokens", type=int, default=64)
    ap.add_argument("--prefill-prompt-file")
    ap.add_argument("--prompts-file")
    ap.add_argument("--one", action="store_true", help="measure the single dtype given, in this process")
    a = ap.parse_args()
    prefill_text = open(a.prefill_prompt_file).read() if a.prefill_prompt_file else "hello" + " hello" * 2046
    prompts = json.load(open(a.prompts_file)) if a.prompts_file else ["Once upon a time", "The little dog ran"]
    if a.one:
        print(json.dumps(measure(a.model_dir, a.dtypes, a.decode_tokens, prefill_text, prompts)))
        return
    results = {}
    for dtype in a.dtypes.split(","):
        cmd = [sys.executable, __file__, a.model_dir, "--one", "--dtypes", dtype,
               "--decode-tokens", str(a.decode_tokens)]
        if a.prefill_prompt_file:
            cmd += ["--prefill-prompt-file", a.prefill_prompt_file]
        if a.prompts_file:
            cmd += ["--prompts-file", a.prompts_file]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            results[dtype] = {"error": done.stderr.strip().splitlines()[-1:]}
        else:
            results[dtype] = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps(results))


if __name__ == "__main__":
    main()
