#!/usr/bin/env bash
# The one entry point for people and CI on Debian/Ubuntu:
#   ./run.sh demo   run the system end to end (broker, gateway, simulated button, dispatch)
#   ./run.sh test   run the whole test suite (extra arguments go to pytest)
# It installs what is missing: Debian packages (mosquitto, nats-server, python3-venv; for the tests
# also chromium, in which the operator console is tested headless) when it
# may (root or password-less sudo), otherwise it says what to install; and the
# project's virtual environment in .venv from pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")"

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo "$@"
  else return 1
  fi
}

need_debian_packages() {
  local missing=() pkg
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "run.sh: installing Debian packages: ${missing[*]}" >&2
  if ! { as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive \
           apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
    echo "run.sh: cannot install ${missing[*]} (needs root or sudo). Please run:" >&2
    echo "    sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
}

ensure_system() {
  command -v python3 >/dev/null || { echo "run.sh: python3 (3.11 or newer) is required" >&2; exit 1; }
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
    echo "run.sh: Python 3.11 or newer is required; found $(python3 --version)" >&2; exit 1; }
  local pkgs=()
  command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || pkgs+=(mosquitto)
  # the clustered broker option (broker/nats.py) and its tests
  command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || pkgs+=(nats-server)
  python3 -c 'import ensurepip, venv' 2>/dev/null || pkgs+=("python3-venv")
  # The console's browser test drives Debian's chromium through Playwright (no browser download).
  if [ "${1:-}" = test ]; then [ -x /usr/bin/chromium ] || pkgs+=(chromium); fi
  [ ${#pkgs[@]} -eq 0 ] || need_debian_packages "${pkgs[@]}"
}

ensure_venv() {
  local stamp=.venv/.installed want
  want=$(sha256sum pyproject.toml | cut -d' ' -f1)
  [ -x .venv/bin/python ] || python3 -m venv .venv
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "run.sh: installing the project into .venv (first run takes a minute)" >&2
    .venv/bin/python -m pip install -q --upgrade pip
    # hatchling's editable install puts the repository root on sys.path (one .pth
    # line), so a new package or module needs no reinstall
    .venv/bin/python -m pip install -q -e '.[dev]'
    echo "$want" > "$stamp"
  fi
}

case "${1:-}" in
  demo)
    shift; ensure_system; ensure_venv
    exec .venv/bin/panic-demo "$@" ;;
  test)
    shift; ensure_system test; ensure_venv
    # Three workers on two cores: most tests wait on brokers, gateways and simulated buttons rather than
    # compute, so the suite runs in well under half the time (docs/benchmarks.md, "The test suite").
    # A test file runs whole on one worker (its module fixtures stay shared). PANIC_TEST_WORKERS=0: one process.
    exec .venv/bin/python -m pytest -n "${PANIC_TEST_WORKERS:-3}" --dist loadfile "$@" ;;
  *)
    echo "usage: ./run.sh demo | ./run.sh test [pytest args]" >&2; exit 2 ;;
esac
