package kube

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// cookieVars are the environment variables a release or erl takes its
// cookie from, in the order they are looked for.
var cookieVars = []string{"RELEASE_COOKIE", "ERLANG_COOKIE"}

// Cookie returns the cookie set in pod p's environment, RELEASE_COOKIE or
// ERLANG_COOKIE of any of its containers, as a value or from a Secret
// (valueFrom.secretKeyRef; the Secret is read, which needs RBAC's get on
// secrets), and a sentence for where it came from. found is false when no
// container sets either.
func (c *Cluster) Cookie(ctx context.Context, p *corev1.Pod) (cookie, source string, found bool, err error) {
	where := "pod " + p.Name + "." + p.Namespace
	for _, name := range cookieVars {
		for _, ct := range p.Spec.Containers {
			for _, e := range ct.Env {
				if e.Name != name {
					continue
				}
				if e.ValueFrom == nil {
					return e.Value, name + " in " + where, true, nil
				}
				ref := e.ValueFrom.SecretKeyRef
				if ref == nil {
					continue
				}
				s, err := c.api.GetSecret(ctx, p.Namespace, ref.Name)
				if err != nil {
					return "", "", true, fmt.Errorf("%s takes %s from Secret %s, which cannot be read: %w", where, name, ref.Name, err)
				}
				v, ok := s.Data[ref.Key]
				if !ok {
					return "", "", true, fmt.Errorf("%s takes %s from key %q of Secret %s, which has no such key", where, name, ref.Key, ref.Name)
				}
				return string(v), fmt.Sprintf("%s in %s, from Secret %s key %s", name, where, ref.Name, ref.Key), true, nil
			}
		}
	}
	return "", "", false, nil
}

// CommandLine returns the command and arguments of each container of p,
// one after another, where -setcookie may be found.
func CommandLine(p *corev1.Pod) []string {
	var out []string
	for _, ct := range p.Spec.Containers {
		out = append(out, ct.Command...)
		out = append(out, ct.Args...)
	}
	return out
}
