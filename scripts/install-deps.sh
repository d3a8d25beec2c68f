#!/usr/bin/env bash
# Installs the Debian packages ebm needs to build, test, benchmark and run its
# examples.  Idempotent and non-interactive; run as root (or with sudo).
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config git
  libeigen3-dev doctest-dev libbenchmark-dev libstb-dev zlib1g-dev
  dataset-fashion-mnist python3-sklearn
)
if [[ "${EBM_WITH_TORCH:-0}" == 1 ]]; then
  packages+=(python3 python3-torch python3-numpy)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO=sudo
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all packages present"
fi
