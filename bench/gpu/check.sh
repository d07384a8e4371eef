#!/bin/sh
# Runs ON THE GPU MACHINE (see bench/gpu/prepare.sh): the training benches
# against PyTorch on CUDA (reference config; the paper-scale grid's first
# model, train-paper) and that model's per-kernel profile (profile-paper),
# then a subset of the paper-scale grid.
# First the GPU kernel tests (parity with the CPU reference, training,
# checkpoints) on the real adapter, with both kernel families.
# Everything it prints is also under $OUT (at most 8 files come back):
#   hardware.txt, tests.txt, bench_train.txt, matmul.txt, grid.txt, grid_report.tgz
# Knobs (environment): GRID_ONLY (sweep labels, default "L1 d32,L2 d32"),
# GRID_STEPS (budget per run, default 2000: the paper scale's first cycle),
# GRID_TIMEOUT (seconds; default: what is left of BUDGET, 540 s from the start,
# less 20 s for packing the report), GRID_SCALE (default paper), GRID_PRECISION
# (default fp32; bf16 for the other half of the paper's Table 1),
# TORCH_DEVICE (default cuda), BENCH_STEPS (default 200), BENCHES (default
# "train train-paper profile-paper sweep"), SWEEP_STEPS (steps per point of bench sweep,
# default 2000), BENCH_TIMEOUT (seconds for the benches, default 240), SKIP_TESTS=1,
# SKIP_GRID=1, SKIP_BENCH=1, MATMUL_VARIANTS (tuning
# overrides separated by ';', e.g. '{};{"maxRm":8}': times the paper-scale
# matmul shapes with each, matmul.txt; default none). The grid subset
# needs about 7 minutes on an H100 (docs/results/gpu-h100): to finish it in
# one lease, run it alone (SKIP_TESTS=1 SKIP_BENCH=1 BUDGET=580). The reference
# study's paper cell (issue 21: memcap and PyTorch, 40,000 steps each, bench/reference_cell.ts):
# BENCHES=reference-cell BENCH_TIMEOUT=560 SKIP_TESTS=1 SKIP_GRID=1. A dry run on a
# CPU machine: TORCH_DEVICE=cpu GRID_SCALE=cpu GRID_ONLY="L1 d8,L2 d8" GRID_STEPS=500.
set -u
started=$(date +%s)
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/memcap-out}
mkdir -p "$OUT"
for f in .gl/*.deb; do [ -e "$f" ] && dpkg -x "$f" /; done
ldconfig
if [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi
mkdir -p /tmp/memcap-deno
xz -dc .gpu/deno.xz >/tmp/memcap-deno/deno && chmod +x /tmp/memcap-deno/deno
export PATH=/tmp/memcap-deno:$PATH DENO_DIR=/tmp/memcap-deno/cache DENO_NO_UPDATE_CHECK=1
[ -d node_modules ] || tar xJf .gpu/node_modules.tar.xz
mkdir -p "$DENO_DIR" && tar xJf .gpu/deno_dir.tar.xz -C "$DENO_DIR"
run() { deno run -A --cached-only "$@"; }

{
  date -u
  nvidia-smi -L
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.total --format=csv
  nproc
  run bench/gpu/adapter.ts
} 2>&1 | tee "$OUT/hardware.txt"

if [ "${SKIP_TESTS:-}" != 1 ]; then
  timeout 150 deno test -A --cached-only tests/gpu/ 2>&1 | tee "$OUT/tests.txt"
fi

if [ "${SKIP_BENCH:-}" != 1 ]; then
  MEMCAP_PYTHON=$(command -v python3) MEMCAP_TORCH_DEVICE="${TORCH_DEVICE:-cuda}" \
    MEMCAP_BENCH_STEPS="${BENCH_STEPS:-200}" MEMCAP_BENCH_SWEEP_STEPS="${SWEEP_STEPS:-2000}" \
    timeout "${BENCH_TIMEOUT:-240}" deno run -A --cached-only bench/main.ts ${BENCHES:-train train-paper profile-paper sweep} 2>&1 |
    tee "$OUT/bench_train.txt"
fi

if [ -n "${MATMUL_VARIANTS:-}" ]; then
  echo "$MATMUL_VARIANTS" | tr ';' '\n' | while read -r tuning; do
    timeout 60 deno run -A --cached-only bench/matmul_bench.ts --hardware --paper --no-check \
      --filter=paper. --tuning="$tuning"
  done 2>&1 | tee "$OUT/matmul.txt"
fi

if [ "${SKIP_GRID:-}" != 1 ]; then
  left=$((${BUDGET:-540} - ($(date +%s) - started) - 20))
  echo "grid: ${GRID_TIMEOUT:-$left} s"
  timeout "${GRID_TIMEOUT:-$left}" deno run -A --cached-only experiments/run.ts capacity-grid \
    --scale "${GRID_SCALE:-paper}" --precision "${GRID_PRECISION:-fp32}" --only "${GRID_ONLY:-L1 d32,L2 d32}" \
    --max-steps "${GRID_STEPS:-2000}" --out /tmp/memcap-results 2>&1 | tee "$OUT/grid.txt"
  tar czf "$OUT/grid_report.tgz" -C /tmp/memcap-results . 2>/dev/null || true
fi
