"""Stage 2: train the byte-level BPE tokenizer on the train split.

Special tokens sit at fixed ids (the manifest names them): 0 pad, 1 eos, 2 bos, 3 mask.
Byte-level pre-tokenisation without a prefix space round-trips any text exactly,
whitespace included (checked at the end on held-out files).

    python training/tokenizer.py [--vocab 8192] [--sample-mb 40]
"""
import argparse
import json
import random
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

HERE = Path(__file__).resolve().parent
CORPUS = HERE / ".work" / "corpus"
OUT = HERE / ".work" / "tokenizer.json"
from rules import SPECIALS


def documents(split: str):
    with open(CORPUS / f"{split}.jsonl", encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)["text"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--sample-mb", type=float, default=40)
    args = ap.parse_args()

    docs = list(documents("train"))
    random.Random(0).shuffle(docs)
    budget, sample = args.sample_mb * 1e6, []
    for d in docs:
        if budget <= 0:
            break
        sample.append(d)
        budget -= len(d)

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=args.vocab, min_frequency=2, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(sample, trainer=trainer)
    for i, s in enumerate(SPECIALS):
        assert tok.token_to_id(s) == i, f"special token {s} is not at id {i}"
    tok.save(str(OUT))

    # round trip on held-out files, byte for byte
    failures, n, ntok, nbytes = 0, 0, 0, 0
    for text in documents("heldout"):
        ids = tok.encode(text).ids
        if tok.decode(ids, skip_special_tokens=False) != text:
            failures += 1
        n, ntok, nbytes = n + 1, ntok + len(ids), nbytes + len(text.encode())
        if n >= 300:
            break
    print(json.dumps({"vocab": tok.get_vocab_size(), "roundTripFailures": failures, "files": n,
                      "bytesPerToken": round(nbytes / max(1, ntok), 3), "out": str(OUT)}))
    if failures:
        raise SystemExit("tokenizer does not round-trip held-out files")


if __name__ == "__main__":
    main()
