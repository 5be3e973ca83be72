"""Infill samples from the TRAINING split, in the task-file format of bench/tasks, for the learned unmasking filter:
research/trajectories.ts decodes them with `sequential` through the engine and saves the per-step
signals; the filter's threshold is also chosen on them. The held-out split is never read except for the names of
its packages, which are refused here (and so are the packages bench/tasks was cut from).

Cut the way make_tasks.py cuts the held-out tasks (same kinds, same limits on the truth), from other files.

    python training/filter_samples.py --corpus /work/wt11/training/.work/corpus --out training/.work/filter/tasks
"""
import argparse
import json
import random
from pathlib import Path

from tokenizers import Tokenizer

from make_tasks import cut_task

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def package_of(source: str) -> str:
    """bench/tasks' "source" is package/path; packages are npm/NAME, npm/@scope/NAME or deb/NAME."""
    parts = source.split("/")
    return "/".join(parts[:3] if len(parts) > 2 and parts[1].startswith("@") else parts[:2])


def heldout_packages(corpus: Path) -> set[str]:
    names = set()
    held = corpus / "heldout.jsonl"
    if held.exists():
        with open(held, encoding="utf-8") as f:
            for line in f:
                names.add(json.loads(line)["package"])
    for task_file in (ROOT / "bench" / "tasks").glob("*.jsonl"):
        for line in task_file.read_text(encoding="utf-8").splitlines():
            if line.strip():
                names.add(package_of(json.loads(line).get("source", "")))
    return names


def train_docs(corpus: Path, banned: set[str], keep: float, rng: random.Random) -> dict[str, list[dict]]:
    docs = {"python": [], "jsts": []}
    with open(corpus / "train.jsonl", encoding="utf-8") as f:
        for line in f:
            if rng.random() > keep:
                continue
            d = json.loads(line)
            if d["package"] in banned or len(d["text"]) <= 400:
                continue
            lang = "python" if d["lang"] == "py" else "jsts" if d["lang"] in ("js", "ts") else None
            if lang:
                docs[lang].append(d)
    return docs


def build(docs: list[dict], shape: str, count: int, tok: Tokenizer, rng: random.Random, tag: str) -> list[dict]:
    rng.shuffle(docs)
    tasks, i = [], 0
    while len(tasks) < count and i < len(docs) * 3:
        doc = docs[i % len(docs)]
        i += 1
        task = cut_task(doc, shape, tok, rng, f"train-{tag}/{len(tasks)}")
        if task:
            tasks.append(task)
    return tasks


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=str(HERE / ".work" / "corpus"), help="folder with train.jsonl (and heldout.jsonl)")
    ap.add_argument("--tokenizer", default=str(ROOT / "models" / "default" / "tokenizer.json"))
    ap.add_argument("--out", default=str(HERE / ".work" / "filter" / "tasks"))
    ap.add_argument("--single", type=int, default=200, help="single-line samples per language")
    ap.add_argument("--multi", type=int, default=60, help="multi-line samples per language")
    ap.add_argument("--keep", type=float, default=0.08, help="share of training files read (the corpus is large)")
    ap.add_argument("--seed", default="filter")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    corpus = Path(args.corpus)
    banned = heldout_packages(corpus)
    docs = train_docs(corpus, banned, args.keep, rng)
    tok = Tokenizer.from_file(args.tokenizer)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for lang in ("python", "jsts"):
        for shape, count in (("single-line", args.single), ("multi-line", args.multi)):
            tasks = build(list(docs[lang]), shape, count, tok, random.Random(f"{args.seed}-{lang}-{shape}"), f"{lang}-{shape}")
            assert not any(package_of(t["source"]) in banned for t in tasks)
            (out / f"train-{lang}-{shape}.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tasks))
            print(out / f"train-{lang}-{shape}.jsonl", len(tasks), f"from {len(docs[lang])} training files; {len(banned)} packages refused")


if __name__ == "__main__":
    main()
