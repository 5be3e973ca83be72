"""Build the held-out infill task files (HumanEval-infilling JSONL) under bench/tasks/.

Every task comes from a file of the held-out split, cut the way the editor asks:
single-line tasks are the rest of a line or a span inside a line (truth ≤ 20 tokens, so it fits
the editor's 24 single-line slots); multi-line tasks are 2–6 lines (truth ≤ 64 tokens).

    python training/make_tasks.py
"""
import json
import random
import re
from pathlib import Path

from tokenizers import Tokenizer

from infill import CORPUS, pick_middle

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "bench" / "tasks"
COUNTS = {"single-line": 320, "multi-line": 120}
MAX_TOKENS = {"single-line": 20, "multi-line": 64}
PER_FILE = 3
PROMPT_CHARS, SUFFIX_CHARS = 2400, 1600


def heldout_docs(lang: str):
    docs = []
    with open(CORPUS / "heldout.jsonl", encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            if (lang == "python" and d["lang"] == "py") or (lang == "jsts" and d["lang"] in ("js", "ts")):
                docs.append(d)
    return docs


def plausible(middle: str) -> bool:
    if not re.search(r"[A-Za-z0-9_]", middle) or not middle.isascii():
        return False
    return all(len(l) <= 120 and not re.search(r"[A-Za-z0-9+/=]{60,}", l) for l in middle.split("\n"))


def trim(prefix: str, suffix: str) -> tuple[str, str]:
    if len(prefix) > PROMPT_CHARS:
        cut = prefix.find("\n", len(prefix) - PROMPT_CHARS)
        prefix = prefix[cut + 1:] if cut >= 0 else prefix[-PROMPT_CHARS:]
    if len(suffix) > SUFFIX_CHARS:
        cut = suffix.rfind("\n", 0, SUFFIX_CHARS)
        suffix = suffix[:cut + 1] if cut > 0 else suffix[:SUFFIX_CHARS]
    return prefix, suffix


def build(lang: str, shape: str, tok: Tokenizer, rng: random.Random) -> list[dict]:
    docs = [d for d in heldout_docs(lang) if len(d["text"]) > 400]
    rng.shuffle(docs)
    tasks, i = [], 0
    while len(tasks) < COUNTS[shape]:
        doc = docs[i % len(docs)]
        i += 1
        if i > len(docs) * PER_FILE:
            raise SystemExit(f"not enough held-out {lang} files for {shape} tasks")
        task = cut_task(doc, shape, tok, rng, f"{lang}-{shape}/{len(tasks)}")
        if task:
            tasks.append(task)
    return tasks


def cut_task(doc: dict, shape: str, tok: Tokenizer, rng: random.Random, task_id: str) -> dict | None:
    """One infill task cut from a corpus document the way the held-out task files are cut, or None when the
    random cut gives an implausible or too long middle (training/filter_samples.py cuts its samples with it too)."""
    text = doc["text"]
    kind = "multi-line" if shape == "multi-line" else rng.choice(["line-rest", "line-rest", "mid-line"])
    parts = pick_middle(text, rng.randrange(len(text) // 5, len(text) * 9 // 10), kind, rng)
    if not parts or not plausible(parts[1]) or len(tok.encode(parts[1]).ids) > MAX_TOKENS[shape]:
        return None
    if shape == "multi-line" and parts[1].count("\n") < 1:
        return None
    prompt, suffix = trim(parts[0], parts[2])
    return {"task_id": task_id, "prompt": prompt, "suffix": suffix,
            "canonical_solution": parts[1], "source": f"{doc['package']}/{doc['path']}", "kind": kind}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer.from_file(str(HERE / ".work" / "tokenizer.json"))
    for lang in ("python", "jsts"):
        for shape in COUNTS:
            tasks = build(lang, shape, tok, random.Random(f"{lang}-{shape}"))
            path = OUT / f"{lang}-{shape}.jsonl"
            path.write_text("".join(json.dumps(t) + "\n" for t in tasks))
            print(path.relative_to(HERE.parent), len(tasks))


if __name__ == "__main__":
    main()
