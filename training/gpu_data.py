"""Pack the corpus for the GPU training path into training/gpu-data/ (ignored by git; it travels to a
GPU machine beside the tracked files, which take ≈ 28 MB of the 64 MiB a copy may weigh, so this
folder must stay under ≈ 35 MB).

Reads what stage 1 wrote (training/.work/corpus/{train,heldout}.jsonl, the train split already
rebalanced by corpus.py) and the shipped tokenizer (models/default/tokenizer.json: never retrained
here). Writes:
  train-NN.txt.xz   the train documents in SHARDS shards of about equal size: packages in a shuffled
                    order, each package's files together (they compress far better so), each shard
                    the documents joined by <|eos|> (as infill.load_stream joins them), xz at the
                    strongest preset; loader worker w of n takes shards w, w+n, w+2n…
  heldout.jsonl.xz  the held-out split as it is (the evaluation of train.py rebuilt from it)
  tokenizer.json    the shipped tokenizer
  manifest.json     shards with sizes and SHA-256, and a summary of what went in

    python training/gpu_data.py [--max-train-mb 205] [--preset 9e]

Text and not token ids travels: the infill batches must be cut from text and tokenized in parts as
the editor does, and text compresses better than token ids; the workers tokenize their shards once
at start (a few seconds with one process per core).
"""
import argparse
import hashlib
import json
import lzma
import random
import shutil
import time
from pathlib import Path

from infill import SEP

HERE = Path(__file__).resolve().parent
CORPUS = HERE / ".work" / "corpus"
OUT = HERE / "gpu-data"
TOKENIZER = HERE.parent / "models" / "default" / "tokenizer.json"
SHARDS = 56            # divisible by 14, 8, 7, 4 and 2 workers
MAX_FOLDER_BYTES = 35_000_000


def preset_of(name: str) -> int:
    return int(name.rstrip("e")) | (lzma.PRESET_EXTREME if name.endswith("e") else 0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-train-mb", type=float, help="keep only the first MB of the shuffled train documents")
    ap.add_argument("--preset", default="9e", help="xz preset: 0-9, with e for extreme")
    ap.add_argument("--shards", type=int, default=SHARDS)
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    t0 = time.time()
    by_package: dict[str, list[tuple[str, str]]] = {}
    with open(CORPUS / "train.jsonl", encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            if SEP not in d["text"]:
                by_package.setdefault(d["package"], []).append((d["text"], d["lang"]))
    # packages in a shuffled order, each package's files together: xz finds a package's files alike
    # (ratio ≈ 7.5-9.7 at -9e, against ≈ 5.3-5.6 with the files shuffled one by one)
    names = sorted(by_package)
    random.Random(0).shuffle(names)
    docs = [doc for name in names for doc in by_package[name]]
    if args.max_train_mb:                        # a subset: whole packages, in the shuffled order
        kept, total = [], 0
        for name in names:
            if total >= args.max_train_mb * 1e6:
                break
            kept += by_package[name]
            total += sum(len(t.encode()) for t, _ in by_package[name])
        docs = kept
    target = sum(len(t.encode()) for t, _ in docs) / args.shards
    shards, size, langs = [[]], 0, {}
    for text, lang in docs:                      # contiguous runs of about equal size
        if size >= target and len(shards) < args.shards:
            shards.append([])
            size = 0
        shards[-1].append(text)
        size += len(text.encode())
        langs[lang] = langs.get(lang, 0) + len(text.encode())
    preset = preset_of(args.preset)
    rows = []
    for i, texts in enumerate(shards):
        raw = SEP.join(texts).encode()
        packed = lzma.compress(raw, preset=preset)
        name = f"train-{i:02d}.txt.xz"
        (out / name).write_bytes(packed)
        rows.append({"name": name, "bytes": len(raw), "xzBytes": len(packed), "docs": len(texts),
                     "sha256": hashlib.sha256(packed).hexdigest()})
        print(f"{name}: {len(raw) / 1e6:.1f} MB -> {len(packed) / 1e6:.2f} MB", flush=True)
    held = (CORPUS / "heldout.jsonl").read_bytes()
    (out / "heldout.jsonl.xz").write_bytes(lzma.compress(held, preset=preset))
    shutil.copy(TOKENIZER, out / "tokenizer.json")
    raw_total, xz_total = sum(r["bytes"] for r in rows), sum(r["xzBytes"] for r in rows)
    summary = {"trainDocs": len(docs), "trainBytes": raw_total, "trainXzBytes": xz_total,
               "bytesByLang": langs, "xzPreset": args.preset, "maxTrainMb": args.max_train_mb,
               "heldoutSha1": hashlib.sha1(held).hexdigest(),
               "tokenizerSha256": hashlib.sha256(TOKENIZER.read_bytes()).hexdigest()}
    (out / "manifest.json").write_text(json.dumps({"summary": summary, "shards": rows}, indent=1) + "\n")
    folder = sum(p.stat().st_size for p in out.iterdir())
    print(json.dumps({**summary, "folderBytes": folder, "seconds": round(time.time() - t0)}))
    if folder > MAX_FOLDER_BYTES:
        raise SystemExit(f"{out} is {folder / 1e6:.1f} MB, over the {MAX_FOLDER_BYTES / 1e6:.0f} MB it may take "
                         f"(pass --max-train-mb to subset)")


if __name__ == "__main__":
    main()
