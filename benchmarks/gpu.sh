#!/usr/bin/env bash
# GPU benchmarks for a lent H100/H200 whose image has JAX, PyTorch and CUDA
# but neither TensorFlow nor Keras. Run from anywhere; works in the repo root.
#
#   benchmarks/gpu.sh [info|throughput|epoch|study|all]...   (default: all)
#
# Phases (each fits one 10-minute device call; pass several to chain them):
#   info        nvidia-smi and versions                    -> $OUT/machine.txt
#   throughput  ResNet-18 train-step images/s, ours (Keras/JAX, XLA) against
#               PyTorch (channels_last, torch.compile), float32 and bfloat16
#                                                          -> $OUT/throughput_*.json
#   epoch       seconds per epoch through the package's engine on CIFAR-10,
#               float32 and mixed_bfloat16                 -> $OUT/epoch_time.json
#   study       the four-model study, STUDY_EPOCHS epochs  -> $OUT/study.json,
#               $OUT/study.tar.gz (runs, report, figures)
#
# Environment:
#   OUT            results folder (default: gpu-results)
#   DATA           folder with train.tar.gz / test.tar.gz of the shared
#                  CIFAR-10 JPEG copy (default: .data/cifar10-jpeg)
#   BATCH          batch size (default 512); STUDY_EPOCHS (default 30);
#   EPOCH_EPOCHS   epochs timed by `epoch` (default 3)
#   PYTHON         interpreter (default python3); TORCH_PYTHON for PyTorch
#   GPU_SH_DRY_RUN=1  tiny sizes on whatever device is there (CPU check)
#
# Keras and its pure-Python needs travel as wheels in .whl/ (installed with
# --no-deps into /tmp/site); the repository itself is put on PYTHONPATH.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-gpu-results}
DATA=${DATA:-.data/cifar10-jpeg}
BATCH=${BATCH:-512}
STUDY_EPOCHS=${STUDY_EPOCHS:-30}
EPOCH_EPOCHS=${EPOCH_EPOCHS:-3}
PYTHON=${PYTHON:-python3}
DRY=${GPU_SH_DRY_RUN:-0}
SCRATCH=${SCRATCH:-$(mktemp -d)}
mkdir -p "$OUT"
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1 KERAS_RESNET_CACHE="$SCRATCH/cache"

phases=("$@")
[[ ${#phases[@]} -eq 0 || ${phases[0]} == all ]] && phases=(info throughput epoch study)
for phase in "${phases[@]}"; do
  case $phase in
    info | throughput | epoch | study) ;;
    *) echo "Error: unknown phase '$phase' (info, throughput, epoch, study, all)" >&2; exit 2 ;;
  esac
done

if [[ $DRY == 1 ]]; then
  QUICK=(--quick)
  DATA_ARGS=()
else
  QUICK=()
  [[ -f $DATA/train.tar.gz ]] || {
    echo "Error: $DATA/train.tar.gz not found (copy ../shared/data/cifar10-jpeg there)" >&2
    exit 1
  }
  DATA_ARGS=(--data "$DATA")
fi

# The wheels are built for the device's Python 3.12; a dry run uses this one.
if [[ $DRY != 1 ]] && compgen -G ".whl/*.whl" >/dev/null; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site:$PWD"
else
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi

info() {
  { date -u; nvidia-smi || echo "nvidia-smi: not available"; lscpu | grep 'Model name' || true
    "$PYTHON" - <<'EOF'
import importlib.metadata as m
for name in ("keras", "jax", "jaxlib", "torch", "numpy"):
    try:
        print(name, m.version(name))
    except m.PackageNotFoundError:
        print(name, "not installed")
EOF
  } >"$OUT/machine.txt" 2>&1
  cat "$OUT/machine.txt"
}

throughput() {
  local torch_args=(--torch-compile)
  [[ $DRY == 1 ]] && torch_args=(--no-torch-compile)
  for precision in float32 mixed_bfloat16; do
    "$PYTHON" benchmarks/train_throughput.py --impls ours,torch --backends jax \
      --jit-compile --precision "$precision" --batch-size "$BATCH" \
      --steps 50 --windows 5 --warmup 5 "${torch_args[@]}" "${QUICK[@]}" \
      ${TORCH_PYTHON:+--torch-python "$TORCH_PYTHON"} \
      --json "$OUT/throughput_$precision.json"
  done
}

epoch() {
  local parts=()
  for precision in float32 mixed_bfloat16; do
    "$PYTHON" benchmarks/gpu_study.py epoch-time "${DATA_ARGS[@]}" "${QUICK[@]}" \
      --precision "$precision" --batch-size "$BATCH" --epochs "$EPOCH_EPOCHS" \
      --output "$SCRATCH/epoch" --json "$SCRATCH/epoch_$precision.json"
    parts+=("$SCRATCH/epoch_$precision.json")
  done
  "$PYTHON" -c 'import json, sys; json.dump([json.load(open(p)) for p in sys.argv[2:]], open(sys.argv[1], "w"), indent=2)' \
    "$OUT/epoch_time.json" "${parts[@]}"
}

study() {
  "$PYTHON" benchmarks/gpu_study.py study "${DATA_ARGS[@]}" "${QUICK[@]}" \
    --epochs "$STUDY_EPOCHS" --batch-size "$BATCH" --output "$SCRATCH/study" \
    --json "$OUT/study.json"
  # Model files would exceed what comes back from the device; keep the rest.
  tar -czf "$OUT/study.tar.gz" --exclude="*.keras" --exclude=tensorboard \
    -C "$SCRATCH" study
}

for phase in "${phases[@]}"; do
  echo "== $phase"
  "$phase"
done
