#!/bin/sh
# Runs after `npm ci` / `npm install` in this checkout (npm's prepare hook).
# 1. npm links the bins of dependencies, not the root package's own: link ours so that
#    node_modules/.bin/bpfready works like any installed CLI.
# 2. Build native-shim with the system C compiler (it is what the tests and operators use to run a
#    command in a user + mount namespace with a delegated bpffs, or with dropped capabilities).
set -e
cd "$(dirname "$0")/.."
mkdir -p node_modules/.bin
ln -sf ../../bin/bpfready node_modules/.bin/bpfready
if [ -f native-shim/Makefile ]; then
  if command -v cc >/dev/null 2>&1; then
    make -s -C native-shim
  else
    echo "prepare: no C compiler (cc); native-shim not built: token and capability-drop tests need it" >&2
  fi
fi
