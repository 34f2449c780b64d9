package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const (
	sessionHeader = "Mcp-Session-Id"
	// A POST body larger than this is refused before it reaches a child.
	maxBodyBytes = 8 << 20
	// How long a child may take to exit once its stdin is closed, before SIGTERM (then SIGKILL).
	terminateAfter = 2 * time.Second
	// What the event store keeps for resumption (Last-Event-ID) and for messages sent before a client
	// opened its GET stream, across all sessions.
	eventStoreBytes = 16 << 20
)

type bridge struct {
	cfg    config
	logger *slog.Logger
	events *mcp.MemoryEventStore

	mu       sync.Mutex
	sessions map[string]*session
	// Sessions whose child is starting: counted against the cap, not yet reachable.
	starting int
	closed   bool
}

func newBridge(cfg config, logger *slog.Logger) *bridge {
	events := mcp.NewMemoryEventStore(nil)
	events.SetMaxBytes(eventStoreBytes)
	return &bridge{cfg: cfg, logger: logger, events: events, sessions: map[string]*session{}}
}

// One HTTP session: the SDK's server transport toward the client, the child's stdio toward the
// server, and two pumps between them.
type session struct {
	id       string
	http     *mcp.StreamableServerTransport
	client   mcp.Connection
	child    mcp.Connection
	cmd      *exec.Cmd
	inFlight atomic.Int64
	lastSeen atomic.Int64 // unix nanoseconds
	once     sync.Once
	done     chan struct{}
}

func (s *session) touch() { s.lastSeen.Store(time.Now().UnixNano()) }

func (b *bridge) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", b.serveHealth)
	mux.HandleFunc(b.cfg.path, b.serveMCP)
	return mux
}

func (b *bridge) serveHealth(w http.ResponseWriter, _ *http.Request) {
	b.mu.Lock()
	n := len(b.sessions)
	b.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "ok", "sessions": n, "max_sessions": b.cfg.maxSessions})
}

func (b *bridge) serveMCP(w http.ResponseWriter, req *http.Request) {
	if req.Body != nil {
		req.Body = http.MaxBytesReader(w, req.Body, maxBodyBytes)
	}
	id := req.Header.Get(sessionHeader)
	switch req.Method {
	case http.MethodPost:
		if id == "" {
			b.openSession(w, req)
			return
		}
	case http.MethodGet, http.MethodDelete:
		if id == "" {
			writeError(w, http.StatusBadRequest, req.Method+" needs an "+sessionHeader+" header")
			return
		}
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	s := b.lookup(id)
	if s == nil {
		// The client's cue to initialize again: the session ended (DELETE, its child exited, idle).
		writeError(w, http.StatusNotFound, "session not found")
		return
	}
	if req.Method == http.MethodDelete {
		b.closeSession(s, "deleted by the client")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s.serve(w, req)
}

func (s *session) serve(w http.ResponseWriter, req *http.Request) {
	s.inFlight.Add(1)
	s.touch()
	defer func() {
		s.touch()
		s.inFlight.Add(-1)
	}()
	s.http.ServeHTTP(w, req)
}

func (b *bridge) lookup(id string) *session {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sessions[id]
}

// openSession starts a child for a POST without a session: only an initialize may open one.
func (b *bridge) openSession(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, "request body too large")
			return
		}
		writeError(w, http.StatusBadRequest, "cannot read the request body")
		return
	}
	if !hasInitialize(body) {
		writeError(w, http.StatusBadRequest, "no "+sessionHeader+" header: only an initialize request opens a session")
		return
	}
	s, status, err := b.startSession()
	if err != nil {
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "5")
		}
		writeError(w, status, err.Error())
		return
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	s.serve(w, req)
}

func (b *bridge) startSession() (*session, int, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, http.StatusServiceUnavailable, errors.New("the bridge is shutting down")
	}
	if len(b.sessions)+b.starting >= b.cfg.maxSessions {
		b.mu.Unlock()
		return nil, http.StatusServiceUnavailable, errors.New("too many sessions: " + strconv.Itoa(b.cfg.maxSessions) + " children run already (MCP_BRIDGE_MAX_SESSIONS)")
	}
	// Reserved under the lock, so concurrent initializes never pass the cap.
	b.starting++
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.starting--
		b.mu.Unlock()
	}()

	s := &session{id: rand.Text(), done: make(chan struct{})}

	s.touch()
	ctx := context.Background()
	s.http = &mcp.StreamableServerTransport{SessionID: s.id, EventStore: b.events}
	client, err := s.http.Connect(ctx)
	if err != nil {
		return nil, http.StatusInternalServerError, errors.New("cannot open the session")
	}
	s.client = client
	s.cmd = exec.Command(b.cfg.command[0], b.cfg.command[1:]...)
	// The server's own diagnostics go where the container's logs are read.
	s.cmd.Stderr = os.Stderr
	child, err := (&mcp.CommandTransport{Command: s.cmd, TerminateDuration: terminateAfter}).Connect(ctx)
	if err != nil {
		_ = client.Close()
		b.logger.Error("cannot start the server command", "session", s.id, "error", err)
		return nil, http.StatusBadGateway, errors.New("cannot start the server command: " + err.Error())
	}
	s.child = child
	b.mu.Lock()
	b.sessions[s.id] = s
	b.mu.Unlock()
	b.logger.Info("session opened", "session", s.id, "pid", s.cmd.Process.Pid)
	go b.pump(s, "client", client, child)
	go b.pump(s, "server", child, client)
	return s, 0, nil
}

// pump relays messages from one side to the other as they are, until either side ends. A message
// the client side cannot deliver (its stream is gone) does not end the session: the client may
// resume, or it was a reply nobody waits for.
func (b *bridge) pump(s *session, from string, src, dst mcp.Connection) {
	ctx := context.Background()
	for {
		msg, err := src.Read(ctx)
		if err != nil {
			reason := from + " side ended"
			if from == "server" {
				reason = "the server process exited or closed its stdout"
			}
			if !errors.Is(err, io.EOF) {
				reason += ": " + err.Error()
			}
			b.closeSession(s, reason)
			return
		}
		s.touch()
		if err := dst.Write(ctx, msg); err != nil {
			if from == "client" {
				b.closeSession(s, "writing to the server process failed: "+err.Error())
				return
			}
			select {
			case <-s.done:
				return
			default:
				b.logger.Debug("message not delivered to the client", "session", s.id, "error", err)
			}
		}
	}
}

func (b *bridge) forget(s *session) {
	b.mu.Lock()
	if b.sessions[s.id] == s {
		delete(b.sessions, s.id)
	}
	b.mu.Unlock()
}

// closeSession ends a session once: it is forgotten (later requests get 404), its open streams end,
// and its child gets EOF on stdin, then SIGTERM, then SIGKILL.
func (b *bridge) closeSession(s *session, reason string) {
	s.once.Do(func() {
		close(s.done)
		b.forget(s)
		_ = s.client.Close()
		_ = s.child.Close()
		exit := "running"
		if s.cmd.ProcessState != nil {
			exit = s.cmd.ProcessState.String()
		}
		b.logger.Info("session closed", "session", s.id, "reason", reason, "child", exit)
	})
}

func (b *bridge) closeAll() {
	b.mu.Lock()
	b.closed = true
	all := make([]*session, 0, len(b.sessions))
	for _, s := range b.sessions {
		all = append(all, s)
	}
	b.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.closeSession(s, "the bridge is shutting down")
		}()
	}
	wg.Wait()
}

// reapIdle ends sessions that had no request open and no message for the idle timeout: a client
// that went away without DELETE must not keep a child forever.
func (b *bridge) reapIdle(ctx context.Context) {
	every := min(b.cfg.idleTimeout/4, 30*time.Second)
	ticker := time.NewTicker(max(every, 10*time.Millisecond))
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		b.reapOnce(time.Now())
	}
}

func (b *bridge) reapOnce(now time.Time) {
	b.mu.Lock()
	var idle []*session
	for _, s := range b.sessions {
		if s.inFlight.Load() == 0 && now.Sub(time.Unix(0, s.lastSeen.Load())) > b.cfg.idleTimeout {
			idle = append(idle, s)
		}
	}
	b.mu.Unlock()
	for _, s := range idle {
		b.closeSession(s, "idle for "+b.cfg.idleTimeout.String())
	}
}

// hasInitialize says whether a POST body (one message or a batch) holds an initialize request.
func hasInitialize(body []byte) bool {
	var raw []json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		raw = []json.RawMessage{body}
	}
	for _, r := range raw {
		msg, err := jsonrpc.DecodeMessage(r)
		if err != nil {
			continue
		}
		if req, ok := msg.(*jsonrpc.Request); ok && req.IsCall() && req.Method == "initialize" {
			return true
		}
	}
	return false
}

// writeError answers with a JSON-RPC error body (no id: it concerns the HTTP request, not a call).
func writeError(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"jsonrpc": "2.0",
		"id":      nil,
		"error":   map[string]any{"code": -32000, "message": message},
	})
}
