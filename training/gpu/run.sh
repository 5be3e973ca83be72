#!/usr/bin/env bash
# The GPU training run, in one command on a machine with one CUDA GPU and ~16 cores, given a copy
# of the repository with training/gpu-data/ beside it (made here by `python training/gpu_data.py`).
# Ends within ~8 minutes: the trainer's deadline is 450 s from its start; its schedule spans 390 s,
# or less if loading took long (what is left of the deadline less 40 s for the final evaluation and
# writing). Expect ≈ 7 minutes in all.
# Writes into $OUT (or training/runs/gpu-out): weights.pt in parts of at most 16 MiB with a part
# list (merge them with `python training/parts.py merge <folder> training/runs/gpu/weights.pt`),
# log.jsonl, summary.json and stdout.log. Extra arguments go to train.py --preset gpu: the default trains
# d320-8L from scratch; `--size d256-4L --init training/checkpoints/default.pt --lr 5e-4` continues
# the shipped size from the committed weights instead (a deeper d256 grows from them too).
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-training/runs/gpu-out}"
mkdir -p "$out"
out="$(realpath "$out")"
[ -f training/gpu-data/manifest.json ] || { echo "training/gpu-data/ is missing: make it with python training/gpu_data.py" >&2; exit 2; }
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -2 || true
python3 -c "import torch, tokenizers; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'tokenizers', tokenizers.__version__, 'cpus', __import__('os').cpu_count())"
# a step of d320-8L takes tens of milliseconds here: a log line every few seconds, an eval every minute or two
python3 training/train.py --preset gpu --run gpu --device cuda --log-every 200 --eval-every 2000 --out "$out" "$@" 2>&1 | tee "$out/stdout.log"
