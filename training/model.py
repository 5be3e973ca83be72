"""The denoiser: a small bidirectional transformer (pre-LayerNorm, rotary positions,
tied input/output embeddings). No causal mask: every position sees the whole canvas."""
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Config:
    vocab: int = 8192
    d_model: int = 256
    layers: int = 4
    heads: int = 4
    ffn: int = 1024
    max_seq: int = 512
    rope_base: float = 10000.0

    def as_dict(self):
        return asdict(self)


def sized(d_model: int, layers: int) -> Config:
    """A candidate size (training/size_bench.py): heads of 64 dimensions and a 4× FFN, as the shipped model."""
    return Config(d_model=d_model, layers=layers, heads=d_model // 64, ffn=4 * d_model)


# name -> Config of the sizes measured for the bundled model (latency and file size in training/README.md)
SIZES = {f"d{d}-{n}L": sized(d, n) for d, n in ((256, 4), (256, 6), (256, 8), (320, 6), (320, 8), (384, 6), (384, 8))}


def rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


class Block(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.heads = c.heads
        self.ln1 = nn.LayerNorm(c.d_model)
        self.qkv = nn.Linear(c.d_model, 3 * c.d_model, bias=False)
        self.out = nn.Linear(c.d_model, c.d_model, bias=False)
        self.ln2 = nn.LayerNorm(c.d_model)
        self.up = nn.Linear(c.d_model, c.ffn, bias=False)
        self.down = nn.Linear(c.ffn, c.d_model, bias=False)

    def forward(self, x, cos, sin, keys=None):
        """keys: optional boolean [batch, 1, 1, seq], False on padding rows that no row may attend to."""
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k = rotary(q, cos, sin), rotary(k, cos, sin)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=keys)
        x = x + self.out(a.transpose(1, 2).reshape(b, t, d))
        return x + self.down(F.gelu(self.up(self.ln2(x))))


class Denoiser(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.config = c
        self.embed = nn.Embedding(c.vocab, c.d_model)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.layers))
        self.ln_f = nn.LayerNorm(c.d_model)
        head_dim = c.d_model // c.heads
        self.register_buffer("inv_freq", 1.0 / c.rope_base ** (torch.arange(0, head_dim, 2).float() / head_dim),
                             persistent=False)
        nn.init.normal_(self.embed.weight, std=0.02)
        for blk in self.blocks:
            for lin in (blk.qkv, blk.up):
                nn.init.normal_(lin.weight, std=0.02)
            for lin in (blk.out, blk.down):
                nn.init.normal_(lin.weight, std=0.02 / (2 * c.layers) ** 0.5)

    def hidden(self, ids: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """valid: optional boolean [batch, seq], True on real tokens: canvases of different lengths padded into one
        batch are then computed exactly as each one alone (padding is never attended to)."""
        t = ids.shape[1]
        pos = torch.arange(t, device=ids.device, dtype=torch.float32)
        freqs = pos[:, None] * self.inv_freq[None, :]
        cos, sin = freqs.cos(), freqs.sin()
        keys = None if valid is None else valid[:, None, None, :]
        x = self.embed(ids)
        for blk in self.blocks:
            x = blk(x, cos, sin, keys)
        return self.ln_f(x)

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        return h @ self.embed.weight.t()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.logits(self.hidden(ids))

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())


def load_model(weights: Path) -> tuple[Denoiser, dict]:
    """A train.py checkpoint (weights.pt, ckpt.pt, checkpoints/default.pt) as an fp32 Denoiser in eval mode, and its state."""
    saved = torch.load(weights, map_location="cpu")
    model = Denoiser(Config(**saved["config"]))
    model.load_state_dict({k: v.float() for k, v in saved["model"].items()})
    return model.eval(), saved.get("state", {})


SHIPPED_MODEL = Path(__file__).resolve().parent.parent / "models" / "default"


def is_shipped(model_dir: Path) -> bool:
    """Whether a model folder is the one bundled with the extension."""
    return model_dir.resolve() == SHIPPED_MODEL.resolve()
