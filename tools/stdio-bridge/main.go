// stdio-bridge serves an MCP server that speaks stdio as MCP Streamable HTTP, next to the server in
// its own container or pod: mcp-host puts it at the entrypoint of every stdio image, with the image's
// own command as its arguments, so every hosted server answers HTTP on its own network and the
// gateway needs no container runtime to reach it.
//
//	stdio-bridge [--] command [args...]
//	stdio-bridge --install DIR   (copies itself to DIR/stdio-bridge: a pod's init container does this,
//	                              since the bridge image holds nothing else, not even cp)
//	stdio-bridge --probe URL     (an MCP health check of the server at URL, exit 0 when it answers:
//	                              the pod's readiness and liveness probes run this)
//
// Each HTTP session gets a child process of its own (each client initializes its own server); the
// messages are relayed as they are, both ways, so whatever the server initiates (sampling,
// elicitation, roots, logging, progress, list_changed, cancellation) reaches the client. A session
// ends on DELETE, when its child exits, or after MCP_BRIDGE_IDLE_TIMEOUT without traffic.
//
// Environment: PORT (default 8080), MCP_BRIDGE_PATH (default /mcp), MCP_BRIDGE_MAX_SESSIONS (children
// at once, default 16), MCP_BRIDGE_IDLE_TIMEOUT (a Go duration, default 15m).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "stdio-bridge")
	if len(os.Args) == 3 && os.Args[1] == "--install" {
		if err := install(os.Args[2]); err != nil {
			fmt.Fprintf(os.Stderr, "stdio-bridge: install: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) == 3 && os.Args[1] == "--probe" {
		if err := probe(context.Background(), os.Args[2]); err != nil {
			// The kubelet keeps this as the probe's failure message (pod events).
			fmt.Fprintf(os.Stderr, "MCP probe of %s failed: %v\n", os.Args[2], err)
			os.Exit(1)
		}
		return
	}
	cfg, err := configFromEnv(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "stdio-bridge: %v\nusage: stdio-bridge [--] command [args...]\n", err)
		os.Exit(2)
	}
	bridge := newBridge(cfg, logger)
	server := &http.Server{
		Addr:              ":" + strconv.Itoa(cfg.port),
		Handler:           bridge.handler(),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go bridge.reapIdle(ctx)
	go func() {
		<-ctx.Done()
		// New requests stop at once; open streams end with their sessions below.
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		bridge.closeAll()
		_ = server.Shutdown(shutdown)
	}()
	logger.Info("serving MCP Streamable HTTP", "port", cfg.port, "path", cfg.path, "command", cfg.command[0], "max_sessions", cfg.maxSessions)
	if err := server.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Error("listening failed", "error", err)
		os.Exit(1)
	}
}

// install copies the running binary to dir/stdio-bridge, executable by any user, written whole
// under a temporary name first.
func install(dir string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	src, err := os.Open(self)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp, err := os.CreateTemp(dir, ".stdio-bridge-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, src); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, "stdio-bridge"))
}

type config struct {
	command     []string
	port        int
	path        string
	maxSessions int
	idleTimeout time.Duration
}

func configFromEnv(args []string) (config, error) {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		return config{}, errors.New("no command to run")
	}
	cfg := config{command: args, port: 8080, path: "/mcp", maxSessions: 16, idleTimeout: 15 * time.Minute}
	if v := os.Getenv("PORT"); v != "" {
		port, err := strconv.Atoi(v)
		if err != nil || port < 1 || port > 65535 {
			return config{}, fmt.Errorf("PORT: %q is not a port", v)
		}
		cfg.port = port
	}
	if v := os.Getenv("MCP_BRIDGE_PATH"); v != "" {
		if v[0] != '/' {
			return config{}, fmt.Errorf("MCP_BRIDGE_PATH: %q does not start with /", v)
		}
		cfg.path = v
	}
	if v := os.Getenv("MCP_BRIDGE_MAX_SESSIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return config{}, fmt.Errorf("MCP_BRIDGE_MAX_SESSIONS: %q is not a positive number", v)
		}
		cfg.maxSessions = n
	}
	if v := os.Getenv("MCP_BRIDGE_IDLE_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return config{}, fmt.Errorf("MCP_BRIDGE_IDLE_TIMEOUT: %q is not a positive duration", v)
		}
		cfg.idleTimeout = d
	}
	return cfg, nil
}
