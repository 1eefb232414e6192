#!/usr/bin/env bash
# Refuse to start the venv install on a nearly full disk, with one clear message instead of
# pip's "[Errno 28] No space left on device" halfway through torch's wheel. The pinned torch
# 2.14.1 wheel for x86_64 is a CUDA build: the installed .venv takes about 6.5 GB.
# Usage: check-disk.sh DIR GIB (DIR: where .venv goes; GIB: the free space needed).
set -euo pipefail
dir=${1:?usage: check-disk.sh DIR GIB}
need=${2:?usage: check-disk.sh DIR GIB}
free_kib=$(df -Pk "$dir" | awk 'NR == 2 {print $4}')
free_gib=$(( free_kib / 1024 / 1024 ))
if [ "$free_gib" -lt "$need" ]; then
    echo "check-disk: $dir has $free_gib GiB free; installing .venv (torch with its CUDA" \
         "libraries) needs about $need GiB. Free some space (old clones, their .venv and" \
         "_build, ~/.cache/pip) or set VENV to a path on a larger disk." >&2
    exit 1
fi
