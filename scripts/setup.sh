#!/usr/bin/env bash
# Sets advexp up on a fresh Debian/Ubuntu machine: system packages (only those missing), npm ci,
# the native addon and the TypeScript build. Idempotent. LIBTORCH=/path uses another libtorch
# (e.g. a CUDA build) instead of Debian's libtorch-dev.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
need=()
if [ -z "${LIBTORCH:-}" ] && [ ! -f /usr/include/torch/csrc/api/include/torch/torch.h ]; then need+=(libtorch-dev); fi
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v make >/dev/null 2>&1 || need+=(make)
command -v python3 >/dev/null 2>&1 || need+=(python3)
# PNG plots are rendered by resvg with DejaVu Sans (src/report/plot-png.ts)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
if [ "${ADVEXP_BROWSER_TESTS:-1}" = "1" ] && [ -f web/package.json -o -d test/web ] && ! command -v chromium >/dev/null 2>&1; then need+=(chromium); fi
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need[@]}"
fi

# the install script would build the addon too; `npm run build` below does it once
ADVEXP_SKIP_NATIVE=1 npm ci --no-audit --no-fund
npm run build
