# Shared by build.sh, cluster.sh and run.sh: where the test cluster's files
# live, its network, and the commands that talk to it. Sourced, not run.
#
# The build (binaries, images) is cached in $K and reused on the same machine;
# the running cluster's state (certificates, etcd, containerd, pods) is in
# $S, made new by every `cluster.sh up` and removed by `cluster.sh down`.
K=${EPMD_DOCKER_K8S_CACHE:-/var/cache/epmd-docker-k8s}
S=${EPMD_DOCKER_K8S_STATE:-/tmp/epmd-docker-k8s}
# Kubernetes v1.34.x: 1.35 and later refuse cgroup v1 by default, and this
# machine is cgroup v1 with Debian's containerd 1.6. client-go in go.mod is
# on the matching v0.34 line.
KV=v1.34.4
SV=v0.${KV#v1.}
# The cluster's own bridge and subnets: pods in 10.251.0.0/24 (the node is
# .1 on the bridge), services in 10.251.1.0/24 (never dialled: no kube-proxy).
BR=edk8s0
POD_SUBNET=10.251.0.0/24
SVC_SUBNET=10.251.1.0/24
NODE_IP=10.251.0.1
NODE=edk8s-node
B=$K/bin P=$S/pki E=$S/etc L=$S/logs R=$S/run D=$S/data
KUBECONFIG_ADMIN=$E/admin.kubeconfig
CTR="ctr -a $R/containerd.sock -n k8s.io"
KC="$B/kubectl --kubeconfig=$KUBECONFIG_ADMIN"
phase() { echo "k8s: $* ($(date +%T))" >&2; }
