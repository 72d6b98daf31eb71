"""A fine-tuning job through the HTTP API on a server of its own, with the server's memory watched: starts the
server (the classes of `mvn test-compile`) on MODEL_DIR with reft.model.dtype DTYPE, uploads 8 examples of about
WORDS words each (a repeated story sentence, then the training reference's completion), runs a LoReFT job of STEPS
updates of all 8 examples at LAYER, and prints one JSON object: the job's status and time, its losses, and the
server's resident memory when ready and at its peak (anonymous and file-backed apart, from /proc).

    python3 src/test/scripts/fine_tuning_probe.py MODEL_DIR DTYPE [WORDS] [STEPS] [LAYER]

Standard library only; run from the repository root after writing target/cp.txt (docs/benchmarks.md, Commands).
"""
import json, os, signal, subprocess, sys, tempfile, time, urllib.error, urllib.request, uuid

PORT, MANAGEMENT = 8290, 8291


def call(method, path, body=None, raw=None, ctype="application/json"):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    r = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", data=data, method=method,
                               headers={"Content-Type": ctype} if data else {})
    try:
        with urllib.request.urlopen(r, timeout=600) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def memory(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key = line.split(":")[0]
            if key in ("RssAnon", "RssFile"):
                out[key] = int(line.split()[1]) / 1e6
    return out


def main():
    model_dir, dtype = sys.argv[1], sys.argv[2]
    words = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    steps = int(sys.argv[4]) if len(sys.argv) > 4 else 6
    layer = int(sys.argv[5]) if len(sys.argv) > 5 else 12
    cp = "target/classes:" + open("target/cp.txt").read().strip()
    store = tempfile.mkdtemp(prefix="reft-probe-")
    server = subprocess.Popen(["java", "-Xmx2g", "-cp", cp, "dev.reftserver.ReftServerApplication",
                               f"--reft.model.path={model_dir}", f"--reft.model.dtype={dtype}",
                               f"--server.port={PORT}", f"--management.server.port={MANAGEMENT}",
                               f"--reft.store.path={store}", "--reft.store.jdbc-url="],
                              env=dict(os.environ, DJL_OFFLINE="true"), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{MANAGEMENT}/actuator/health/readiness", timeout=2):
                    break
            except Exception:
                time.sleep(1)
        ready = memory(server.pid)
        _, models = call("GET", "/v1/models")
        sentence = "Once upon a time there was a little dog who liked to run in the park with his friends every day"
        lines = [json.dumps({"prompt": (sentence + " ") * (words // 20) + f" and number {i}",
                             "completion": " And then a purple whale sang a happy song."}) for i in range(8)]
        boundary = "----" + uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nfine-tune\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"data.jsonl\"\r\n"
                f"Content-Type: application/jsonl\r\n\r\n" + "\n".join(lines) + f"\r\n--{boundary}--\r\n").encode()
        _, file = call("POST", "/v1/files", raw=body, ctype=f"multipart/form-data; boundary={boundary}")
        status, job = call("POST", "/v1/fine_tuning/jobs", {
            "model": models["data"][0]["id"], "training_file": file["id"], "suffix": "probe",
            "method": {"type": "reft", "reft": {"hyperparameters": {
                "layers": [layer], "rank": 4, "positions": "f1+l1", "max_steps": steps, "batch_size": 8}}}})
        if status != 200:
            print(json.dumps({"refused": job}))
            return
        started, peak = time.time(), dict(ready)
        while True:
            for k, v in memory(server.pid).items():
                peak[k] = max(peak[k], v)
            _, state = call("GET", f"/v1/fine_tuning/jobs/{job['id']}")
            if state.get("status") in ("succeeded", "failed", "cancelled"):
                break
            time.sleep(0.5)
        seconds = time.time() - started
        _, events = call("GET", f"/v1/fine_tuning/jobs/{job['id']}/events?limit=100")
        losses = [e["data"]["train_loss"] for e in reversed(events.get("data", []))
                  if e.get("data") and e["data"].get("train_loss") is not None]
        print(json.dumps({"model": os.path.basename(model_dir.rstrip("/")), "dtype": dtype, "words": words,
                          "status": state.get("status"), "error": state.get("error"), "seconds": round(seconds, 1),
                          "losses": [round(x, 5) for x in losses],
                          "ready_gb": {k: round(v, 2) for k, v in ready.items()},
                          "peak_gb": {k: round(v, 2) for k, v in peak.items()}}))
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait()


if __name__ == "__main__":
    main()
