#!/usr/bin/env bash
# Install Google Research Football (gfootball 2.10.2) into the current Python environment.
#
# gfootball ships as an sdist that compiles a C++ engine, which needs system libraries and a
# build that sees the already-installed build dependencies. Usage (inside the venv, or with
# PYTHON pointing at its interpreter):
#
#     bash docker/install-football.sh
#
# The built wheel is cached (default ~/.cache/rllib_maaal/wheels, override with WHEEL_DIR), so a
# second run only reinstalls it. Set WITH_XVFB=1 to also install xvfb for the engine's renderer.
set -euo pipefail

GFOOTBALL_VERSION="2.10.2"
PYTHON="${PYTHON:-$(command -v python || command -v python3)}"
# The engine's build calls `python3` from PATH (to import psutil): make it this interpreter.
export PATH="$(dirname "${PYTHON}"):${PATH}"
WHEEL_DIR="${WHEEL_DIR:-${HOME}/.cache/rllib_maaal/wheels}"
APT_PACKAGES=(
  cmake build-essential
  libsdl2-dev libsdl2-image-dev libsdl2-ttf-dev libsdl2-gfx-dev
  libboost-python-dev libboost-thread-dev libboost-system-dev libboost-filesystem-dev
  libgl1-mesa-dev libegl-dev
)
if [[ "${WITH_XVFB:-0}" == "1" ]]; then
  APT_PACKAGES+=(xvfb)
fi

log() { printf '[install-football] %s\n' "$*"; }

install_apt_packages() {
  local missing=()
  for package in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "${package}" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("${package}")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    log "Debian packages already installed"
    return
  fi
  local sudo=()
  if [[ "$(id -u)" -ne 0 ]]; then
    sudo=(sudo)
  fi
  log "installing Debian packages: ${missing[*]}"
  "${sudo[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends \
    "${missing[@]}"
}

install_gfootball() {
  if "${PYTHON}" -c "import importlib.metadata as m, sys; \
sys.exit(m.version('gfootball') != '${GFOOTBALL_VERSION}')" 2>/dev/null; then
    log "gfootball ${GFOOTBALL_VERSION} already installed in ${PYTHON}"
    return
  fi
  # Build dependencies first: the sdist imports psutil at build time and needs six at run time,
  # and gym 0.26 breaks the simple115v2 resets (0.22-0.25.2 work).
  "${PYTHON}" -m pip install -q psutil wheel setuptools six "gym==0.25.2"
  mkdir -p "${WHEEL_DIR}"
  if ! compgen -G "${WHEEL_DIR}/gfootball-${GFOOTBALL_VERSION}-*.whl" >/dev/null; then
    log "building the gfootball ${GFOOTBALL_VERSION} wheel (about 7 minutes on 2 cores)"
    "${PYTHON}" -m pip wheel --no-build-isolation --no-deps -w "${WHEEL_DIR}" \
      "gfootball==${GFOOTBALL_VERSION}"
  fi
  log "installing the cached wheel from ${WHEEL_DIR}"
  "${PYTHON}" -m pip install -q --no-build-isolation --find-links "${WHEEL_DIR}" \
    "gfootball==${GFOOTBALL_VERSION}"
}

install_apt_packages
install_gfootball
"${PYTHON}" - <<'PY'
import gfootball.env as football_env

env = football_env.create_environment(
    env_name="11_vs_11_stochastic",
    representation="raw",
    number_of_left_players_agent_controls=10,
)
env.reset()
for _ in range(5):
    env.step([0] * 10)
env.close()
print("[install-football] gfootball works: 5 steps of 11_vs_11_stochastic")
PY
