"""The infill rules the Python side shares with the engine, defined once: slot budgets, the canvas's suffix share and
the line cap come from the engine's own src/engine/defaults.json, the graph's input and output names from the model
contract's src/contract/contract.json (what the converter writes and the loader reads); the special token ids are fixed here (the tokenizer
puts its special tokens at these ids, to_safetensors.py writes them into the checkpoint's config.json, the converter into
unmask.json, and the engine reads them from there)."""
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS = json.loads((ROOT / "src" / "engine" / "defaults.json").read_text())
CONTRACT = json.loads((ROOT / "src" / "contract" / "contract.json").read_text())
GRAPH_INPUTS = CONTRACT["graph"]["inputs"]      # {"ids": "input_ids", "start": ..., "pastKv": ..., "positions": ...}
GRAPH_OUTPUTS = CONTRACT["graph"]["outputs"]    # {"topIds": "top_ids", "topProbs": ..., "entropy": ..., "kv": ...}
# the full forward's outputs (docs/model-contract.md): the predictions, not the keys and values
PREDICTIONS = [GRAPH_OUTPUTS["topIds"], GRAPH_OUTPUTS["topProbs"], GRAPH_OUTPUTS["entropy"]]

SLOTS = DEFAULTS["slots"]                       # {"singleLine": 24, "multiLine": 64}
SPECIALS = ("<|pad|>", "<|eos|>", "<|bos|>", "<|mask|>")
PAD, EOS, BOS, MASK = range(len(SPECIALS))
MANIFEST_TOKENS = {"mask": MASK, "pad": PAD, "eos": EOS, "bos": None}

