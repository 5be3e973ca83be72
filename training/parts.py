"""Split a file into parts of at most 16 MiB and merge them back (the device machine gives back files
of at most 16 MiB each). A part list with sizes and SHA-256 sums travels beside the parts, so a merge
fails loudly on a missing or damaged part instead of writing a broken checkpoint.

    python training/parts.py split training/runs/gpu/weights.pt $OUT          # weights.pt.part00, … + weights.pt.parts.json
    python training/parts.py merge /work/.device/…/files_at training/runs/gpu/weights.pt
"""
import argparse
import hashlib
import json
from pathlib import Path

MAX_PART = 16 * 2**20 - 4096   # a little under the limit of 16 MiB a file


def split(path: Path, out_dir: Path, max_part: int = MAX_PART) -> list[Path]:
    data = path.read_bytes()
    out_dir.mkdir(parents=True, exist_ok=True)
    parts = []
    for i in range(0, max(1, len(data)), max_part):
        part = out_dir / f"{path.name}.part{i // max_part:02d}"
        part.write_bytes(data[i:i + max_part])
        parts.append({"name": part.name, "bytes": len(data[i:i + max_part]),
                      "sha256": hashlib.sha256(data[i:i + max_part]).hexdigest()})
    (out_dir / f"{path.name}.parts.json").write_text(json.dumps(
        {"file": path.name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), "parts": parts}, indent=1) + "\n")
    return [out_dir / p["name"] for p in parts]


def merge(parts_dir: Path, out: Path, name: str | None = None) -> Path:
    lists = sorted(parts_dir.glob(f"{name}.parts.json" if name else "*.parts.json"))
    if len(lists) != 1:
        raise SystemExit(f"expected one *.parts.json in {parts_dir}, found {[p.name for p in lists]}")
    meta = json.loads(lists[0].read_text())
    chunks = []
    for p in meta["parts"]:
        data = (parts_dir / p["name"]).read_bytes()
        if len(data) != p["bytes"] or hashlib.sha256(data).hexdigest() != p["sha256"]:
            raise SystemExit(f"part {p['name']} is damaged or incomplete")
        chunks.append(data)
    data = b"".join(chunks)
    if hashlib.sha256(data).hexdigest() != meta["sha256"]:
        raise SystemExit("merged file does not match its SHA-256")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("split")
    s.add_argument("file")
    s.add_argument("out_dir")
    m = sub.add_parser("merge")
    m.add_argument("parts_dir")
    m.add_argument("out")
    m.add_argument("--name", help="which file's parts, where the folder holds several")
    args = ap.parse_args()
    if args.cmd == "split":
        for p in split(Path(args.file), Path(args.out_dir)):
            print(p)
    else:
        print(merge(Path(args.parts_dir), Path(args.out), args.name))


if __name__ == "__main__":
    main()
