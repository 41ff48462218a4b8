#!/usr/bin/env bash
# Builds dockgate's container image where no container registry is reachable (CI, air-gapped
# machines): a stand-in for the Dockerfile's base image `node:24-bookworm-slim`, made from a
# Debian bookworm root filesystem (debootstrap --variant=minbase) plus Node 24 from the `node`
# npm package (node_modules/node, the repository's dev dependency) and npm from the registry,
# is `docker import`ed under that name, then the Dockerfile is built with the classic builder.
#
#   scripts/build-image.sh [TAG]          (default TAG: dockgate:latest)
#
# Environment:
#   DOCKER_HOST            the daemon to build on (the test daemon in CI)
#   DOCKGATE_IMAGE_CACHE   where the bootstrapped root filesystem and npm tarball are kept between
#                          runs (default ${XDG_CACHE_HOME:-$HOME/.cache}/dockgate-image); reused
#                          when present, so only the first run pays for debootstrap
#   DEBIAN_MIRROR          default http://deb.debian.org/debian
#   NPM_REGISTRY           passed to the build as --build-arg NPM_REGISTRY (default: none)
#   EXTRA_CA_FILE          a PEM bundle whose certificates npm must trust, for networks with a
#                          TLS-intercepting proxy (default: none); those Node.js does not already
#                          trust are passed as --build-arg EXTRA_CA_CERTS (a build argument is one
#                          argv string, at most 128 KiB: a whole system bundle does not fit)
#   BUILD_NETWORK          docker build --network (default: the daemon's; `host` where the daemon's
#                          containers have no route out, as with the test daemon)
# Needs root (debootstrap), debootstrap, tar, docker, and npm on PATH (for `npm pack npm@…`).
# A real registry makes this unnecessary: `docker build -t dockgate .`
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
tag="${1:-dockgate:latest}"
base_image="$(sed -n 's/^ARG NODE_IMAGE=//p' Dockerfile)"
[ -n "$base_image" ] || { echo "build-image: no ARG NODE_IMAGE= in the Dockerfile" >&2; exit 1; }
cache="${DOCKGATE_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dockgate-image}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
node_bin="node_modules/node/bin/node"
[ -x "$node_bin" ] || { echo "build-image: $node_bin is missing: run npm ci first" >&2; exit 1; }
node_version="$("$node_bin" --version)"
case "$node_version" in v24.*) ;; *) echo "build-image: $node_bin is $node_version, not Node 24" >&2; exit 1 ;; esac
mkdir -p "$cache"

step() { printf 'build-image: %s (%ss)\n' "$*" "$SECONDS"; }

# ---- Debian bookworm minbase, cached as a tarball --------------------------------------------
rootfs_tar="$cache/bookworm-minbase.tar"
if [ ! -s "$rootfs_tar" ]; then
  step "debootstrap --variant=minbase bookworm from $mirror"
  work="$(mktemp -d "$cache/rootfs.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  debootstrap --variant=minbase bookworm "$work" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
    { tail -n 20 "$cache/debootstrap.log" >&2; exit 1; }
  rm -rf "$work"/var/cache/apt/archives/*.deb "$work"/var/lib/apt/lists/*
  # Written aside and renamed: a concurrent run sees either no tarball or a complete one.
  part="$(mktemp "$rootfs_tar.XXXXXX")"
  tar -C "$work" --numeric-owner -cf "$part" .
  mv "$part" "$rootfs_tar"
  rm -rf "$work"
  trap - EXIT
else
  step "reusing $rootfs_tar"
fi

# ---- npm, the one the official image ships with Node 24 -----------------------------------------
npm_tgz="$(ls "$cache"/npm-11.*.tgz 2>/dev/null | sort -V | tail -n 1 || true)"
if [ -z "$npm_tgz" ]; then
  step "npm pack npm@11"
  (cd "$cache" && npm pack npm@11 --silent >/dev/null)
  npm_tgz="$(ls "$cache"/npm-11.*.tgz | sort -V | tail -n 1)"
fi

# ---- the stand-in base: rootfs + node + npm + the `node` user (uid/gid 1000, as upstream) -------
layer="$(mktemp -d)"
trap 'rm -rf "$layer"' EXIT
step "assembling $base_image (node $node_version, $(basename "$npm_tgz" .tgz))"
tar -C "$layer" -xf "$rootfs_tar"
install -m 0755 "$node_bin" "$layer/usr/local/bin/node"
mkdir -p "$layer/usr/local/lib/node_modules/npm"
tar -C "$layer/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner -xzf "$npm_tgz"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$layer/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$layer/usr/local/bin/npx"
echo 'node:x:1000:' >>"$layer/etc/group"
echo 'node:x:1000:1000::/home/node:/bin/bash' >>"$layer/etc/passwd"
echo 'node:*:19000:0:99999:7:::' >>"$layer/etc/shadow"
install -d -o 1000 -g 1000 "$layer/home/node"
step "docker import as $base_image"
tar -C "$layer" --numeric-owner -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV NODE_VERSION=${node_version#v}" \
  --change 'CMD ["node"]' \
  - "$base_image" >/dev/null
rm -rf "$layer"
trap - EXIT

# ---- the Dockerfile, classic builder ---------------------------------------------------------
args=()
[ -n "${NPM_REGISTRY:-}" ] && args+=(--build-arg "NPM_REGISTRY=$NPM_REGISTRY")
if [ -n "${EXTRA_CA_FILE:-}" ]; then
  extra_ca="$("$node_bin" -e '
    const norm = (s) => s.replace(/\s+/g, "");
    const known = new Set(require("node:tls").rootCertificates.map(norm));
    const pems = require("node:fs").readFileSync(process.argv[1], "utf8").match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
    process.stdout.write(pems.filter((p) => !known.has(norm(p))).join("\n"));
  ' "$EXTRA_CA_FILE")"
  if [ "${#extra_ca}" -gt 120000 ]; then
    echo "build-image: $EXTRA_CA_FILE has ${#extra_ca} bytes of certificates Node.js does not trust; a build argument holds at most 128 KiB: pass only the proxy's CA" >&2
    exit 1
  fi
  [ -n "$extra_ca" ] && args+=(--build-arg "EXTRA_CA_CERTS=$extra_ca")
fi
[ -n "${BUILD_NETWORK:-}" ] && args+=(--network "$BUILD_NETWORK")
step "docker build -t $tag (classic builder)"
DOCKER_BUILDKIT=0 docker build -q "${args[@]}" -t "$tag" . >/dev/null
step "built $tag"
