"""Copies the tokenizer test fixtures from the reference outputs into src/test/resources/reference/.

Usage: python3 src/test/scripts/copy_tokenizer_fixtures.py REFERENCE_DIR

JSON files are copied byte for byte, except stories15m-hf/tokenizer.json, which is rewritten without indentation
(3.6 MB -> 1.4 MB); its content (every key, value and list order) is unchanged, which the script checks.
"""
import json
import pathlib
import shutil
import sys

ref = pathlib.Path(sys.argv[1])
out = pathlib.Path(__file__).resolve().parents[1] / "resources" / "reference"

for name in ["tokenizer_comparison.json", "base/base_reference.json",
             "stories15m-hf/config.json", "stories15m-hf/generation_config.json",
             "stories15m-hf/special_tokens_map.json", "stories15m-hf/tokenizer_config.json"]:
    (out / name).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ref / name, out / name)

source = json.loads((ref / "stories15m-hf/tokenizer.json").read_text(encoding="utf-8"))
compact = json.dumps(source, ensure_ascii=False, separators=(",", ":"))
assert json.loads(compact) == source
(out / "stories15m-hf/tokenizer.json").write_text(compact, encoding="utf-8")
