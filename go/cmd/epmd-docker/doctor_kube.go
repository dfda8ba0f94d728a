package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/epmd-docker/epmd_docker/go/internal/kube"
)

// kubeCheckNames are the doctor's Kubernetes checks, in order.
var kubeCheckNames = []string{"kubernetes context", "kubernetes api", "kubernetes access", "kubernetes reach"}

// kubeChecks are the doctor's checks of the Kubernetes backend: the
// context and namespace in use, whether the API server answers, the RBAC
// permissions the backend uses (SelfSubjectAccessReview), and how pods are
// reached. With no kubeconfig they are one check, "kubernetes", skipped.
func kubeChecks(ctx context.Context, log *slog.Logger) []check {
	skip := func(from int, why string) []check {
		var out []check
		for _, n := range kubeCheckNames[from:] {
			out = append(out, check{Name: n, Status: statusSkip, Detail: why})
		}
		return out
	}
	if len(kube.Kubeconfig()) == 0 {
		// One line: most users of Docker have no cluster.
		return []check{{Name: "kubernetes", Status: statusSkip, Detail: "no kubeconfig (KUBECONFIG, or ~/.kube/config): pods are not looked up"}}
	}
	cluster, err := newCluster(log)
	if err != nil {
		return append([]check{{Name: kubeCheckNames[0], Status: statusFail, Detail: err.Error(),
			Fix: "set " + kube.EnvReach + " to auto, direct or forward, " + kube.EnvIdle + " to a duration, or unset them"}}, skip(1, "bad setting")...)
	}
	defer cluster.Close()
	kc, err := cluster.Context()
	if err != nil {
		return append([]check{{Name: kubeCheckNames[0], Status: statusFail, Detail: err.Error(),
			Fix: "kubectl config view, and kubectl config use-context NAME"}}, skip(1, "no context")...)
	}
	out := []check{{Name: kubeCheckNames[0], Status: statusOK,
		Detail: fmt.Sprintf("context %s, namespace %s, API server %s (%s)", orDefault(kc.Name, "(none)"), kc.Namespace, kc.Server, strings.Join(kc.Files, ", "))}}
	dctx, cancel := context.WithTimeout(ctx, dockerTimeout)
	defer cancel()
	v, err := cluster.Server(dctx)
	if err != nil {
		return append(append(out, check{Name: kubeCheckNames[1], Status: statusFail, Detail: err.Error(),
			Fix: "kubectl version, with the same KUBECONFIG, should answer too"}), skip(2, "API server unreachable")...)
	}
	out = append(out, check{Name: kubeCheckNames[1], Status: statusOK, Detail: "answers: Kubernetes " + v})
	out = append(out, accessCheck(dctx, cluster, kc.Namespace))
	return append(out, kubeReachCheck(dctx, cluster))
}

// accessCheck is "kubernetes access": the RBAC permissions the backend
// uses, as the API server's SelfSubjectAccessReview answers for the
// kubeconfig's user.
func accessCheck(ctx context.Context, cluster *kube.Cluster, ns string) check {
	ch := check{Name: kubeCheckNames[2], Status: statusOK}
	as, err := cluster.Check(ctx)
	if err != nil {
		ch.Status, ch.Detail = statusWarn, "cannot tell: "+err.Error()
		return ch
	}
	var ok, missing []string
	for _, a := range as {
		switch {
		case a.Err != nil:
			missing = append(missing, a.String()+" (cannot tell: "+a.Err.Error()+")")
		case a.Allowed:
			ok = append(ok, a.String())
		default:
			missing = append(missing, a.String()+" (for "+a.For+")")
			if a.Resource == "pods" && a.Subresource == "" && a.Verb != "get" {
				ch.Status = statusFail
			} else if ch.Status == statusOK {
				ch.Status = statusWarn
			}
		}
	}
	ch.Detail = "in namespace " + ns + ": allowed " + strings.Join(ok, ", ")
	if len(missing) > 0 {
		ch.Detail += "; not allowed: " + strings.Join(missing, ", ")
		ch.Fix = "bind the Role of the README's Kubernetes section to this user in namespace " + ns + " (kubectl auth can-i --list -n " + ns + " shows what is allowed)"
	}
	return ch
}

// kubeReachCheck is "kubernetes reach": how pods are reached, as port
// mode decides it, for the first running pod.
func kubeReachCheck(ctx context.Context, cluster *kube.Cluster) check {
	ch := check{Name: kubeCheckNames[3], Status: statusOK}
	ps, err := cluster.Running(ctx)
	switch {
	case err != nil:
		ch.Status, ch.Detail = statusWarn, "cannot list pods: "+err.Error()
		return ch
	case len(ps) == 0:
		ch.Detail = "no running pods in the namespace; " + kube.EnvReach + "=" + string(cluster.Config.Reach)
		return ch
	}
	direct, why := cluster.Direct(ctx, ps[0])
	if direct {
		ch.Detail = fmt.Sprintf("pod addresses, and the epmd in each pod (%s; %s=forward to use port-forwards)", why, kube.EnvReach)
	} else {
		ch.Detail = fmt.Sprintf("port-forwards through the API server to each node's distribution port, the container port named %s or what the pod's epmd says (%s)", kube.DistPortName, why)
	}
	return ch
}
