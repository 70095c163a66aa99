#!/usr/bin/env bash
# Installs the Debian packages kiln builds against. Idempotent and quiet when they are present.
set -euo pipefail
pkgs=(cmake make gcc pkg-config llvm-19-dev libzstd-dev libprotobuf-c-dev protobuf-c-compiler libonnx-dev
      libopenblas-dev libutf8proc-dev libpcre2-dev libcjson-dev libspng-dev libjpeg-dev python3 python3-venv)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
