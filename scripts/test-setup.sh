#!/bin/sh
# Runs first in `npm test` (and in .ci/run with --kernels): gives a fresh Debian machine what the
# tests need, so that the README's `npm ci && npm test` works there as it is.
#   - Debian packages: a C compiler for native-shim, bpftool (cross-checks), clang/llvm/libbpf-dev
#     (eBPF ELF fixtures), capsh (capability drops), chromium (the status page test), podman, runc,
#     slirp4netns and mmdebstrap (the image, built and run as the chart runs it: test/container/); with
#     --kernels also qemu, busybox and cpio for Debian's 6.1 kernels under qemu (npm run test:kernels).
#     Installed with apt when missing and we are root; already present: nothing is done, no network.
#   - native-shim, built if `npm ci` ran before the compiler was there.
# Not root, or no apt: it says what is missing and goes on; the tests that need it say so too.
set -e
cd "$(dirname "$0")/.."
pkgs="gcc make bpftool clang llvm libbpf-dev chromium libcap2-bin podman runc slirp4netns mmdebstrap"
[ "${1:-}" = --kernels ] && pkgs="$pkgs qemu-system-x86 busybox-static cpio"
missing=""
if command -v dpkg-query >/dev/null 2>&1; then
  for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
  done
fi
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test-setup: installing Debian packages:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq $missing >/dev/null
  else
    echo "test-setup: missing Debian packages:$missing (install them as root, or run as root); the tests that need them will say so" >&2
  fi
fi
if [ -f native-shim/Makefile ] && command -v cc >/dev/null 2>&1; then make -s -C native-shim; fi
