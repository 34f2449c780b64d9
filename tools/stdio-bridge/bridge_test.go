package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The test binary doubles as the stdio server the bridge runs: with BRIDGE_TEST_CHILD=1 it serves
// MCP on stdin/stdout (the official SDK's server) and nothing else.
func TestMain(m *testing.M) {
	if os.Getenv("BRIDGE_TEST_CHILD") == "1" {
		runChild()
		return
	}
	os.Exit(m.Run())
}

type echoArgs struct {
	Text string `json:"text"`
}

func runChild() {
	fmt := func(s string) *mcp.CallToolResult {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
	}
	server := mcp.NewServer(&mcp.Implementation{Name: "tiny-stdio", Version: "1.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "echo"}, func(_ context.Context, _ *mcp.CallToolRequest, a echoArgs) (*mcp.CallToolResult, any, error) {
		return fmt(a.Text), nil, nil
	})
	mcp.AddTool(server, &mcp.Tool{Name: "pid"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return fmt(strconv.Itoa(os.Getpid())), nil, nil
	})
	// A request of the server's own, answered by the client: sampling.
	mcp.AddTool(server, &mcp.Tool{Name: "ask"}, func(ctx context.Context, req *mcp.CallToolRequest, a echoArgs) (*mcp.CallToolResult, any, error) {
		res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{
			MaxTokens: 10,
			Messages:  []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: a.Text}}},
		})
		if err != nil {
			return nil, nil, err
		}
		return fmt("sampled: " + res.Content.(*mcp.TextContent).Text), nil, nil
	})
	// Progress for the caller's token, then the result.
	mcp.AddTool(server, &mcp.Tool{Name: "slow"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		token := req.Params.GetProgressToken()
		for i := 1; i <= 3; i++ {
			if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: token, Progress: float64(i), Total: 3}); err != nil {
				return nil, nil, err
			}
		}
		return fmt("done"), nil, nil
	})
	// Waits until the client cancels the call.
	mcp.AddTool(server, &mcp.Tool{Name: "block"}, func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		<-ctx.Done()
		os.Stderr.WriteString("block: cancelled\n")
		return nil, nil, ctx.Err()
	})
	mcp.AddTool(server, &mcp.Tool{Name: "crash"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		os.Exit(3)
		return nil, nil, nil
	})
	if err := server.Run(context.Background(), &mcp.StdioTransport{}); err != nil {
		os.Exit(1)
	}
}

func startBridge(t *testing.T, maxSessions int) (*bridge, *httptest.Server) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("BRIDGE_TEST_CHILD", "1")
	cfg := config{command: []string{self}, path: "/mcp", maxSessions: maxSessions, idleTimeout: time.Minute}
	b := newBridge(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(b.handler())
	t.Cleanup(func() {
		b.closeAll()
		srv.Close()
	})
	return b, srv
}

func connect(t *testing.T, srv *httptest.Server, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: srv.URL + "/mcp"}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

func callText(t *testing.T, cs *mcp.ClientSession, name string, args any) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("tools/call %s: %v", name, err)
	}
	return res.Content[0].(*mcp.TextContent).Text
}

func sessionCount(b *bridge) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.sessions)
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRelaysInitializeListAndCall(t *testing.T) {
	_, srv := startBridge(t, 4)
	cs := connect(t, srv, nil)
	if got := cs.InitializeResult().ServerInfo.Name; got != "tiny-stdio" {
		t.Fatalf("server name %q, want tiny-stdio (the child's own initialize answer)", got)
	}
	tools, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range tools.Tools {
		names = append(names, tool.Name)
	}
	if len(names) != 6 {
		t.Fatalf("tools %v", names)
	}
	if got := callText(t, cs, "echo", map[string]any{"text": "hi"}); got != "hi" {
		t.Fatalf("echo answered %q", got)
	}
}

func TestEachSessionGetsItsOwnChild(t *testing.T) {
	b, srv := startBridge(t, 4)
	one := callText(t, connect(t, srv, nil), "pid", nil)
	two := callText(t, connect(t, srv, nil), "pid", nil)
	if one == two {
		t.Fatalf("both sessions answered from pid %s", one)
	}
	if n := sessionCount(b); n != 2 {
		t.Fatalf("%d sessions, want 2", n)
	}
}

func TestServerInitiatedRequestsAndProgressReachTheClient(t *testing.T) {
	_, srv := startBridge(t, 4)
	progress := make(chan float64, 8)
	cs := connect(t, srv, &mcp.ClientOptions{
		CreateMessageHandler: func(_ context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			text := req.Params.Messages[0].Content.(*mcp.TextContent).Text
			return &mcp.CreateMessageResult{Model: "m", Role: "assistant", Content: &mcp.TextContent{Text: strings.ToUpper(text)}}, nil
		},
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			progress <- req.Params.Progress
		},
	})
	if got := callText(t, cs, "ask", map[string]any{"text": "hello"}); got != "sampled: HELLO" {
		t.Fatalf("ask answered %q", got)
	}
	params := &mcp.CallToolParams{Name: "slow"}
	params.SetProgressToken("p1")
	if _, err := cs.CallTool(context.Background(), params); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "three progress notifications", func() bool { return len(progress) == 3 })
}

func TestCancellationReachesTheChild(t *testing.T) {
	_, srv := startBridge(t, 4)
	cs := connect(t, srv, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "block"})
	if err == nil {
		t.Fatal("a cancelled call succeeded")
	}
	// The session goes on after the cancelled call.
	if got := callText(t, cs, "echo", map[string]any{"text": "still here"}); got != "still here" {
		t.Fatalf("echo answered %q", got)
	}
}

func TestDeleteEndsTheChild(t *testing.T) {
	b, srv := startBridge(t, 4)
	cs := connect(t, srv, nil)
	pid, _ := strconv.Atoi(callText(t, cs, "pid", nil))
	if !alive(pid) {
		t.Fatal("child not running")
	}
	if err := cs.Close(); err != nil { // the SDK client sends DELETE
		t.Fatal(err)
	}
	waitFor(t, "the session to end", func() bool { return sessionCount(b) == 0 })
	waitFor(t, "the child to exit", func() bool { return !alive(pid) })
}

func TestChildExitEndsTheSession(t *testing.T) {
	b, srv := startBridge(t, 4)
	cs := connect(t, srv, nil)
	id := cs.ID()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "crash"}); err == nil {
		t.Fatal("the crashing call succeeded")
	}
	waitFor(t, "the session to end", func() bool { return sessionCount(b) == 0 })
	res := post(t, srv, id, `{"jsonrpc":"2.0","id":9,"method":"tools/list","params":{}}`)
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("a request in the ended session got %d, want 404", res.StatusCode)
	}
	// A new initialize gets a new child.
	if got := callText(t, connect(t, srv, nil), "echo", map[string]any{"text": "again"}); got != "again" {
		t.Fatalf("echo answered %q", got)
	}
}

func TestSessionCap(t *testing.T) {
	_, srv := startBridge(t, 1)
	connect(t, srv, nil)
	res := post(t, srv, "", initializeBody)
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Fatalf("initialize past the cap got %d (Retry-After %q), want 503 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
	}
	var body struct {
		Error struct{ Message string } `json:"error"`
	}
	_ = json.NewDecoder(res.Body).Decode(&body)
	if !strings.Contains(body.Error.Message, "MCP_BRIDGE_MAX_SESSIONS") {
		t.Fatalf("error %q does not name the cap", body.Error.Message)
	}
}

func TestIdleChildrenAreReaped(t *testing.T) {
	b, srv := startBridge(t, 4)
	// A client with its GET stream open is there: only one without any open request is idle.
	client := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	cs, err := client.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: srv.URL + "/mcp", DisableStandaloneSSE: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(callText(t, cs, "pid", nil))
	b.reapOnce(time.Now())
	if sessionCount(b) != 1 {
		t.Fatal("a fresh session was reaped")
	}
	// The call's answer reaches the client a moment before its handler returns and the session stops
	// counting it as open: reap until then, as the bridge's own ticker would.
	waitFor(t, "the idle session to be reaped", func() bool {
		b.reapOnce(time.Now().Add(2 * time.Minute))
		return sessionCount(b) == 0
	})
	waitFor(t, "the idle child to exit", func() bool { return !alive(pid) })
}

func TestOnlyInitializeOpensASession(t *testing.T) {
	b, srv := startBridge(t, 4)
	if res := post(t, srv, "", `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}`); res.StatusCode != http.StatusBadRequest {
		t.Fatalf("tools/list without a session got %d, want 400", res.StatusCode)
	}
	if res := post(t, srv, "nope", `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}`); res.StatusCode != http.StatusNotFound {
		t.Fatalf("an unknown session got %d, want 404", res.StatusCode)
	}
	if sessionCount(b) != 0 {
		t.Fatal("a session was opened")
	}
}

func TestHealthz(t *testing.T) {
	_, srv := startBridge(t, 3)
	connect(t, srv, nil)
	res, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Status      string `json:"status"`
		Sessions    int    `json:"sessions"`
		MaxSessions int    `json:"max_sessions"`
	}
	if err := json.NewDecoder(res.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	if h.Status != "ok" || h.Sessions != 1 || h.MaxSessions != 3 {
		t.Fatalf("healthz %+v", h)
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Setenv("PORT", "9001")
	t.Setenv("MCP_BRIDGE_MAX_SESSIONS", "2")
	t.Setenv("MCP_BRIDGE_IDLE_TIMEOUT", "90s")
	cfg, err := configFromEnv([]string{"--", "node", "server.js"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.port != 9001 || cfg.maxSessions != 2 || cfg.idleTimeout != 90*time.Second || strings.Join(cfg.command, " ") != "node server.js" {
		t.Fatalf("config %+v", cfg)
	}
	if _, err := configFromEnv(nil); err == nil {
		t.Fatal("no command accepted")
	}
	t.Setenv("MCP_BRIDGE_MAX_SESSIONS", "0")
	if _, err := configFromEnv([]string{"x"}); err == nil || !strings.Contains(err.Error(), "MCP_BRIDGE_MAX_SESSIONS") {
		t.Fatalf("a zero cap: %v", err)
	}
}

const initializeBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

func post(t *testing.T, srv *httptest.Server, session, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/mcp", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if session != "" {
		req.Header.Set(sessionHeader, session)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

func TestInstallCopiesItself(t *testing.T) {
	dir := t.TempDir()
	if err := install(dir); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(dir + "/stdio-bridge")
	if err != nil {
		t.Fatal(err)
	}
	self, _ := os.Executable()
	want, _ := os.Stat(self)
	if info.Mode().Perm() != 0o755 || info.Size() != want.Size() {
		t.Fatalf("installed %v, %d bytes; want 0755, %d bytes", info.Mode(), info.Size(), want.Size())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("left %d files behind", len(entries))
	}
}
