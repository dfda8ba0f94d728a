package docker

import (
	"testing"

	"github.com/docker/docker/api/types/swarm"
)

func TestExpandHostname(t *testing.T) {
	task := swarm.Task{ID: "x1y2", Slot: 3}
	svc := swarm.Service{ID: "s9"}
	svc.Spec.Name = "web"
	node := swarm.Node{ID: "n7"}
	node.Description.Hostname = "worker2"
	for tmpl, want := range map[string]string{
		"":                                 "",
		"fixed":                            "fixed",
		"{{.Service.Name}}-{{.Task.Slot}}": "web-3",
		"{{.Node.Hostname}}-{{.Task.ID}}":  "worker2-x1y2",
		"{{.Task.Name}}":                   "web.3.x1y2",
		"{{.Nope}}":                        "{{.Nope}}",
		"{{":                               "{{",
	} {
		if got := expandHostname(tmpl, task, svc, node); got != want {
			t.Errorf("expandHostname(%q) = %q, want %q", tmpl, got, want)
		}
	}
}
