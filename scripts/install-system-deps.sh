#!/usr/bin/env bash
# Install the Debian packages gridmap's tests use, when they are missing:
#   chromium        headless browser that loads the generated HTML maps
#   gdal-bin        ogrinfo, an outside client of the OGC API - Features service
#   fonts-noto-cjk  a CJK font for static PNG maps with Chinese text
#   poppler-utils   pdftoppm/pdftotext: the map tests rasterise Chromium's printed PDF
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v ogrinfo >/dev/null 2>&1 || need+=(gdal-bin)
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || need+=(fonts-noto-cjk)
command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
echo "installing Debian packages: ${need[*]}"
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "need root (or sudo) to install: ${need[*]}" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q "${need[@]}" fontconfig
