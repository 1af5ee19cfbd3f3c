#!/usr/bin/env bash
# Builds the bpfready image from the Dockerfile with Debian's podman and runc (no Docker daemon), on
# the locally made stand-in base (scripts/image/base.sh), and prints its name:
# localhost/bpfready:<hash of the inputs>. The hash covers the Dockerfile, .dockerignore, the base
# image and every file the Dockerfile copies from the context, so a second run with nothing changed
# builds nothing (about a second).
# podman's settings come from scripts/image/containers.conf (the machine's are left as they are).
#
#   scripts/image/build.sh            build if needed; print the image name on stdout
# Figures go to stderr: build time, and the size of the layers over the base.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CONTAINERS_CONF="$PWD/scripts/image/containers.conf"
for tool in podman runc mmdebstrap; do
  command -v "$tool" >/dev/null || { echo "build.sh: $tool is missing (apt-get install podman runc mmdebstrap; scripts/test-setup.sh does)" >&2; exit 3; }
done

t0=$(date +%s.%N)
base=$(bash scripts/image/base.sh)
base_id=$(podman image inspect --format '{{.Id}}' "$base")

# The context files the Dockerfile copies (COPY lines without --from), each hashed with its path.
mapfile -t sources < <(sed -n 's/^COPY \([^-].*\) [^ ]*$/\1/p' Dockerfile | tr ' ' '\n' | sed 's:/$::' | sort -u)
inputs=$({
  echo "base $base_id"
  sha256sum Dockerfile .dockerignore
  find "${sources[@]}" -type f ! -path 'native-shim/build/*' ! -path '*/node_modules/*' ! -name '*.test.ts' -print0 | sort -z | xargs -0 sha256sum
} | sha256sum | cut -c1-16)
image="localhost/bpfready:$inputs"

if ! podman image exists "$image"; then
  # npm inside the build stage goes through this machine's TLS proxy when it has one: its CA bundle
  # and an npmrc naming it are bound in for the RUN steps only, and are in no layer.
  binds=()
  ca=$(npm config get cafile 2>/dev/null || true)
  [ -n "$ca" ] && [ "$ca" != null ] && [ -f "$ca" ] || ca=${NODE_EXTRA_CA_CERTS:-}
  if [ -n "$ca" ] && [ -f "$ca" ]; then
    npmrc=$(mktemp /var/tmp/bpfready-npmrc.XXXXXX)
    trap 'rm -f "$npmrc"' EXIT
    printf 'cafile=/run/bpfready-build-ca.crt\naudit=false\nfund=false\nupdate-notifier=false\n' >"$npmrc"
    binds=(-v "$ca:/run/bpfready-build-ca.crt:ro" -v "$npmrc:/root/.npmrc:ro")
  fi
  # --layers=false: no intermediate images are kept in the machine's shared storage (the hash above
  # is the cache); a changed input rebuilds both stages (~45 s here).
  podman build --quiet --pull=never --layers=false \
    --label "io.bpfready.inputs=$inputs" --label "io.bpfready.checkout=$PWD" \
    "${binds[@]}" -f Dockerfile -t "$image" . >/dev/null
  # Earlier images of this checkout: removed, so shared storage does not fill up.
  for old in $(podman images --noheading --filter "label=io.bpfready.checkout=$PWD" --format '{{.Repository}}:{{.Tag}}'); do
    [ "$old" = "$image" ] || podman rmi --force "$old" >/dev/null 2>&1 || true
  done
  built=built
else
  built=cached
fi

t1=$(date +%s.%N)
size=$(podman image inspect --format '{{.Size}}' "$image")
base_size=$(podman image inspect --format '{{.Size}}' "$base")
awk -v t0="$t0" -v t1="$t1" -v s="$size" -v b="$base_size" -v w="$built" -v i="$image" 'BEGIN {
  printf "build.sh: %s %s in %.1f s; %.1f MB, of which %.1f MB over the base\n", i, w, t1 - t0, s / 1e6, (s - b) / 1e6 > "/dev/stderr" }'
echo "$image"
