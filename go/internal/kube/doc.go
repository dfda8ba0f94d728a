// Package kube finds Erlang nodes in Kubernetes pods and says how they are
// reached from here: read-only access to the API server of the current
// kubeconfig context, a watch of the pods of the namespaces asked about,
// and port-forwards through the API server for pods whose addresses this
// host does not route.
//
// It is the helper's second backend: a host that no running Docker
// container answers to is looked up here (cmd/epmd-docker wires the order).
// Nothing here runs before the first such lookup: a helper that only ever
// answers for containers never reads a kubeconfig.
//
// A host names a pod in one of these forms (matching, names.go):
//
//	POD or HOSTNAME            a running pod of the context's namespace
//	                           by its name or spec.hostname (a StatefulSet
//	                           pod: web-0)
//	POD.NAMESPACE              a running pod of another namespace
//	H.SVC.NAMESPACE.svc.DOMAIN the pod's DNS name under its headless
//	                           service (spec.hostname H, spec.subdomain SVC),
//	                           as -name nodes call themselves
//
// A pod is reached at its own address (its epmd there is asked for the
// node's port), or through a port-forward to the node's distribution port,
// answered as {ok, {127,0,0,1}, LocalPort} (reach.go, forward.go). The
// distribution port is the container port named DistPortName, else what
// the pod's epmd says through a forward of port 4369.
package kube
