package main

import (
	"bytes"
	bin "encoding/binary"
	"os/exec"
	"testing"
	"time"
)

// TestPort checks the port face end to end: a ping framed on stdin gets a
// pong framed on stdout, nothing else is written there, and the helper
// exits when stdin closes. It needs no Docker: ping does not ask it.
func TestPort(t *testing.T) {
	cmd := exec.Command(binary, "port")
	cmd.Env = append(cmd.Environ(), "DOCKER_HOST=unix:///nonexistent.sock")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// term_to_binary({7, ping})
	body := []byte{131, 104, 2, 97, 7, 119, 4, 'p', 'i', 'n', 'g'}
	frame := bin.BigEndian.AppendUint32(nil, uint32(len(body)))
	if _, err := stdin.Write(append(frame, body...)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	stdin.Close()

	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("port exited with %v after stdin closed; stderr %q", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("port did not exit when stdin closed")
	}

	out := stdout.Bytes()
	if len(out) < 4 {
		t.Fatalf("stdout %q: no frame", out)
	}
	n := bin.BigEndian.Uint32(out)
	reply := out[4:]
	if int(n) != len(reply) || reply[0] != 131 || !bytes.Contains(reply, []byte("pong")) {
		t.Errorf("stdout %q: want exactly one frame holding {7, {pong, Version}}", out)
	}
}
