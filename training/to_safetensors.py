"""The bundled model as a checkpoint folder in the Hub's layout (config.json + model.safetensors + tokenizer.json), which
`npm run convert` turns into a model folder like any other checkpoint.

    python training/to_safetensors.py [training/checkpoints/default.pt] --out DIR [--tokenizer models/default/tokenizer.json]

config.json's model_type "unmask" names training/model.py's architecture; its fields say what the converter must
compute (pre-LayerNorm with bias, fused qkv, exact GELU, tied embeddings, rotary positions). The tensors keep
model.py's state_dict names and dtype (the committed weights are fp16).
"""
import argparse
import json
import shutil
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from model import Config  # noqa: E402
from rules import MANIFEST_TOKENS  # noqa: E402

DEFAULT_TOKENIZER = HERE.parent / "models" / "default" / "tokenizer.json"
LICENSE = "MIT (weights); trained on permissively licensed code, see README.md"
CORPUS = "npm packages (MIT/Apache-2.0/BSD/ISC), Python stdlib, Debian Python packages"


def hub_config(config: Config, state: dict | None = None) -> dict:
    """config.json of an `unmask` checkpoint (src/convert/families.ts reads it; UNMASK_CONFIG there holds the fixed fields)."""
    return {
        "model_type": "unmask", "architectures": ["Denoiser"],
        "vocab_size": config.vocab, "hidden_size": config.d_model, "num_hidden_layers": config.layers,
        "num_attention_heads": config.heads, "intermediate_size": config.ffn, "max_position_embeddings": config.max_seq,
        "rope_theta": config.rope_base,
        # what the forward is (training/model.py): nn.LayerNorm's default eps, F.gelu's exact form, one qkv Linear
        "norm": "layer_norm", "layer_norm_eps": 1e-5, "hidden_act": "gelu", "qkv": "fused", "tie_word_embeddings": True,
        **{f"{role}_token_id": i for role, i in MANIFEST_TOKENS.items()},
        "license": LICENSE,
        "training": {"tokens": int((state or {}).get("tokens", 0)), "steps": int((state or {}).get("step", 0)), "corpus": CORPUS},
    }


def write_checkpoint(weights: dict, config: Config, out: Path, tokenizer: Path | None, state: dict | None = None) -> None:
    """Writes config.json, model.safetensors (and tokenizer.json, copied when that file exists) into `out`."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in weights.items()}
    tmp = out / "model.safetensors.tmp"
    save_file(tensors, str(tmp), metadata={"format": "pt"})
    tmp.chmod(0o644)   # as any other file of the folder (safetensors creates it private)
    tmp.replace(out / "model.safetensors")
    (out / "config.json").write_text(json.dumps(hub_config(config, state), indent=2) + "\n")
    if tokenizer is not None and tokenizer.is_file():
        shutil.copyfile(tokenizer, out / "tokenizer.json")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("weights", nargs="?", default=str(HERE / "checkpoints" / "default.pt"),
                    help="a train.py checkpoint (weights.pt, ckpt.pt or checkpoints/default.pt)")
    ap.add_argument("--out", required=True, help="checkpoint folder to write")
    ap.add_argument("--tokenizer", default=str(DEFAULT_TOKENIZER), help="tokenizer.json the model was trained with")
    args = ap.parse_args()
    saved = torch.load(args.weights, map_location="cpu")
    config = Config(**saved["config"])
    write_checkpoint(saved["model"], config, Path(args.out), Path(args.tokenizer), saved.get("state"))
    print(f"wrote {args.out}: config.json, model.safetensors, tokenizer.json")


if __name__ == "__main__":
    main()
