package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestProbePassesForAnMCPServerAndEndsItsSession(t *testing.T) {
	b, srv := startBridge(t, 4)
	if err := probe(context.Background(), srv.URL+"/mcp"); err != nil {
		t.Fatalf("probe: %v", err)
	}
	// The probe's session (and its child) is gone: probes every few seconds must not pile up children.
	deadline := time.Now().Add(5 * time.Second)
	for sessionCount(b) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d session(s) left after the probe", sessionCount(b))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestProbeFailsForWhatIsNotMCP(t *testing.T) {
	// Answers HTTP (a TCP or GET probe would pass), but not MCP.
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	defer plain.Close()
	err := probe(context.Background(), plain.URL+"/mcp")
	if err == nil || !strings.Contains(err.Error(), "initialize") {
		t.Fatalf("probe of a plain HTTP server: %v, want an initialize failure", err)
	}
}

func TestProbeFailsWithinItsTimeoutForAServerThatHangs(t *testing.T) {
	hang := make(chan struct{})
	stuck := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer stuck.Close()
	defer close(hang)
	began := time.Now()
	if err := probe(context.Background(), stuck.URL+"/mcp"); err == nil {
		t.Fatal("probe of a hanging server passed")
	}
	if took := time.Since(began); took > probeTimeout+time.Second {
		t.Fatalf("probe took %v, want at most %v", took, probeTimeout)
	}
}
