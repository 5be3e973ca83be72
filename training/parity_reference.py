"""The independent reference of the converter's parity tests (test/unit/convert/parity*.test.ts): a checkpoint's
logits computed by other code than the converter's graph, with bidirectional (non-causal) attention.

    python training/parity_reference.py CHECKPOINT_DIR CANVASES.json OUT.f32 [CHECKPOINT_DIR CANVASES.json OUT.f32 ...]

CANVASES.json is a list of canvases (lists of token ids). OUT.f32 receives, for every canvas in order and every row
of it, the fp32 logits over the whole vocabulary (little-endian float32, rows × vocabulary per canvas). Several
checkpoints may be given in one run (Python and torch start once). Prints one JSON line per checkpoint:
{"vocab": V, "rows": R}.

* qwen2 / Dream: transformers' Qwen2ForCausalLM, llama: LlamaForCausalLM, both fp32 with an all-True 4-D boolean
  attention mask (every row sees every row);
* llada: LlamaForCausalLM on LLaDA's weights renamed to Llama's;
* unmask (the bundled model): training/model.py's Denoiser, whose attention has no mask.
"""
import json
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

# the converter's family registry (src/convert/familyTable.json): model types, and each family's weight names
REGISTRY = {k: v for k, v in json.loads((Path(__file__).resolve().parent.parent / "src" / "convert" / "familyTable.json").read_text()).items()
            if k != "//"}
FAMILIES = {t: family for family, f in REGISTRY.items() for t in f["modelTypes"]}


def renaming(source: str, target: str) -> tuple[dict[str, str], dict[str, str]]:
    """Weight names of family `source` -> those of `target`, through the registry's canonical parts: the whole
    tensors (embedding, final norm, head) and each layer's parts (after the layer's prefix)."""
    s, t = REGISTRY[source]["weights"], REGISTRY[target]["weights"]
    whole = {s["embed"]: t["embed"], f"{s['final_norm']}.weight": f"{t['final_norm']}.weight", s["lm_head"]: t["lm_head"]}
    return whole, {s["parts"][p]: t["parts"][p] for p in s["parts"]}


def weights(ckpt: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    out = {}
    for f in sorted(ckpt.glob("*.safetensors")):
        out.update({k: v.to(torch.float32) for k, v in load_file(str(f)).items()})
    return out


def llada_to_llama(w: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    whole, parts = renaming("llada", "llama")
    source, target = REGISTRY["llada"]["weights"]["layer"], REGISTRY["llama"]["weights"]["layer"]
    head, tail = source.split("{i}")
    out = {}
    for name, t in w.items():
        if name in whole:
            out[whole[name]] = t
            continue
        layer, rest = name[len(head):].split(tail, 1) if name.startswith(head) else (None, name)  # N, PART.weight
        part, kind = rest.rsplit(".", 1)
        out[f"{target.replace('{i}', layer)}{parts[part]}.{kind}"] = t
    return out


def transformers_model(family: str, config: dict, w: dict[str, torch.Tensor]):
    import transformers

    if family == "llada":
        hidden, heads = config["d_model"], config["n_heads"]
        cfg = transformers.LlamaConfig(
            vocab_size=config.get("embedding_size") or config["vocab_size"], hidden_size=hidden, num_hidden_layers=config["n_layers"],
            num_attention_heads=heads, num_key_value_heads=config.get("n_kv_heads") or heads,
            intermediate_size=config["mlp_hidden_size"], rms_norm_eps=config.get("rms_norm_eps", 1e-5),
            rope_theta=config.get("rope_theta", 10000.0), tie_word_embeddings=bool(config.get("weight_tying", False)),
            max_position_embeddings=config.get("max_sequence_length", 4096), attention_bias=False)
        w = llada_to_llama(w)
        cls = transformers.LlamaForCausalLM
    else:
        fields = {k: v for k, v in config.items() if k not in ("architectures", "auto_map", "model_type", "torch_dtype", "dtype")}
        if family == "qwen2":
            cfg, cls = transformers.Qwen2Config(**fields), transformers.Qwen2ForCausalLM
        else:
            cfg, cls = transformers.LlamaConfig(**fields), transformers.LlamaForCausalLM
    model = cls(cfg).to(torch.float32)
    missing, unexpected = model.load_state_dict(w, strict=False)
    missing = [m for m in missing if not (m == "lm_head.weight" and cfg.tie_word_embeddings)]
    if missing or unexpected:
        raise SystemExit(f"parity_reference: weights do not fit {cls.__name__}: missing {missing[:5]}, unexpected {unexpected[:5]}")
    if cfg.tie_word_embeddings:
        model.tie_weights()
    model.eval()

    def logits(ids: torch.Tensor) -> torch.Tensor:
        n = ids.shape[1]
        full = torch.ones(1, 1, n, n, dtype=torch.bool)  # every row attends to every row
        return model(input_ids=ids, attention_mask=full).logits[0]
    return logits


def unmask_model(config: dict, w: dict[str, torch.Tensor]):
    from model import Config, Denoiser

    # config.json's Hub-style names (training/to_safetensors.py hub_config) for model.py's Config fields
    c = Config(vocab=config["vocab_size"], d_model=config["hidden_size"], layers=config["num_hidden_layers"],
               heads=config["num_attention_heads"], ffn=config["intermediate_size"], max_seq=config["max_position_embeddings"],
               rope_base=config["rope_theta"])
    model = Denoiser(c)
    model.load_state_dict(w)
    model.eval()
    return lambda ids: model(ids)[0]


def main() -> None:
    args = sys.argv[1:]
    if not args or len(args) % 3:
        raise SystemExit(__doc__)
    torch.set_num_threads(1)
    for i in range(0, len(args), 3):
        run(Path(args[i]), Path(args[i + 1]), Path(args[i + 2]))


def run(ckpt: Path, canvases_file: Path, out_file: Path) -> None:
    config = json.loads((ckpt / "config.json").read_text())
    model_type = str(config.get("model_type", "")).lower()
    if model_type not in FAMILIES:
        raise SystemExit(f"parity_reference: {ckpt / 'config.json'}: model_type {model_type!r} is not one of {', '.join(FAMILIES)}")
    family = FAMILIES[model_type]
    w = weights(ckpt)
    forward = unmask_model(config, w) if family == "unmask" else transformers_model(family, config, w)
    canvases = json.loads(canvases_file.read_text())
    rows = 0
    vocab = 0
    with torch.no_grad(), out_file.open("wb") as f:
        for c in canvases:
            logits = forward(torch.tensor([c])).to(torch.float32).contiguous()
            vocab = logits.shape[-1]
            rows += logits.shape[0]
            f.write(logits.numpy().astype("<f4").tobytes())
    print(json.dumps({"vocab": vocab, "rows": rows}))


if __name__ == "__main__":
    main()
