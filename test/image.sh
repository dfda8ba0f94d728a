#!/usr/bin/env bash
# Builds the local image the tests and the demo run Erlang nodes in. No
# registry can be reached, so the image is an almost empty root filesystem
# made by `docker import`; containers get the host's own /usr (and so its
# Erlang) through a read-only bind mount. Debian's /bin, /lib and /sbin are
# links into /usr, so the links are all the image needs.
set -euo pipefail

image=${EPMD_DOCKER_TEST_IMAGE:-epmd-docker-test:latest}
if docker image inspect "$image" >/dev/null 2>&1; then
  exit 0
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{usr,etc,tmp,proc,sys,dev,root,run,var/tmp}
ln -s usr/bin "$root/bin"
ln -s usr/lib "$root/lib"
ln -s usr/lib64 "$root/lib64"
ln -s usr/sbin "$root/sbin"
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"
chmod 1777 "$root/tmp" "$root/var/tmp"
tar -C "$root" -c . | docker import \
  -c 'ENV HOME=/root' \
  -c 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
  -c 'LABEL org.opencontainers.image.description="epmd_docker test image: run with -v /usr:/usr:ro"' \
  - "$image" >/dev/null
echo "setup: built $image" >&2
