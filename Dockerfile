# syntax=docker/dockerfile:1
# bpfready image: the TypeScript sources run as they are (Node >= 23.6 strips types; no build step,
# docs/adr/0001-node-runtime.md), their npm dependencies bundled (docs/adr/0005-image-dependencies.md),
# plus the native-shim helper compiled here. Two stages: compilers, npm and the network stay in `build`.
#
# Base image: the Node release the project pins as its devDependency (package.json "node"), so the
# image runs exactly the runtime the tests ran on, on Debian trixie slim. Pinned by exact version
# tag, not by digest: this repository is built where no Docker engine or registry is reachable, so
# no digest could be read and checked (there, scripts/image/base.sh makes a stand-in of this name).
# Pin it at release time with
#   docker buildx imagetools inspect node:26.10.0-trixie-slim   (the "Digest:" line)
# and replace the ARG below with node:26.10.0-trixie-slim@sha256:<digest> (docs/deploy.md).
ARG NODE_IMAGE=node:26.10.0-trixie-slim

FROM ${NODE_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev linux-libc-dev make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=dev: the pinned Node devDependency, TypeScript, vitest and playwright stay out; the image's
# own node is the runtime (bin/bpfready falls back to `node` on PATH). --ignore-scripts: our prepare
# hook is for checkouts; koffi's native module comes prebuilt in its platform package.
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
# esbuild, pinned by its own lockfile, for the dependency bundles below; it never reaches the image.
COPY scripts/image/package.json scripts/image/package-lock.json scripts/image/
RUN npm ci --prefix scripts/image --ignore-scripts && npm cache clean --force
COPY native-shim/ native-shim/
RUN make -s -C native-shim clean all
COPY bin/ bin/
COPY src/ src/
# node_modules becomes one bundle per package src/ imports, with only what it imports: ~93 MB of
# installed packages become ~11 MB (docs/deploy.md).
COPY scripts/image/bundle-deps.ts scripts/image/
RUN node scripts/image/bundle-deps.ts /app
COPY scripts/warm-compile-cache.ts scripts/
# Node's compile cache for both sets of node flags bin/bpfready uses, made here: without it every new pod strips the
# TypeScript at start-up and keeps the type stripper in memory (~20–40 MiB more RSS; docs/daemon.md).
# The cache is keyed by Node version, V8 flags, path and content, all the same in the final stage;
# read-only there, which Node accepts silently.
RUN NODE_COMPILE_CACHE=/app/.compile-cache bin/bpfready warm-compile-cache

FROM ${NODE_IMAGE}
# unshare (util-linux) and mount: the tracefs/securityfs fallback reads them in a private mount
# namespace (src/attach/env.ts). Debian's base set has both; checked, not installed, so that this
# stage needs no network and a slimmer base fails here rather than in a pod.
RUN for tool in unshare mount; do command -v "$tool" >/dev/null || { echo "base image lacks $tool" >&2; exit 1; }; done
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules/ node_modules/
COPY --from=build /app/bin/ bin/
COPY --from=build /app/src/ src/
COPY --from=build /app/.compile-cache/ .compile-cache/
COPY --from=build /app/native-shim/build/bpfready-shim native-shim/build/bpfready-shim
# uid 0, deliberately: the probes need CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN, CAP_SYS_ADMIN and
# CAP_SYS_PTRACE, and Kubernetes can only give capabilities to a non-root uid as ambient ones, which
# it has no field for. The chart drops every other capability and mounts the root filesystem and the
# host paths read-only; with these capabilities the pod is nonetheless host root (docs/deploy.md).
USER 0:0
ENV NODE_ENV=production NODE_COMPILE_CACHE=/app/.compile-cache
EXPOSE 9842
ENTRYPOINT ["/app/bin/bpfready"]
CMD ["daemon"]
