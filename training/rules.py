"""The infill rules the Python side shares with the engine, defined once: slot budgets, the canvas's suffix share and
the line cap come from the engine's own src/engine/defaults.json; the special token ids are fixed here (the tokenizer
puts its special tokens at these ids, to_safetensors.py writes them into the checkpoint's config.json, the converter into
unmask.json, and the engine reads them from there)."""
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS = json.loads((ROOT / "src" / "engine" / "defaults.json").read_text())

SLOTS = DEFAULTS["slots"]                       # {"singleLine": 24, "multiLine": 64}
SPECIALS = ("<|pad|>", "<|eos|>", "<|bos|>", "<|mask|>")
PAD, EOS, BOS, MASK = range(len(SPECIALS))
MANIFEST_TOKENS = {"mask": MASK, "pad": PAD, "eos": EOS, "bos": None}


def vocab_digest(tokenizer_json: Path, vocab_size: int) -> str:
    """unmask.json's "vocabDigest" (docs/model-contract.md, "Manifest", vocabDigest; the loader's CodeTokenizer.vocabDigest
    is the same rule): sha256 over every id from 0 to vocab_size - 1 of its token's UTF-8 bytes, each preceded by their
    length as 4 big-endian bytes (an id without a token: length 0)."""
    import hashlib

    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    h = hashlib.sha256()
    for i in range(vocab_size):
        b = (tok.id_to_token(i) or "").encode("utf-8")
        h.update(len(b).to_bytes(4, "big"))
        h.update(b)
    return "sha256:" + h.hexdigest()
