#!/usr/bin/env bash
# Starts and stops the single-node Kubernetes test cluster that build.sh
# built: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, a
# containerd instance of its own (own config, root, state and socket: never
# the one dockerd runs) and a kubelet, with pods on the bridge $BR in
# $POD_SUBNET.
#
#   cluster.sh up     new state in $S, start everything, wait for the node
#   cluster.sh down   stop exactly what `up` started, by pid, and remove
#                     the bridge, mounts, cgroups and state it made
#
# The host's iptables are left as they were (the kubelet runs with
# makeIPTablesUtilChains: false; there is no kube-proxy) and dockerd is not
# touched. Quirks of this kind of machine, each handled below, are in
# /work/shared/k8s/NOTES.md: cgroup v1 without systemd (cgroupfs driver,
# the cgroup root made first), root without CAP_SYS_RESOURCE (containerd's
# restrict_oom_score_adj), the kubelet reached at its InternalIP.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"

configs() {
  mkdir -p "$E/cni" "$P" "$L" "$R" "$D"
  cat >"$E/containerd.toml" <<TOML
version = 2
root = "$D/containerd"
state = "$R/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$R/containerd.sock"
[ttrpc]
  address = "$R/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$D/containerd-opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "epmd-docker-k8s.local/pause:1"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  # Root here lacks CAP_SYS_RESOURCE: without this, runc fails on
  # oom_score_adj ("can't get final child's PID from pipe: EOF").
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "/usr/sbin/runc"
        Root = "$R/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$E/cni"
    max_conf_num = 1
TOML
  cat >"$E/cni/10-edk8s.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "edk8s",
  "plugins": [
    {"type": "bridge", "bridge": "$BR", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$D/cni-ipam",
              "ranges": [[{"subnet": "$POD_SUBNET", "rangeStart": "${NODE_IP%.*}.10", "gateway": "$NODE_IP"}]],
              "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "loopback"}
  ]
}
JSON
  cat >"$E/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
containerRuntimeEndpoint: unix://$R/containerd.sock
cgroupDriver: cgroupfs
cgroupRoot: /edk8s
cgroupsPerQOS: true
failSwapOn: false
failCgroupV1: false
podLogsDir: $D/pod-logs
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $P/ca.crt}
authorization: {mode: AlwaysAllow}
tlsCertFile: $P/apiserver.crt
tlsPrivateKeyFile: $P/apiserver.key
resolvConf: /etc/resolv.conf
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
serializeImagePulls: false
maxPods: 30
# The kubelet must not touch the host's iptables.
makeIPTablesUtilChains: false
YAML
}

# certs: a CA, the API server's serving certificate (the kubelet's too),
# client certificates, the service-account key pair, and kubeconfigs.
certs() {
  (
    cd "$P"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj "/CN=edk8s-ca" 2>/dev/null
    sign() {
      openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
      if [ -n "${3:-}" ]; then printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$3" >"$1.ext"
      else printf 'extendedKeyUsage=clientAuth\n' >"$1.ext"; fi
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days 3650 -extfile "$1.ext" 2>/dev/null
      rm -f "$1.csr" "$1.ext"
    }
    sign apiserver "/CN=kube-apiserver" "IP:127.0.0.1,IP:${SVC_SUBNET%.*}.1,IP:$NODE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
    sign admin "/O=system:masters/CN=edk8s-admin"
    sign kubelet "/O=system:nodes/CN=system:node:$NODE"
    sign apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  )
  local u
  for u in admin kubelet; do
    cat >"$E/$u.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: edk8s
  cluster: {server: "https://127.0.0.1:6443", certificate-authority: $P/ca.crt}
users:
- name: $u
  user: {client-certificate: $P/$u.crt, client-key: $P/$u.key}
contexts:
- name: edk8s
  context: {cluster: edk8s, user: $u, namespace: default}
current-context: edk8s
KC
  done
}

bg() { local n=$1; shift; setsid nohup "$@" >"$L/$n.log" 2>&1 </dev/null & echo $! >"$R/$n.pid"; }
waitfor() { # what seconds command...
  local what=$1 t=$2 i; shift 2
  for ((i = 0; i < t * 2; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "k8s: $what not ready after ${t}s; its log is in $L" >&2
  return 1
}

up() {
  [ -x "$B/kubelet" ] || { echo "k8s: nothing built in $B; run test/k8s/build.sh first" >&2; exit 1; }
  if [ -f "$R/kube-apiserver.pid" ] && kill -0 "$(cat "$R/kube-apiserver.pid")" 2>/dev/null; then
    echo "k8s: a cluster is already running from $S; run cluster.sh down first" >&2; exit 1
  fi
  local t0; t0=$(date +%s)
  rm -rf "$S"; configs; certs
  # The node's address on the cluster's own bridge: the API server reaches
  # the kubelet there, and the host reaches pods there.
  ip link show "$BR" >/dev/null 2>&1 || { ip link add "$BR" type bridge; ip addr add "$NODE_IP/24" dev "$BR"; }
  ip link set "$BR" up
  # The kubelet's cgroup root (cgroup v1, cgroupfs driver) must exist in
  # every hierarchy, with cpuset values copied in.
  local s
  for s in /sys/fs/cgroup/*/; do [ "$s" = /sys/fs/cgroup/unified/ ] || mkdir -p "${s}edk8s"; done
  if [ -d /sys/fs/cgroup/cpuset/edk8s ]; then
    cat /sys/fs/cgroup/cpuset/cpuset.cpus >/sys/fs/cgroup/cpuset/edk8s/cpuset.cpus
    cat /sys/fs/cgroup/cpuset/cpuset.mems >/sys/fs/cgroup/cpuset/edk8s/cpuset.mems
  fi
  # The kubelet uses these two paths whatever its root dir: remember which
  # of them this run made.
  [ -e /var/log/containers ] || touch "$R/made-var-log-containers"
  [ -e /var/lib/kubelet ] || touch "$R/made-var-lib-kubelet"
  bg etcd "$B/etcd" --name edk8s --data-dir "$D/etcd" \
    --listen-client-urls http://127.0.0.1:23790 --advertise-client-urls http://127.0.0.1:23790 \
    --listen-peer-urls http://127.0.0.1:23800 --initial-advertise-peer-urls http://127.0.0.1:23800 \
    --initial-cluster edk8s=http://127.0.0.1:23800 --unsafe-no-fsync
  waitfor etcd 30 curl -sf http://127.0.0.1:23790/health
  bg kube-apiserver "$B/kube-apiserver" --etcd-servers=http://127.0.0.1:23790 \
    --bind-address=127.0.0.1 --secure-port=6443 --advertise-address="$NODE_IP" \
    --tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" --client-ca-file="$P/ca.crt" \
    --service-account-issuer=https://kubernetes.default.svc --service-account-key-file="$P/sa.pub" \
    --service-account-signing-key-file="$P/sa.key" --service-cluster-ip-range="$SVC_SUBNET" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --kubelet-client-certificate="$P/apiserver-kubelet-client.crt" --kubelet-client-key="$P/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types=InternalIP --cert-dir="$D/apiserver"
  waitfor kube-apiserver 120 $KC get --raw /readyz
  bg kube-controller-manager "$B/kube-controller-manager" --kubeconfig="$E/admin.kubeconfig" \
    --authentication-kubeconfig="$E/admin.kubeconfig" --authorization-kubeconfig="$E/admin.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=10357 --leader-elect=false --cert-dir="$D/kcm" \
    --service-account-private-key-file="$P/sa.key" --root-ca-file="$P/ca.crt" --use-service-account-credentials=false \
    --cluster-signing-cert-file="$P/ca.crt" --cluster-signing-key-file="$P/ca.key"
  bg kube-scheduler "$B/kube-scheduler" --kubeconfig="$E/admin.kubeconfig" \
    --authentication-kubeconfig="$E/admin.kubeconfig" --authorization-kubeconfig="$E/admin.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=10359 --leader-elect=false
  bg containerd containerd --config "$E/containerd.toml" --log-level info
  waitfor containerd 30 $CTR version
  $CTR images import "$K/images/pause.tar" >/dev/null
  $CTR images import "$K/images/hostusr.tar" >/dev/null
  bg kubelet "$B/kubelet" --config="$E/kubelet.yaml" --kubeconfig="$E/kubelet.kubeconfig" \
    --root-dir="$D/kubelet" --hostname-override="$NODE" --node-ip="$NODE_IP" --v=1
  waitfor "the default service account" 90 $KC get serviceaccount default
  waitfor "node $NODE" 120 $KC wait --for=condition=Ready "node/$NODE" --timeout=2s
  phase "cluster up in $(($(date +%s) - t0)) s; KUBECONFIG=$KUBECONFIG_ADMIN"
}

# stop NAME: SIGTERM the recorded pid, wait up to 30 s (the API server
# drains for about 15 s), then SIGKILL.
stop() {
  local pid i
  [ -f "$R/$1.pid" ] || return 0
  pid=$(cat "$R/$1.pid")
  kill "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 60; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
  echo "k8s: $1 ($pid) ignored SIGTERM for 30 s: killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
}

down() {
  [ -d "$R" ] || return 0
  # Pods first, so that their sandboxes, network namespaces and CNI
  # addresses are torn down by the kubelet.
  if [ -f "$R/kubelet.pid" ] && kill -0 "$(cat "$R/kubelet.pid")" 2>/dev/null; then
    $KC delete pod --all --all-namespaces --grace-period=1 --wait=true --timeout=60s >/dev/null 2>&1 || true
  fi
  local n t
  for n in kubelet kube-scheduler kube-controller-manager kube-apiserver etcd; do stop "$n"; done
  if [ -f "$R/containerd.pid" ] && kill -0 "$(cat "$R/containerd.pid")" 2>/dev/null; then
    for t in $($CTR tasks ls -q 2>/dev/null); do $CTR tasks kill -s KILL "$t" 2>/dev/null || true; done
    sleep 1
    for t in $($CTR tasks ls -q 2>/dev/null); do $CTR tasks delete -f "$t" 2>/dev/null || true; done
  fi
  stop containerd
  { grep -o " $S/[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  ip link del "$BR" 2>/dev/null || true
  local s
  for s in /sys/fs/cgroup/*/edk8s; do [ -d "$s" ] && find "$s" -depth -type d -exec rmdir {} \; 2>/dev/null || true; done
  find /var/log/containers -maxdepth 1 -lname "$S/*" -delete 2>/dev/null || true
  [ -f "$R/made-var-log-containers" ] && rmdir /var/log/containers 2>/dev/null || true
  [ -f "$R/made-var-lib-kubelet" ] && rm -rf /var/lib/kubelet || true
  # Keep the logs of the last run for a failure's post-mortem.
  rm -rf "$S.last-logs"; mv "$L" "$S.last-logs" 2>/dev/null || true
  rm -rf "$S"
  phase "cluster down (logs of this run: $S.last-logs)"
}

case "${1:-}" in
up) up ;;
down) down ;;
*) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
