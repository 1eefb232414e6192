#!/usr/bin/env bash
# System packages the book needs beyond .venv: headless Chromium and its WebDriver
# (Debian packages chromium, chromium-driver), used by scripts/check_site.py to open every
# page of the built site in a real browser; and Slurm (munge, slurmctld, slurmd,
# slurm-client), on which tests/test_sweep.py runs the sweep (scripts/start-slurm.sh).
#
# Idempotent and quiet: when they are present it does nothing. When they are missing it
# installs them with apt-get if we run as root and apt is available; otherwise it prints how
# to install them and exits 0 (the site check then fails, or its test skips, with a message).
set -uo pipefail
pkgs="chromium chromium-driver"

have_browser() {
    { command -v chromium >/dev/null || command -v chromium-browser >/dev/null \
        || command -v google-chrome >/dev/null; } && command -v chromedriver >/dev/null
}

can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }

# apt_install "PKG ..." "why": quiet; runs apt-get update only when the first try fails.
apt_install() {
    echo "setup-system: installing Debian packages $1 ($2)"
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $1 >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null 2>&1 \
             && apt-get install -y -qq --no-install-recommends $1 >/dev/null 2>&1; } \
        || echo "setup-system: apt-get could not install $1" >&2
}

# Slurm (Debian packages munge, slurmctld, slurmd, slurm-client): the sweep's tests start a
# single-node cluster with scripts/start-slurm.sh and submit the tiny preset's zoo through it.
slurm_pkgs="munge slurmctld slurmd slurm-client"
have_slurm() {
    command -v munged >/dev/null && command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
        && command -v sbatch >/dev/null
}
if ! have_slurm; then
    can_apt && apt_install "$slurm_pkgs" "single-node Slurm for the sweep's tests"
    have_slurm || echo "setup-system: Slurm is not installed (needs root and apt-get: apt-get install" \
        "$slurm_pkgs); tests/test_sweep.py's Slurm test skips (it fails under CI=1)" >&2
fi

if have_browser; then
    exit 0
fi

if can_apt; then
    apt_install "$pkgs" "headless browser for the site check"
    if have_browser; then
        echo "setup-system: $(chromium --version 2>/dev/null || echo chromium) and chromedriver ready"
        exit 0
    fi
fi

cat >&2 <<MSG
setup-system: Chromium and chromedriver are not installed, and this script cannot install
them here (it needs root and apt-get). The browser check of the built site
(scripts/check_site.py, tests/test_site.py) needs them. Install them with
  sudo apt-get install chromium chromium-driver       # Debian / Ubuntu
or put a Chrome/Chromium and a matching chromedriver on PATH (or set CHROME_BIN and
CHROMEDRIVER). Until then tests/test_site.py skips (it fails under CI=1) and
'make book' fails its site check unless LATENTGEOM_SKIP_SITE_CHECK=1.
MSG
exit 0
