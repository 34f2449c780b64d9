package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// probeTimeout bounds one probe, below the kubelet's timeoutSeconds (5), so a server that does not
// answer fails with its reason rather than being killed by the kubelet without one.
const probeTimeout = 4 * time.Second

// probe is the MCP health check a kubelet runs in the pod (an exec probe: `stdio-bridge --probe URL`):
// initialize, then ping — or tools/list for a server without ping, as mcp-host's own health check —
// then the session ends (DELETE). A TCP or HTTP GET probe would pass for a server whose MCP side is
// wedged; this one passes only when the server answers MCP.
func probe(ctx context.Context, endpoint string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	// The SDK may spend longer than the deadline tearing a half-open session down; the verdict is due at
	// the deadline all the same (the probe process exits right after, which ends whatever is left).
	verdict := make(chan error, 1)
	go func() { verdict <- probeSession(ctx, endpoint) }()
	select {
	case err := <-verdict:
		return err
	case <-ctx.Done():
		return fmt.Errorf("no answer within %v: %w", probeTimeout, ctx.Err())
	}
}

func probeSession(ctx context.Context, endpoint string) error {
	client := mcp.NewClient(&mcp.Implementation{Name: "mcp-host-probe", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint, DisableStandaloneSSE: true, MaxRetries: -1}, nil)
	if err != nil {
		return fmt.Errorf("initialize: %w", err)
	}
	defer cs.Close()
	err = cs.Ping(ctx, nil)
	var rpcErr *jsonrpc.Error
	if errors.As(err, &rpcErr) && rpcErr.Code == jsonrpc.CodeMethodNotFound {
		_, err = cs.ListTools(ctx, nil)
		if err != nil {
			return fmt.Errorf("tools/list: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}
