"""Tiny random Hugging Face checkpoints of the two families export_pretrained.py reads, and transformers'
own forward over them as the independent reference (test/unit/model/pretrainedExport.test.ts runs this).

    python training/tiny_pretrained.py OUT_DIR
    python training/tiny_pretrained.py --sized CHECKPOINT_DIR   # random weights of Open-dCoder 0.5B's shapes, for sizes

writes, for each family (qwen2: tied embeddings, shifted logits, mask <|mask|>; llama: untied, unshifted, mask
<|mdm_mask|>, bos <s>): OUT_DIR/<family>-checkpoint (config.json, model.safetensors, tokenizer.json), the exports
OUT_DIR/<family> (fp32, with the dual-cache step graph) and OUT_DIR/<family>-int8, and OUT_DIR/reference.json: canvases
and transformers' probabilities at each of their rows, computed with a full, non-causal attention mask.
2 layers, hidden 64, 4 query / 2 key-value heads, a byte-level BPE vocabulary of about 1,000 tokens trained on this
repository's own sources.
"""
import json
import random
import shutil
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import export_pretrained  # noqa: E402

VOCAB = 1000
FAMILIES = {
    "qwen2": {"specials": ["<|endoftext|>", "<|mask|>"], "eos": "<|endoftext|>", "bos": None, "tied": True},
    "llama": {"specials": ["<s>", "</s>", "<|mdm_mask|>"], "eos": "</s>", "bos": "<s>", "tied": False},
}
PREFIX = "def fibonacci(n):\n    if n < 2:\n        return n\n    return "
SUFFIX = "\n\nprint(fibonacci(10))\n"
SLOTS = 12


def corpus() -> list[str]:
    files = sorted((ROOT / "src").rglob("*.ts")) + sorted(HERE.glob("*.py"))
    return [f.read_text(encoding="utf-8") for f in files]


def make_tokenizer(specials: list[str]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB - len(specials), min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus(), trainer=trainer)
    tok.add_special_tokens(specials)   # after the learnt vocabulary, as in Qwen's and LLaDA's tokenizers
    return tok


def make_checkpoint(family: str, out: Path) -> None:
    import transformers

    spec = FAMILIES[family]
    tok = make_tokenizer(spec["specials"])
    vocab = tok.get_vocab_size(with_added_tokens=True)
    ids = {s: tok.token_to_id(s) for s in spec["specials"]}
    common = dict(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-6, tie_word_embeddings=spec["tied"],
                  eos_token_id=ids[spec["eos"]], pad_token_id=ids[spec["eos"]],
                  bos_token_id=ids[spec["bos"]] if spec["bos"] else None)
    if family == "qwen2":
        config = transformers.Qwen2Config(**common, rope_theta=10000.0)
        model = transformers.Qwen2ForCausalLM(config)
    else:
        config = transformers.LlamaConfig(**common, rope_theta=500000.0, attention_bias=False)
        model = transformers.LlamaForCausalLM(config)
    # weights far from the default init's near-uniform predictions: peaked distributions make top-1 a real test
    g = torch.Generator().manual_seed(1 if family == "qwen2" else 2)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / p.shape[-1] ** 0.5 * (3.0 if "embed" in name else 1.0))
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    tok.save(str(out / "tokenizer.json"))


def reference(ckpt: Path, canvases: list[list[int]]) -> list[list[list[float]]]:
    """transformers' own module, fp32, with an all-visible 4D attention mask: probabilities at every row."""
    import transformers

    model = transformers.AutoModelForCausalLM.from_pretrained(str(ckpt), dtype=torch.float32, attn_implementation="eager").eval()
    for m in model.modules():
        if hasattr(m, "is_causal"):
            m.is_causal = False
    rows = []
    with torch.no_grad():
        for c in canvases:
            ids = torch.tensor([c])
            full = torch.zeros(1, 1, len(c), len(c))   # additive mask: 0 everywhere, every row sees every row
            logits = model(input_ids=ids, attention_mask=full).logits[0].double()
            rows.append(torch.softmax(logits, -1).tolist())
    return rows


def refusals(out: Path, good: Path) -> dict:
    """The exporter's message for each kind of checkpoint it must refuse (copies of a good one, broken one way each)."""
    import shutil

    from safetensors.torch import load_file, save_file

    def broken(name: str, edit) -> str:
        ckpt = out / f"broken-{name}"
        shutil.copytree(good, ckpt, dirs_exist_ok=True)
        edit(ckpt)
        try:
            export_pretrained.export(ckpt, out / f"broken-{name}-model", precision="fp32", force=True, log=lambda *_: None)
        except export_pretrained.ExportError as e:
            return str(e)
        finally:
            shutil.rmtree(ckpt, ignore_errors=True)
        return "(exported without complaint)"

    def edit_json(file: str, change):
        def edit(ckpt: Path):
            j = json.loads((ckpt / file).read_text())
            change(j)
            (ckpt / file).write_text(json.dumps(j))
        return edit

    def int8_weights(ckpt: Path):
        w = load_file(str(ckpt / "model.safetensors"))
        name = next(k for k in w if k.endswith("q_proj.weight"))
        w[name] = w[name].to(torch.int8)
        save_file(w, str(ckpt / "model.safetensors"))

    def no_mask(j):
        j["added_tokens"] = [t for t in j["added_tokens"] if t["content"] != "<|mask|>"]
        j["model"]["vocab"].pop("<|mask|>", None)

    return {
        "architecture": broken("architecture", edit_json("config.json", lambda j: j.update(model_type="gpt2"))),
        "missingTokenizer": broken("tokenizer", lambda c: (c / "tokenizer.json").unlink()),
        "missingWeights": broken("weights", lambda c: (c / "model.safetensors").unlink()),
        "dtype": broken("dtype", int8_weights),
        "noMask": broken("mask", edit_json("tokenizer.json", no_mask)),
    }


OPEN_DCODER_05B = dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                      num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768, tie_word_embeddings=True)


def sized_checkpoint(out: Path, shapes: dict = OPEN_DCODER_05B, tokens: int = 151665) -> None:
    """A random-weight bf16 Qwen2 checkpoint of real shapes (Open-dCoder 0.5B's by default), for measuring sizes and
    speed: weights straight from torch.randn, a word-level tokenizer of `tokens` entries whose last ones are the
    special tokens (as in Qwen2.5's 151,665), and the config.json transformers would write."""
    from safetensors.torch import save_file
    from tokenizers import Tokenizer, models, pre_tokenizers

    out.mkdir(parents=True, exist_ok=True)
    h, f, layers = shapes["hidden_size"], shapes["intermediate_size"], shapes["num_hidden_layers"]
    hd = h // shapes["num_attention_heads"]
    kv = shapes["num_key_value_heads"] * hd
    g = torch.Generator().manual_seed(0)
    rand = lambda *shape: (torch.randn(shape, generator=g) * 0.02).to(torch.bfloat16)  # noqa: E731
    w = {"model.embed_tokens.weight": rand(shapes["vocab_size"], h), "model.norm.weight": torch.ones(h, dtype=torch.bfloat16)}
    for i in range(layers):
        b = f"model.layers.{i}."
        w |= {b + "input_layernorm.weight": torch.ones(h, dtype=torch.bfloat16),
              b + "post_attention_layernorm.weight": torch.ones(h, dtype=torch.bfloat16),
              b + "self_attn.q_proj.weight": rand(h, h), b + "self_attn.q_proj.bias": rand(h),
              b + "self_attn.k_proj.weight": rand(kv, h), b + "self_attn.k_proj.bias": rand(kv),
              b + "self_attn.v_proj.weight": rand(kv, h), b + "self_attn.v_proj.bias": rand(kv),
              b + "self_attn.o_proj.weight": rand(h, h), b + "mlp.gate_proj.weight": rand(f, h),
              b + "mlp.up_proj.weight": rand(f, h), b + "mlp.down_proj.weight": rand(h, f)}
    save_file(w, str(out / "model.safetensors"))
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|mask|>"]
    vocab = {f"t{i}": i for i in range(tokens - len(specials))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="t0"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.add_special_tokens(specials)
    tok.save(str(out / "tokenizer.json"))
    eos = tokens - len(specials)
    config = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_act": "silu", "rms_norm_eps": 1e-6,
              "rope_theta": 1000000.0, "use_sliding_window": False, "torch_dtype": "bfloat16", "bos_token_id": eos,
              "eos_token_id": eos, "pad_token_id": eos, **shapes}
    (out / "config.json").write_text(json.dumps(config, indent=2))


def main() -> None:
    if sys.argv[1] == "--sized":
        sized_checkpoint(Path(sys.argv[2]))
        return
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    from tokenizers import Tokenizer

    result = {}
    for family in FAMILIES:
        ckpt = out / f"{family}-checkpoint"
        make_checkpoint(family, ckpt)
        quiet = lambda *_: None  # noqa: E731
        info = export_pretrained.export(ckpt, out / family, precision="fp32", max_sequence=128, force=True, log=quiet)
        export_pretrained.export(ckpt, out / f"{family}-int8", precision="int8", max_sequence=128, force=True, log=quiet)
        manifest = info["manifest"]
        tok = Tokenizer.from_file(str(ckpt / "tokenizer.json"))
        mask = manifest["tokens"]["mask"]
        vocab = manifest["vocabSize"]
        rng = random.Random(7)
        canvases = []
        for length in (40, 64, 128):
            c = [rng.randrange(vocab) for _ in range(length)]
            for i in rng.sample(range(length), length // 3):
                c[i] = mask
            canvases.append(c)
        prefix = tok.encode(PREFIX, add_special_tokens=False).ids
        suffix = tok.encode(SUFFIX, add_special_tokens=False).ids
        infill = prefix + [mask] * SLOTS + suffix
        probs = reference(ckpt, canvases + [infill])
        result[family] = {
            "manifest": manifest,
            "canvases": [{"ids": c, "probs": p} for c, p in zip(canvases, probs)],
            "infill": {"prefix": PREFIX, "suffix": SUFFIX, "slots": SLOTS, "ids": infill, "slotStart": len(prefix), "probs": probs[-1]},
        }
    result["errors"] = refusals(out, out / "qwen2-checkpoint")
    # the external-data path of graphs over 2 GB, taken at a limit of 200 kB
    limit, export_pretrained.PROTOBUF_LIMIT = export_pretrained.PROTOBUF_LIMIT, 200_000
    try:
        export_pretrained.export(out / "qwen2-checkpoint", out / "qwen2-external", precision="int8", max_sequence=128, force=True,
                                 log=lambda *_: None)
    finally:
        export_pretrained.PROTOBUF_LIMIT = limit
    # a checkpoint whose weights are NaN exports (the exporter checks shapes and dtypes, not values), but its graph
    # answers NaN: the loader's probes must refuse it
    from safetensors.torch import load_file, save_file
    shutil.copytree(out / "qwen2-checkpoint", out / "nan-checkpoint", dirs_exist_ok=True)
    w = load_file(str(out / "nan-checkpoint" / "model.safetensors"))
    w["model.norm.weight"] = torch.full_like(w["model.norm.weight"], float("nan"))
    save_file(w, str(out / "nan-checkpoint" / "model.safetensors"))
    export_pretrained.export(out / "nan-checkpoint", out / "qwen2-nan", precision="fp32", max_sequence=128, cache=False, force=True,
                             log=lambda *_: None)
    (out / "reference.json").write_text(json.dumps(result))
    print(json.dumps({f: r["manifest"]["tokens"] | {"shift": r["manifest"]["logitsShift"]} for f, r in result.items() if f != "errors"}))


if __name__ == "__main__":
    main()
