package kube

import (
	"context"
	"fmt"

	authv1 "k8s.io/api/authorization/v1"
)

// Permission is one RBAC permission the backend uses.
type Permission struct {
	Verb, Resource, Subresource string
	For                         string // what needs it, for people
}

// String is "get pods", "create pods/portforward".
func (p Permission) String() string {
	r := p.Resource
	if p.Subresource != "" {
		r += "/" + p.Subresource
	}
	return p.Verb + " " + r
}

// Permissions are those the backend uses, in the namespaces it looks in
// (the README's Role lists the same).
var Permissions = []Permission{
	{"get", "pods", "", "lookups in other namespaces"},
	{"list", "pods", "", "lookups"},
	{"watch", "pods", "", "lookups"},
	{"create", "pods", "portforward", "pods whose addresses are not routed here"},
	{"get", "secrets", "", "--cookie-from-container with a cookie in a Secret"},
}

// Access is one answer of Check.
type Access struct {
	Permission
	Allowed bool
	Reason  string // the authorizer's, when it gives one
	Err     error  // the review could not be made
}

// Server returns the API server's version, which tells it answers.
func (c *Cluster) Server(ctx context.Context) (string, error) {
	if err := c.start(); err != nil {
		return "", err
	}
	v, err := c.api.Version(ctx)
	if err != nil {
		return "", fmt.Errorf("%s does not answer: %w", c.kctx.Server, err)
	}
	return v, nil
}

// Check asks the API server, by SelfSubjectAccessReview, whether the
// kubeconfig's user has each of Permissions in the context's namespace.
func (c *Cluster) Check(ctx context.Context) ([]Access, error) {
	if err := c.start(); err != nil {
		return nil, err
	}
	out := make([]Access, len(Permissions))
	for i, p := range Permissions {
		out[i].Permission = p
		r, err := c.api.Review(ctx, &authv1.SelfSubjectAccessReview{
			Spec: authv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authv1.ResourceAttributes{
				Namespace: c.kctx.Namespace, Verb: p.Verb, Resource: p.Resource, Subresource: p.Subresource,
			}},
		})
		if err != nil {
			out[i].Err = err
			continue
		}
		out[i].Allowed, out[i].Reason = r.Status.Allowed, r.Status.Reason
	}
	return out, nil
}
