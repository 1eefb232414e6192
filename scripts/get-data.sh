#!/usr/bin/env bash
# Puts Fashion-MNIST where torchvision reads it: $LATENTGEOM_HOME/data/FashionMNIST/raw.
# Sources, in order: the Debian package dataset-fashion-mnist (installed here when apt is
# available and we run as root), then torchvision's download, else a message saying how to
# provide the files by hand.
set -euo pipefail
PY=${PY:-python3}
home=${LATENTGEOM_HOME:-$(pwd)}
dest="$home/data/FashionMNIST/raw"
src=/usr/share/datasets/fashion-mnist
files="train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte"
mkdir -p "$dest"

if [ ! -f "$src/train-images-idx3-ubyte.gz" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "get-data: installing Debian package dataset-fashion-mnist"
    apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1; } \
        || echo "get-data: apt-get could not install dataset-fashion-mnist"
fi

if [ -f "$src/train-images-idx3-ubyte.gz" ]; then
    for f in $files; do
        if [ ! -s "$dest/$f" ]; then
            gunzip -c "$src/$f.gz" > "$dest/$f.tmp"
            mv -f "$dest/$f.tmp" "$dest/$f"
        fi
    done
else
    echo "get-data: trying torchvision's download of Fashion-MNIST"
    "$PY" -c "import sys, torchvision; torchvision.datasets.FashionMNIST(sys.argv[1], download=True)" "$home/data" || {
        cat >&2 <<MSG
get-data: could not get Fashion-MNIST (no Debian package, no network).
Put the four idx files (train-images-idx3-ubyte, train-labels-idx1-ubyte,
t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; gunzipped) into
  $dest
or install the Debian package:  sudo apt-get install dataset-fashion-mnist
MSG
        exit 1
    }
fi

for f in $files; do
    [ -s "$dest/$f" ] || { echo "get-data: $dest/$f is missing" >&2; exit 1; }
done
touch "$dest/.ready"
echo "get-data: Fashion-MNIST ready in $dest"
