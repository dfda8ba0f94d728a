package e2e

// An address taken over by another container: no lookup may give the old
// container's address for the new one's name, or the other way round.

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// A stopped container's address goes to another container. The old name
// must never resolve to the newcomer, even though the first answer was
// cached for ten minutes; the newcomer resolves to its address.
func TestFaultAddressReuse(t *testing.T) {
	network := "e2e-reuse-" + randHex(3)
	testNetwork(t, network)
	nameA, nameB := "reuse-a-"+randHex(3), "reuse-b-"+randHex(3)
	idA := runSleeper(t, "--name", nameA, "--network", network)
	hostA := docker(t, "inspect", "-f", "{{.Config.Hostname}}", idA)
	ipA := strings.TrimSpace(containerIP(t, idA))

	a := startAdmin(t, []string{"EPMD_DOCKER_TTL=10m"})
	if got := a.Eval(fmt.Sprintf(`epmd_docker:resolve("%s")`, nameA), 10*time.Second); got != "{ok,"+erlIP(ipA)+"}" {
		t.Fatalf("resolve(%s) = %s, want {ok,%s}", nameA, got, erlIP(ipA))
	}
	// Ask for A without pause, by name and by hostname, while A stops
	// and B starts; every answer is kept, in order.
	a.Eval(oneLine(fmt.Sprintf(`register(fault_asker, spawn(fun() ->
		Ask = fun L(Acc) ->
			R = {epmd_docker:resolve("%s"), epmd_docker:resolve("%s")},
			receive {mark, P} -> P ! marked, L([mark, R | Acc]);
				{stop, P} -> P ! {answers, lists:reverse([R | Acc])}
			after 10 -> L([R | Acc]) end
		end,
		Ask([])
	end))`, nameA, hostA)), 5*time.Second)
	docker(t, "stop", "-t", "1", idA)
	idB := runSleeper(t, "--name", nameB, "--network", network)
	ipB := strings.TrimSpace(containerIP(t, idB))
	if ipB != ipA {
		t.Fatalf("test setup: B has %s, want A's former address %s", ipB, ipA)
	}
	if got := a.Eval("fault_asker ! {mark, self()}, receive marked -> ok after 5000 -> timeout end", 10*time.Second); got != "ok" {
		t.Fatalf("asker: %s", got)
	}
	time.Sleep(time.Second)
	answers := a.Eval("fault_asker ! {stop, self()}, receive {answers, A} -> A after 5000 -> timeout end", 10*time.Second)

	// Once A was seen gone, it never comes back; after B is up, every
	// answer for A is an error.
	old := "{ok," + erlIP(ipA) + "}"
	items := splitTop(strings.TrimSuffix(strings.TrimPrefix(answers, "["), "]"))
	seenGone, afterMark, n := false, false, 0
	for _, it := range items {
		if it == "mark" {
			afterMark = true
			continue
		}
		n++
		pair := splitTop(strings.TrimSuffix(strings.TrimPrefix(it, "{"), "}"))
		for _, r := range pair {
			switch {
			case r == old && (seenGone || afterMark):
				t.Fatalf("A resolved to its former address %s after it was gone (B holds it now); answers: %s", ipA, answers)
			case r == old:
			case r == "{error,not_found}":
				seenGone = true
			default:
				t.Errorf("resolving A: got %s, want %s or {error,not_found}", r, old)
			}
		}
	}
	if !afterMark || n < 10 {
		t.Fatalf("test setup: too few answers (%d): %s", n, answers)
	}
	t.Logf("%d rounds of lookups for A while it stopped and B took %s", n, ipA)

	if got := a.Eval(fmt.Sprintf(`epmd_docker:resolve("%s")`, nameB), 10*time.Second); got != old {
		t.Errorf("resolve(B) = %s, want %s", got, old)
	}
	for _, h := range []string{nameA, hostA} {
		if got := a.Eval(fmt.Sprintf(`epmd_docker:address_please("app", "%s", inet)`, h), 10*time.Second); got == old || !strings.HasPrefix(got, "{error,") {
			t.Errorf("address_please(%s) = %s, want an error", h, got)
		}
	}
}
