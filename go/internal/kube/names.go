package kube

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Form is how a host named a pod, for people (resolve's "matched").
type Form string

// The forms of names.go's matching.
const (
	FormName      Form = "pod-name"
	FormHostname  Form = "pod-hostname"
	FormNamespace Form = "pod.namespace"
	FormDNS       Form = "pod-dns-name"
)

// query is a host taken apart: the namespace it is looked up in, the
// first label, and the headless service it names (FQDN form only).
type query struct {
	Namespace string
	Label     string
	Subdomain string // "" unless Form is FormDNS
	Form      Form   // FormName for a bare label (FormHostname if so matched)
}

// parse takes a host apart; ok is false for shapes that name no pod. The
// namespace of a bare label is def, the context's.
func parse(host, def string) (q query, ok bool) {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	labels := strings.Split(host, ".")
	if slices.Contains(labels, "") {
		return query{}, false
	}
	switch {
	case len(labels) == 1:
		return query{Namespace: def, Label: labels[0], Form: FormName}, true
	case len(labels) == 2:
		return query{Namespace: labels[1], Label: labels[0], Form: FormNamespace}, true
	case len(labels) >= 5 && labels[3] == "svc":
		// H.SVC.NAMESPACE.svc.cluster.local, whatever the cluster domain.
		return query{Namespace: labels[2], Label: labels[0], Subdomain: labels[1], Form: FormDNS}, true
	}
	return query{}, false
}

// hostnameOf is what a node in the pod calls its host by default: its
// spec.hostname, else its name (as the kubelet sets it).
func hostnameOf(p *corev1.Pod) string {
	if p.Spec.Hostname != "" {
		return p.Spec.Hostname
	}
	return p.Name
}

// matches tells whether pod p answers to q, and by which form.
func (q query) matches(p *corev1.Pod) (Form, bool) {
	if p.Namespace != q.Namespace {
		return "", false
	}
	if q.Form == FormDNS {
		return FormDNS, p.Spec.Subdomain == q.Subdomain && hostnameOf(p) == q.Label
	}
	switch {
	case p.Name == q.Label:
		return q.Form, true
	case p.Spec.Hostname == q.Label && q.Form == FormName:
		return FormHostname, true
	case p.Spec.Hostname == q.Label:
		return q.Form, true
	}
	return "", false
}

// running tells whether p counts: running, with an address, not being
// deleted.
func running(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" && p.DeletionTimestamp == nil
}

// match returns the running pods among ps that answer to q, sorted by
// name, and the form each matched by.
func match(q query, ps []*corev1.Pod) ([]*corev1.Pod, []Form) {
	var out []*corev1.Pod
	for _, p := range ps {
		if _, ok := q.matches(p); ok && running(p) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	forms := make([]Form, len(out))
	for i, p := range out {
		forms[i], _ = q.matches(p)
	}
	return out, forms
}

// candidate names a pod for a person choosing among several.
func candidate(p *corev1.Pod) string {
	return p.Name + "." + p.Namespace + " (pod)"
}
