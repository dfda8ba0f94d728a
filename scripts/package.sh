#!/bin/sh
# make package: lays out the files a hex package of epmd_docker holds in DIR
# (the Makefile passes _build/package/epmd_docker-VSN) and packs them into
# DIR.tar.gz, reproducibly (sorted names, fixed times and owners).
#
#   src/                 the Erlang sources and the .app.src, with hex's
#                        files list; hex wants them at the top, not in erlang/
#   priv/OS-ARCH/        the prebuilt helpers (make dist), priv/SHA256SUMS
#   rebar.config         the repository's, for an application at the top
#   scripts/ensure-helper.sh   its pre-compile hook
#   Makefile go.mod go.sum go/   to build a helper with Go on a system
#                        without a prebuilt one (no tests, no test helpers)
#   README.md LICENSE
set -eu
dir=$1
vsn=$2
cd "$(dirname "$0")/.."

for sys in linux-amd64 linux-arm64 darwin-amd64 darwin-arm64; do
  [ -x "priv/$sys/epmd-docker" ] || { echo "package: priv/$sys/epmd-docker is missing; run make dist" >&2; exit 1; }
done

rm -rf "$dir" "$dir.tar.gz"
mkdir -p "$dir/src" "$dir/scripts"
cp erlang/src/*.erl erlang/src/*.hrl "$dir/src/"
# The files hex's publish takes, in the package's own layout; the
# repository's build ignores the key.
sed 's|^  {licenses,|  {files, ["src", "priv", "scripts", "go", "go.mod", "go.sum", "Makefile",\
           "rebar.config", "README.md", "LICENSE"]},\
  {licenses,|' erlang/src/epmd_docker.app.src >"$dir/src/epmd_docker.app.src"
grep -q '{files,' "$dir/src/epmd_docker.app.src" || { echo "package: no {licenses, ...} line in the .app.src to put the files list before" >&2; exit 1; }
mkdir -p "$dir/priv"
for sys in linux-amd64 linux-arm64 darwin-amd64 darwin-arm64; do
  mkdir -p "$dir/priv/$sys"
  cp "priv/$sys/epmd-docker" "$dir/priv/$sys/"
done
cp priv/SHA256SUMS "$dir/priv/"
# The application is the package's top directory: drop what places it in
# erlang/ here (project_app_dirs, src_dirs) and the hook's path is as it is.
{
  echo "%% The rebar.config of the epmd_docker package, written by make package"
  echo "%% from the repository's; the application is this directory."
  sed -e '1,/^{minimum_otp_vsn/{/^%%/d;}' -e '/^{project_app_dirs,/d' -e '/^{src_dirs,/d' rebar.config
} >"$dir/rebar.config"
cp scripts/ensure-helper.sh "$dir/scripts/"
cp Makefile go.mod go.sum README.md LICENSE "$dir/"
find go -name '*.go' ! -name '*_test.go' ! -path 'go/internal/dockertest/*' | while read -r f; do
  mkdir -p "$dir/$(dirname "$f")"
  cp "$f" "$dir/$f"
done

base=$(basename "$dir")
tar -C "$(dirname "$dir")" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
    -cf - "$base" | gzip -n -9 >"$dir.tar.gz"
echo "package: $dir and $dir.tar.gz ($(du -k "$dir.tar.gz" | cut -f1) KiB)"
