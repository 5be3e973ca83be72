"""The learned unmasking filter (Learn2PD): a tiny MLP that reads a still-masked slot's per-step signals
(src/engine/signals.ts, recorded by research/trajectories.ts on training-split samples decoded with `sequential`)
and predicts whether its current top-1 is already its final token. Trains in seconds to minutes on the CPU and is
exported as a second ONNX graph of the model folder (features [N, F] float32 → score [N]); unmask.json gets
files.filter and filterFeatures. The `learned` policy unmasks every slot whose score reaches its threshold θ.

    npx tsx research/trajectories.ts                       # training/.work/filter/traj
    python training/filter.py --traj training/.work/filter/traj --model models/default

Labels: `final` (the top-1 equals the final token), or with --label keep also every slot that shaping cuts from the
final completion (its token cannot change the text shown; committing it early only saves forwards).
"""
import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

HERE = Path(__file__).resolve().parent


class Filter(nn.Module):
    def __init__(self, mean: np.ndarray, std: np.ndarray, hidden: int = 32):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))
        f = len(mean)
        self.net = nn.Sequential(nn.Linear(f, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def logits(self, x):
        return self.net((x - self.mean) / self.std).squeeze(-1)

    def forward(self, features):
        return torch.sigmoid(self.logits(features))


def load(traj: Path):
    header = json.loads((traj / "header.json").read_text())
    cols = header["columns"]
    rows = np.fromfile(traj / "rows.f32", dtype=np.float32).reshape(-1, len(cols))
    return header, rows, {c: i for i, c in enumerate(cols)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--traj", default=str(HERE / ".work" / "filter" / "traj"))
    ap.add_argument("--model", help="model folder to write filter.onnx into (and update unmask.json)")
    ap.add_argument("--label", choices=("final", "keep"), default="keep")
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    header, rows, col = load(Path(args.traj))
    features = header["features"]
    f = len(features)
    x = rows[:, :f]
    y = rows[:, col["final"]]
    if args.label == "keep":
        y = np.maximum(y, 1 - rows[:, col["keep"]])
    sample = rows[:, col["sample"]].astype(int)
    rng = np.random.default_rng(args.seed)
    n_samples = sample.max() + 1
    val_samples = rng.random(n_samples) < 0.2
    val = val_samples[sample]
    mean, std = x[~val].mean(0), x[~val].std(0) + 1e-3
    model = Filter(mean, std, args.hidden)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    xt, yt = torch.tensor(x[~val]), torch.tensor(y[~val])
    xv, yv = torch.tensor(x[val]), torch.tensor(y[val])
    loss_fn = nn.BCEWithLogitsLoss()
    for epoch in range(args.epochs):
        perm = torch.randperm(len(xt))
        model.train()
        for i in range(0, len(xt), 2048):
            b = perm[i:i + 2048]
            loss = loss_fn(model.logits(xt[b]), yt[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if epoch % 5 == 4 or epoch == args.epochs - 1:
            with torch.no_grad():
                vl = loss_fn(model.logits(xv), yv).item()
            print(f"epoch {epoch + 1}: train loss {loss.item():.4f}, val loss {vl:.4f}")
    model.eval()
    with torch.no_grad():
        sv = model(xv).numpy()
    base = yv.numpy()
    print(f"rows: {len(x)} ({val.sum()} validation, from {val_samples.sum()} of {n_samples} samples); positive share {y.mean():.3f}")
    print("θ      accepted%  precision  (validation rows; p1 ≥ θ for comparison)")
    p1 = x[val][:, features.index("p1")]
    for theta in (0.5, 0.7, 0.8, 0.9, 0.95, 0.98):
        acc = sv >= theta
        acc_p = p1 >= theta
        prec = base[acc].mean() if acc.any() else float("nan")
        prec_p = base[acc_p].mean() if acc_p.any() else float("nan")
        print(f"{theta:<6} {100 * acc.mean():8.1f}  {prec:9.3f}   | p1: {100 * acc_p.mean():5.1f}% {prec_p:.3f}")

    if args.model:
        out = Path(args.model)
        dummy = torch.zeros(4, f)
        torch.onnx.export(model, (dummy,), str(out / "filter.onnx"), input_names=["features"], output_names=["score"],
                          dynamic_axes={"features": {0: "n"}, "score": {0: "n"}}, opset_version=17, dynamo=False)
        manifest_file = out / "unmask.json"
        manifest = json.loads(manifest_file.read_text())
        manifest["files"]["filter"] = "filter.onnx"
        manifest["filterFeatures"] = features
        manifest["filterTraining"] = {"label": args.label, "rows": int(len(x)), "samples": int(n_samples),
                                      "trajectories": f"{header['policy']} on {header['tasks']} (training split)",
                                      "hidden": args.hidden, "epochs": args.epochs}
        manifest_file.write_text(json.dumps(manifest, indent=2) + "\n")
        print(f"wrote {out / 'filter.onnx'} ({(out / 'filter.onnx').stat().st_size} bytes) and files.filter in {manifest_file}")


if __name__ == "__main__":
    main()
