package discover

import (
	"strings"
	"testing"
)

func TestValidNode(t *testing.T) {
	for _, tc := range []struct {
		node string
		want bool
	}{
		{"app@web", true},
		{"rabbit@rabbit-1", true},
		{"my_app@3f2a9c1b7d4e", true},
		{"a.b-c_d@host.example", true},
		{"app", false},
		{"@web", false},
		{"app@", false},
		{"app@-web", false},
		{"\x1b[2J@web", false},
		{"app@web\x07", false},
		{"ap p@web", false},
		{"app@web@x", false},
		{"é@web", false},
		{strings.Repeat("a", 251) + "@web", true},
		{strings.Repeat("a", 252) + "@web", false},
	} {
		if got := ValidNode(tc.node); got != tc.want {
			t.Errorf("ValidNode(%q) = %v, want %v", tc.node, got, tc.want)
		}
	}
}
