"""Tiny random checkpoints of every family the converter reads, in the Hub's layout (config.json, tokenizer.json,
*.safetensors), for the converter's tests and the Get Model download tests.

    python training/tiny_checkpoints.py OUT_DIR [--family NAME]
    python training/tiny_checkpoints.py --sized OUT_DIR   # random bf16 weights of Open-dCoder 0.5B's shapes, for sizes and speed

writes OUT_DIR/<family> for each family (or only NAME):
* qwen2: transformers' Qwen2ForCausalLM, tied, bf16, sharded (model-0000N-of-0000M.safetensors + model.safetensors.index.json),
  mask <|mask|>;
* dream: the same architecture under Dream's config (model_type "Dream", mask_token_id), untied, fp32, one file;
* llama: transformers' LlamaForCausalLM, untied, f16, mask <|mdm_mask|>, bos <s>;
* llada: a LlamaForCausalLM's weights under LLaDA's names (model.transformer.blocks.N.q_proj … ff_out) and LLaDA's
  config fields (d_model, n_layers, n_heads, n_kv_heads, mlp_hidden_size, layer_norm_type "rms", mask_token_id), fp32;
  `llada_to_llama(state)` gives transformers' names back, so LlamaForCausalLM is its reference;
* unmask: training/model.py's Denoiser (to_safetensors.py's layout), fp32.
2 layers, hidden 64, 4 query / 2 key-value heads (the bundled model's own has 4/4), a byte-level BPE vocabulary of about
1,000 tokens trained on this repository's sources. Weights are scaled so that predictions are peaked, not uniform.
"""
import argparse
import json
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

VOCAB = 1000
HIDDEN, LAYERS, HEADS, KV_HEADS, FFN = 64, 2, 4, 2, 128
FAMILIES = ("qwen2", "dream", "llama", "llada", "unmask")
SPECIALS = {
    "qwen2": ["<|endoftext|>", "<|mask|>"],
    "dream": ["<|endoftext|>", "<|mask|>"],
    "llama": ["<s>", "</s>", "<|mdm_mask|>"],
    "llada": ["<|startoftext|>", "<|endoftext|>", "<|mdm_mask|>"],
}
# LLaDA's block names for transformers' Llama ones (LLaDA's modelling code: ff_proj is the gate, ff_out the down projection)
LLADA_NAMES = {
    "model.embed_tokens.weight": "model.transformer.wte.weight", "model.norm.weight": "model.transformer.ln_f.weight",
    "lm_head.weight": "model.transformer.ff_out.weight", "input_layernorm": "attn_norm", "post_attention_layernorm": "ff_norm",
    "self_attn.q_proj": "q_proj", "self_attn.k_proj": "k_proj", "self_attn.v_proj": "v_proj", "self_attn.o_proj": "attn_out",
    "mlp.gate_proj": "ff_proj", "mlp.up_proj": "up_proj", "mlp.down_proj": "ff_out",
}


def corpus() -> list[str]:
    files = sorted((ROOT / "src").rglob("*.ts")) + sorted(HERE.glob("*.py"))
    return [f.read_text(encoding="utf-8") for f in files]


def make_tokenizer(specials: list[str], first: bool = False):
    """Byte-level BPE; special tokens after the learnt vocabulary (as Qwen's and LLaDA's), or at ids 0… when `first`
    (as the bundled model's)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB - (0 if first else len(specials)), min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=specials if first else [])
    tok.train_from_iterator(corpus(), trainer=trainer)
    tok.add_special_tokens(specials)   # appended, or (when `first`) the trainer's ids 0… marked as special added tokens
    return tok


def padded_bpe(size: int):
    """A byte-level BPE of exactly `size` entries, as the runtime's tokenizer library runs real Qwen tokenizers: learnt on
    this repository's sources (a few thousand entries), then filled with entries no merge reaches (`Ġfill123`, which
    decode to text), so that the vocabulary and the embedding have a real model's rows."""
    from tokenizers import Tokenizer

    tok = make_tokenizer([])
    spec = json.loads(tok.to_str())
    vocab = spec["model"]["vocab"]
    n = 0
    while len(vocab) < size:
        vocab.setdefault(f"\u0120fill{n}", len(vocab))
        n += 1
    return Tokenizer.from_str(json.dumps(spec))


def peaked(model: torch.nn.Module, seed: int) -> None:
    """Weights far from the default init's near-uniform predictions: peaked distributions make top-1 a real test."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name or name.split(".")[-2] in ("ln1", "ln2", "ln_f"):
                p.copy_((1 + 0.2 * torch.randn(p.shape, generator=g)) if name.endswith("weight") else 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / p.shape[-1] ** 0.5 * (3.0 if "embed" in name else 1.0))


def hf_model(family: str, tok, seed: int):
    import transformers

    specials = SPECIALS[family]
    ids = {s: tok.token_to_id(s) for s in specials}
    vocab = tok.get_vocab_size(with_added_tokens=True)
    eos = ids["<|endoftext|>"] if "<|endoftext|>" in ids else ids["</s>"]
    bos = ids.get("<s>", ids.get("<|startoftext|>"))
    common = dict(vocab_size=vocab, hidden_size=HIDDEN, intermediate_size=FFN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                  num_key_value_heads=KV_HEADS, max_position_embeddings=128, rms_norm_eps=1e-6, tie_word_embeddings=family == "qwen2",
                  eos_token_id=eos, pad_token_id=eos, bos_token_id=bos)
    if family in ("qwen2", "dream"):
        model = transformers.Qwen2ForCausalLM(transformers.Qwen2Config(**common, rope_theta=10000.0))
    else:
        model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**common, rope_theta=500000.0, attention_bias=False))
    peaked(model, seed)
    return model, ids


def rename(state: dict, names: dict, layers_from: str, layers_to: str) -> dict:
    """Tensor names through `names`: whole names, else the part after the layer prefix (`layers_from` + i + ".")."""
    out = {}
    for name, t in state.items():
        if name in names:
            out[names[name]] = t
            continue
        i, rest = name[len(layers_from):].split(".", 1)
        part, kind = rest.rsplit(".", 1)
        out[f"{layers_to}{i}.{names[part]}.{kind}"] = t
    return out


def llada_to_llama(state: dict) -> dict:
    """LLaDA's tensor names back to transformers' Llama ones (the reference model for the llada checkpoint)."""
    return rename(state, {v: k for k, v in LLADA_NAMES.items()}, "model.transformer.blocks.", "model.layers.")


def llama_to_llada(state: dict) -> dict:
    return rename(state, LLADA_NAMES, "model.layers.", "model.transformer.blocks.")


def make(family: str, out: Path) -> Path:
    from safetensors.torch import save_file

    dest = out / family
    dest.mkdir(parents=True, exist_ok=True)
    seed = FAMILIES.index(family) + 1
    if family == "unmask":
        from model import Config, Denoiser
        from rules import SPECIALS as UNMASK_SPECIALS
        from to_safetensors import write_checkpoint

        tok = make_tokenizer(list(UNMASK_SPECIALS), first=True)
        config = Config(vocab=tok.get_vocab_size(with_added_tokens=True), d_model=HIDDEN, layers=LAYERS, heads=HEADS, ffn=4 * HIDDEN, max_seq=128)
        torch.manual_seed(seed)
        model = Denoiser(config)
        peaked(model, seed)
        tok.save(str(dest / "tokenizer.json"))
        write_checkpoint(model.state_dict(), config, dest, None)
        return dest
    tok = make_tokenizer(SPECIALS[family])
    model, ids = hf_model(family, tok, seed)
    tok.save(str(dest / "tokenizer.json"))
    if family == "qwen2":
        model.to(torch.bfloat16).save_pretrained(str(dest), safe_serialization=True, max_shard_size="100KB")
    elif family == "llama":
        model.to(torch.float16).save_pretrained(str(dest), safe_serialization=True)
    elif family == "dream":
        model.save_pretrained(str(dest), safe_serialization=True)
        config = json.loads((dest / "config.json").read_text())
        # Dream's own config class (configuration_dream.py): Qwen2's fields under model_type "Dream", with the mask id
        config.update(model_type="Dream", architectures=["DreamModel"], mask_token_id=ids["<|mask|>"],
                      auto_map={"AutoConfig": "configuration_dream.DreamConfig", "AutoModel": "modeling_dream.DreamModel"})
        (dest / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    else:
        state = llama_to_llada({k: v.contiguous() for k, v in model.state_dict().items()})
        save_file(state, str(dest / "model.safetensors"), metadata={"format": "pt"})
        c = model.config
        config = {
            "model_type": "llada", "architectures": ["LLaDAModelLM"], "d_model": HIDDEN, "n_layers": LAYERS, "n_heads": HEADS,
            "n_kv_heads": KV_HEADS, "mlp_hidden_size": FFN, "vocab_size": c.vocab_size, "embedding_size": c.vocab_size,
            "max_sequence_length": 128, "rope": True, "rope_theta": 500000.0, "alibi": False, "weight_tying": False,
            "block_type": "llama", "activation_type": "silu", "layer_norm_type": "rms", "rms_norm_eps": 1e-6,
            "include_bias": False, "include_qkv_bias": False, "input_emb_norm": False, "attention_layer_norm": False,
            "clip_qkv": None, "scale_logits": False, "mask_token_id": ids["<|mdm_mask|>"], "eos_token_id": c.eos_token_id,
            "pad_token_id": c.pad_token_id, "bos_token_id": c.bos_token_id,
        }
        (dest / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    for f in dest.iterdir():
        f.chmod(0o644)
    return dest


# hidden channels that carry "massive activations" in outliers(): a few of 64, as LLMs have a few of thousands
OUTLIER_CHANNELS, OUTLIER_SCALE = (3, 17, 40), 40.0


def outliers(out: Path) -> Path:
    """The tiny qwen2 checkpoint with LLM-like outlier channels: the embedding's columns OUTLIER_CHANNELS scaled by
    OUTLIER_SCALE, so the residual stream (and every norm's input) has a few channels ~40x the rest, as published for
    real LLMs ("massive activations"); fp32, one file. For the precision study (docs/benchmarks.md, "Precision"): per
    tensor activation quantization is weakest exactly there."""
    dest = out / "qwen2-outliers"
    dest.mkdir(parents=True, exist_ok=True)
    tok = make_tokenizer(SPECIALS["qwen2"])
    model, _ = hf_model("qwen2", tok, FAMILIES.index("qwen2") + 1)
    with torch.no_grad():
        model.model.embed_tokens.weight[:, list(OUTLIER_CHANNELS)] *= OUTLIER_SCALE
    tok.save(str(dest / "tokenizer.json"))
    model.save_pretrained(str(dest), safe_serialization=True)
    return dest


# Open-dCoder 0.5B = Qwen2.5-Coder-0.5B's shapes (its config.json); the tokenizer has 151,665 entries, the embedding more rows
OPEN_DCODER_05B = dict(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                       num_key_value_heads=2, max_position_embeddings=32768, tie_word_embeddings=True)


def sized(out: Path, shapes: dict = OPEN_DCODER_05B, tokens: int = 151665) -> Path:
    """A random-weight bf16 Qwen2 checkpoint of real shapes, written one layer at a time in shards (as the Hub does), with a
    byte-level BPE tokenizer of `tokens` entries whose last ones are the special tokens (as Qwen's): for the converter's
    sizes, memory and speed, not its quality."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    h, f, layers = shapes["hidden_size"], shapes["intermediate_size"], shapes["num_hidden_layers"]
    kv = shapes["num_key_value_heads"] * (h // shapes["num_attention_heads"])
    g = torch.Generator().manual_seed(0)
    rand = lambda *shape: (torch.randn(shape, generator=g) * 0.02).to(torch.bfloat16)  # noqa: E731
    ones = lambda n: torch.ones(n, dtype=torch.bfloat16)  # noqa: E731
    shards = [{"model.embed_tokens.weight": rand(shapes["vocab_size"], h), "model.norm.weight": ones(h)}]
    for i in range(layers):
        b = f"model.layers.{i}."
        shards.append({b + "input_layernorm.weight": ones(h), b + "post_attention_layernorm.weight": ones(h),
                       b + "self_attn.q_proj.weight": rand(h, h), b + "self_attn.q_proj.bias": rand(h),
                       b + "self_attn.k_proj.weight": rand(kv, h), b + "self_attn.k_proj.bias": rand(kv),
                       b + "self_attn.v_proj.weight": rand(kv, h), b + "self_attn.v_proj.bias": rand(kv),
                       b + "self_attn.o_proj.weight": rand(h, h), b + "mlp.gate_proj.weight": rand(f, h),
                       b + "mlp.up_proj.weight": rand(f, h), b + "mlp.down_proj.weight": rand(h, f)})
    weight_map, total = {}, 0
    for n, shard in enumerate(shards):
        name = f"model-{n + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, str(out / name), metadata={"format": "pt"})
        for k, t in shard.items():
            weight_map[k] = name
            total += t.numel() * t.element_size()
    (out / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=1))
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|mask|>"]
    tok = padded_bpe(tokens - len(specials))
    tok.add_special_tokens(specials)
    tok.save(str(out / "tokenizer.json"))
    eos = tokens - len(specials)
    config = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_act": "silu", "rms_norm_eps": 1e-6,
              "rope_theta": 1000000.0, "use_sliding_window": False, "torch_dtype": "bfloat16", "bos_token_id": eos,
              "eos_token_id": eos, "pad_token_id": eos, **shapes}
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="folder to write the checkpoints into")
    ap.add_argument("--family", choices=FAMILIES, help="only this family")
    ap.add_argument("--sized", action="store_true", help="instead: random bf16 weights of Open-dCoder 0.5B's shapes in OUT")
    ap.add_argument("--outliers", action="store_true", help="instead: the tiny qwen2 with LLM-like outlier channels in OUT/qwen2-outliers")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.outliers:
        print(outliers(Path(args.out)))
        return
    if args.sized:
        print(sized(Path(args.out)))
        return
    for family in [args.family] if args.family else FAMILIES:
        print(make(family, Path(args.out)))


if __name__ == "__main__":
    main()
