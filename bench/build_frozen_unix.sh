#!/bin/sh
# Builds a MicroPython unix-port binary with the button firmware frozen in
# (firmware/manifest.py), for the heap benches' frozen runs
# (docs/benchmarks.md, "Frozen image: cellular, GPS and TLS together").
# A by-hand step: CI does not run it.
#
#   bench/build_frozen_unix.sh <micropython source dir> [build dir name]
#   PLAIN=1 bench/build_frozen_unix.sh <micropython source dir> build-plain
#
# <micropython source dir>: a MicroPython checkout or export (no git needed),
# ideally of the release the venv's micropython reports
# (`.venv/bin/micropython -c "import sys; print(sys.version)"`). Git
# submodules are not fetched: TLS (the `tls` module, mbedTLS) is built when
# lib/mbedtls/library is there (export it from Mbed-TLS/mbedtls at the commit
# the source pins: `git ls-tree HEAD lib/mbedtls`; its library/ and include/
# are enough), and left out with a warning otherwise. btree (Berkeley DB) is
# always off and FFI uses the system's libffi: the firmware uses neither.
#
# The freeze manifest, written next to the build, holds `asyncio` from the
# source tree and firmware/manifest.py with port_manifest=False (the unix
# port's own variant manifest needs micropython-lib for mip and ssl, which
# the firmware does not use; MPY_LIB_DIR is an empty directory with the
# README.md the build checks for). Prints the binary's path at the end:
# pass it to bench/firmware_heap.py --frozen-binary, bench/cell_heap.py
# --frozen-binary or bench/tls_heap.py --frozen-binary. PLAIN=1 builds the
# same interpreter with only asyncio frozen (no firmware), for .mpy figures on
# the same source (bench/firmware_heap.py --binary): the venv's micropython
# is a build of another commit.
set -eu

if [ $# -lt 1 ] || [ ! -f "$1/py/mpconfig.h" ]; then
    echo "usage: $0 <micropython source dir> [build dir name, default build-panic]" >&2
    exit 2
fi
SRC=$(cd "$1" && pwd)
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${2:-build-panic}
UNIX=$SRC/ports/unix
INPUTS=$UNIX/$BUILD-inputs
JOBS=$(nproc 2>/dev/null || echo 2)

mkdir -p "$INPUTS/mpy-lib"
echo "empty: the frozen button needs nothing from micropython-lib" > "$INPUTS/mpy-lib/README.md"
echo 'include("$(MPY_DIR)/extmod/asyncio")' > "$INPUTS/manifest.py"
if [ "${PLAIN:-0}" = 0 ]; then
    echo "include(\"$REPO/firmware/manifest.py\", port_manifest=False)" >> "$INPUTS/manifest.py"
fi

SSL=1
if [ ! -d "$SRC/lib/mbedtls/library" ]; then
    echo "warning: $SRC/lib/mbedtls/library missing: building without TLS (MICROPY_PY_SSL=0)" >&2
    SSL=0
fi

make -C "$SRC/mpy-cross" -j"$JOBS"
make -C "$UNIX" -j"$JOBS" BUILD="$BUILD" FROZEN_MANIFEST="$INPUTS/manifest.py" MPY_LIB_DIR="$INPUTS/mpy-lib" \
    MICROPY_PY_BTREE=0 MICROPY_PY_SSL="$SSL"

BINARY=$UNIX/$BUILD/micropython
[ -x "$BINARY" ] || BINARY=$UNIX/micropython  # older Makefiles put it beside the Makefile
"$BINARY" -c "import sys; print(sys.version)"
if [ "${PLAIN:-0}" = 0 ]; then  # from /: no panic/ on the path but the frozen one
    (cd / && MICROPYPATH=.frozen "$BINARY" -c "import panic.app; print('frozen in:', panic.app.__file__)")
fi
echo "$BINARY"
