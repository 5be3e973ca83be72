"""Samples shaped like the editor's requests, shared by training, evaluation and the task files.

A stream is the split's files joined by <|eos|>. An infill cuts the text around a cursor into
prefix · middle · suffix at the same places the editor does (rest of a line, a span inside a
line, several lines), tokenizes the three parts separately (as the editor does), and lays them
out as a canvas: prefix · middle · pad… · suffix.
"""
import json
import random
from pathlib import Path

from tokenizers import Tokenizer

HERE = Path(__file__).resolve().parent
CORPUS = HERE / ".work" / "corpus"
from rules import BOS, EOS, MASK, PAD, SLOTS
SEP = "<|eos|>"
KINDS = ("line-rest", "mid-line", "multi-line")
MAX_MIDDLE = {"line-rest": 40, "mid-line": 24, "multi-line": 128}
EDITOR_SLOTS = {"line-rest": SLOTS["singleLine"], "mid-line": SLOTS["singleLine"], "multi-line": SLOTS["multiLine"]}


def load_stream(split: str, lang: str | None = None, seed: int = 0) -> str:
    docs = []
    with open(CORPUS / f"{split}.jsonl", encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            if lang is None or d["lang"] == lang or (lang == "jsts" and d["lang"] in ("js", "ts")):
                docs.append(d["text"])
    random.Random(seed).shuffle(docs)
    return SEP.join(docs)


def pick_middle(text: str, cursor: int, kind: str, rng: random.Random):
    """(prefix, middle, suffix) texts around `cursor`, or None where the line does not fit the kind."""
    line_start = text.rfind("\n", 0, cursor) + 1
    line_end = text.find("\n", cursor)
    line_end = len(text) if line_end < 0 else line_end
    line = text[line_start:line_end]
    indent = len(line) - len(line.lstrip())
    if kind == "line-rest":
        if len(line) - indent < 2:
            return None
        col = rng.randint(indent, len(line) - 1)
        start, end = line_start + col, line_end
    elif kind == "mid-line":
        if len(line) - indent < 6:
            return None
        col = rng.randint(indent, len(line) - 3)
        start, end = line_start + col, line_start + rng.randint(col + 1, len(line) - 1)
    else:
        end = line_end
        for _ in range(rng.randint(1, 5)):
            nxt = text.find("\n", end + 1)
            if nxt < 0:
                return None
            end = nxt
        col = indent if rng.random() < 0.5 or len(line) <= indent else rng.randint(indent, len(line))
        start = line_start + col
    middle = text[start:end]
    if not middle.strip() or SEP in middle or "\n" in middle and kind != "multi-line":
        return None
    return text[:start], middle, text[end:]


class Sampler:
    def __init__(self, stream: str, tok: Tokenizer, rng: random.Random):
        self.stream, self.tok, self.rng = stream, tok, rng

    def _region(self, chars: int) -> str:
        o = self.rng.randrange(0, max(1, len(self.stream) - chars))
        return self.stream[o:o + chars]

    def window(self, seq: int) -> list[int]:
        chars = seq * 5
        while True:
            ids = self.tok.encode(self._region(chars)).ids
            if len(ids) >= seq:
                return ids[:seq]
            chars *= 2

    def _cut(self, seq: int, kind: str):
        """prefix, middle, suffix token lists around a random cursor."""
        while True:
            region = self._region(seq * 7)
            cursor = self.rng.randint(int(len(region) * 0.35), int(len(region) * 0.65))
            parts = pick_middle(region, cursor, kind, self.rng)
            if parts is None:
                continue
            pre, mid, suf = (e.ids for e in self.tok.encode_batch(list(parts)))
            if 0 < len(mid) <= MAX_MIDDLE[kind]:
                return pre, mid, suf, parts

    def _layout(self, pre, slots: list[int], suf, seq: int) -> tuple[list[int], int] | None:
        rest = seq - len(slots)
        s = min(len(suf), int(rest * self.rng.uniform(0.2, 0.6)))
        p = min(len(pre), rest - s)
        s = min(len(suf), rest - p)
        if p + s < rest:
            return None
        return pre[len(pre) - p:] + slots + suf[:s], p

    def infill_canvas(self, seq: int) -> tuple[list[int], int, int]:
        """A training sample: canvas with the true middle and pads in the slots, slot start, slot count."""
        while True:
            kind = self.rng.choices(KINDS, weights=(0.45, 0.2, 0.35))[0]
            pre, mid, suf, _ = self._cut(seq, kind)
            r = self.rng.random()
            if r < 0.3 and len(mid) <= EDITOR_SLOTS[kind]:
                extra = EDITOR_SLOTS[kind] - len(mid)      # exactly the editor's budget
            elif r < 0.45:
                extra = 0                                  # no pad at all
            else:
                extra = self.rng.randint(1, max(1, round(1.5 * len(mid))))
            slots = mid + [PAD] * min(extra, 160 - len(mid))
            laid = self._layout(pre, slots, suf, seq)
            if laid:
                return laid[0], laid[1], len(slots)

    def infill_task(self, seq: int, kind: str, slots: int):
        """An evaluation task: canvas with `slots` slots, slot start, slot count, the true middle text."""
        while True:
            pre, mid, suf, parts = self._cut(seq, kind)
            if len(mid) > slots:
                continue
            laid = self._layout(pre, mid + [PAD] * (slots - len(mid)), suf, seq)
            if laid:
                return laid[0], laid[1], slots, parts[1]
