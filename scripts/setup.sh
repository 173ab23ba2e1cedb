#!/usr/bin/env bash
# One-time set-up for a fresh machine: the system libraries Qt needs, a virtual env, the packages.
# Safe to re-run: each step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."

QT_SYSTEM_PACKAGES=(libegl1 libgl1 libglib2.0-0 libfontconfig1 libdbus-1-3 libxkbcommon0
  libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-randr0
  libxcb-render-util0 libxcb-image0 libxcb-xinerama0 libxcb-xkb1 libx11-xcb1 fonts-dejavu-core)

missing_system_packages() {
  local pkg
  for pkg in "${QT_SYSTEM_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || echo "$pkg"
  done
}

if command -v apt-get >/dev/null 2>&1; then
  mapfile -t missing < <(missing_system_packages)
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "Installing system libraries for Qt: ${missing[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "Creating virtual environment in .venv"
  "$PYTHON" -m venv .venv
fi
# torch is pinned in pyproject.toml; pip takes it from this machine's local wheels, never a newer one.
.venv/bin/python -m pip install -q --upgrade pip setuptools wheel
# gui: the desktop app (PySide6, pyqtgraph; `pip install .` alone is the engine without Qt); test: the suite.
.venv/bin/python -m pip install -q -e ".[gui,test]"
touch .venv/.installed
echo "Set-up complete: .venv is ready."
