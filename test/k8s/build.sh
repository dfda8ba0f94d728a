#!/usr/bin/env bash
# Builds what the Kubernetes test cluster runs, once per machine, into
# $K (/var/cache/epmd-docker-k8s): kube-apiserver, kube-controller-manager,
# kube-scheduler, kubelet and kubectl of k8s.io/kubernetes $KV, and etcd from
# the same module graph, all from the Go module proxy (about 6 minutes on 2
# cores, 3 GB of Go build cache); a static pause binary; and two images as
# docker-archive tars (pause, and an empty root that runs the host's /usr).
# Installs Debian's containerd, runc and CNI plugins if missing.
# A second run finds $K/bin/.built-$KV and does nothing but the images.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"
export PATH=/usr/local/go/bin:$PATH GOFLAGS=-buildvcs=false

need=()
command -v containerd >/dev/null 2>&1 || need+=(containerd)
command -v runc >/dev/null 2>&1 || need+=(runc)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
if [ ${#need[@]} -gt 0 ]; then
  phase "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Wait for another apt (test/setup.sh) rather than fail on its lock.
  apt=(apt-get -o DPkg::Lock::Timeout=600)
  "${apt[@]}" update -qq
  # containerd's package would start a service where one can start; the
  # cluster runs its own instance, so nothing may start from the install.
  policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; policy=1
  fi
  "${apt[@]}" install -y -qq --no-install-recommends --no-upgrade "${need[@]}" >/dev/null
  [ -n "$policy" ] && rm -f /usr/sbin/policy-rc.d
fi

mkdir -p "$B" "$K/src"
if [ ! -e "$B/.built-$KV" ]; then
  t0=$(date +%s)
  phase "building Kubernetes $KV (about 6 minutes on 2 cores)"
  W=$K/src/kwrap
  mkdir -p "$W/cmd/etcd"
  # A wrapper module: it requires k8s.io/kubernetes and repeats its replace
  # lines for the staging modules (./staging/src/k8s.io/X => k8s.io/X $SV).
  go mod download -json "k8s.io/kubernetes@$KV" >/dev/null
  MOD=$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$KV.mod
  { echo "module epmd-docker-k8s/kwrap"; echo; echo "go 1.24.0"; echo; echo "godebug default=go1.24"; echo
    echo "require k8s.io/kubernetes $KV"; echo; echo "replace ("
    sed -n '/^replace (/,/^)/p' "$MOD" | grep '=> ./staging' | awk -v sv="$SV" '{print "\t"$1" => "$1" "sv}'
    echo ")"; } >"$W/go.mod"
  cat >"$W/tools.go" <<'GO'
//go:build tools

package kwrap

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
GO
  # etcd at the version k8s.io/kubernetes itself requires.
  cat >"$W/cmd/etcd/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (cd "$W" && go mod tidy)
  LD="-s -w -X k8s.io/component-base/version.gitVersion=$KV -X k8s.io/component-base/version.gitMajor=1"
  LD="$LD -X k8s.io/component-base/version.gitMinor=$(echo "$KV" | cut -d. -f2) -X k8s.io/component-base/version.gitTreeState=clean"
  LD="$LD -X k8s.io/client-go/pkg/version.gitVersion=$KV"
  (cd "$W" && CGO_ENABLED=0 go build -trimpath -ldflags "$LD" -o "$B/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kubectl ./cmd/etcd)
  touch "$B/.built-$KV"
  phase "built in $(($(date +%s) - t0)) s"
fi

# The pause image's process: sleeps until told to stop, reaps children.
if [ ! -x "$B/pause" ] || [ "$here/pause/main.go" -nt "$B/pause" ]; then
  (cd "$here/pause" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$B/pause" .)
fi

# mkimage REF ROOT OUT ENTRYPOINT: a one-layer docker-archive tar, which
# `ctr images import` loads; no registry is involved.
mkimage() {
  local ref=$1 root=$2 out=$3 ep=$4 w diff
  w=$(mktemp -d -p "$K")
  tar -C "$root" --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 -cf "$w/layer.tar" .
  diff=$(sha256sum "$w/layer.tar" | cut -d' ' -f1)
  printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":%s,"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}\n' "$ep" "$diff" >"$w/config.json"
  printf '[{"Config":"config.json","RepoTags":["%s"],"Layers":["layer.tar"]}]\n' "$ref" >"$w/manifest.json"
  tar -C "$w" -cf "$out.tmp" manifest.json config.json layer.tar
  mv "$out.tmp" "$out"
  rm -rf "$w"
}
I=$K/images
if [ ! -s "$I/pause.tar" ] || [ "$B/pause" -nt "$I/pause.tar" ]; then
  rm -rf "$I/pause-root"; mkdir -p "$I/pause-root"
  cp "$B/pause" "$I/pause-root/pause"
  mkimage epmd-docker-k8s.local/pause:1 "$I/pause-root" "$I/pause.tar" '["/pause"]'
fi
if [ ! -s "$I/hostusr.tar" ]; then
  H=$I/hostusr-root
  rm -rf "$H"; mkdir -p "$H"/{usr,tmp,etc,proc,sys,dev,root,run,var/tmp}
  chmod 1777 "$H/tmp" "$H/var/tmp"
  for d in bin sbin lib lib64; do ln -sfn "usr/$d" "$H/$d"; done   # Debian 12 is usr-merged
  echo 'root:x:0:0:root:/root:/bin/sh' >"$H/etc/passwd"; echo 'root:x:0:' >"$H/etc/group"
  mkimage epmd-docker-k8s.local/hostusr:1 "$H" "$I/hostusr.tar" null
fi
phase "build ready in $K"
