#!/usr/bin/env bash
# The paper's Fig. 2 for chest X-rays (issue 13): for two val images of each class (normal: 0, 1; pneumonia: 135,
# 136 of ../shared/data/pneumoniamnist/val), the image, the AE toward "normal" and toward "pneumonia" at ρ = 0.05
# with its |δ| map, Grad-CAM and LIME, on the standard net (first row of each image) and the robust net (second).
# Writes docs/img/xray-fig2.png and docs/img/xray-fig2.json. Usage: bash scripts/xray-fig2.sh [DATA_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data/pneumoniamnist/val}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
node dist/src/cli/main.js explain --compare-models models/xray/standard.safetensors,models/xray/robust.safetensors \
  --data "$data" --index 0,1,135,136 --targets all --methods ae,gradcam,lime --delta --rho 0.05 --scale 4 \
  --threads "${ADVEXP_THREADS:-1}" --quiet --out "$out"
mkdir -p docs/img
cp "$out/explain.png" docs/img/xray-fig2.png
cp "$out/explain.json" docs/img/xray-fig2.json
echo "docs/img/xray-fig2.png"
