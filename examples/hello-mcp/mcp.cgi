#!/bin/sh
# hello-mcp: a Model Context Protocol server small enough to run on busybox alone. As a CGI script
# behind busybox httpd it speaks MCP's Streamable HTTP transport (plain JSON responses); run with
# --stdio it speaks the stdio transport (one JSON-RPC message per line). Tools: `echo` (returns its
# text) and `arch` (the machine it runs on). JSON is picked apart with sed, which is fine for the
# simple requests MCP clients send here, and nothing more.

# The response to one request (nothing for a notification).
respond() {
  body=$(printf '%s' "$1" | tr -d '\n')
  field() { printf '%s' "$body" | sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\\([^\"]*\\)\".*/\\1/p"; }
  method=$(field method)
  id=$(printf '%s' "$body" | sed -n 's/.*"id"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\|"[^"]*"\).*/\1/p')
  [ -n "$id" ] || return 0
  result() { printf '%s' "{\"jsonrpc\":\"2.0\",\"id\":$id,\"result\":$1}"; }
  failure() { printf '%s' "{\"jsonrpc\":\"2.0\",\"id\":$id,\"error\":{\"code\":$1,\"message\":\"$2\"}}"; }
  # Unwell on demand (mcp-host's supervision tests): once /tmp/hello-mcp-unwell exists, ping and
  # tools/list take a minute to answer, as a hung server's would.
  case "$method" in ping|tools/list) [ ! -e /tmp/hello-mcp-unwell ] || sleep 60 ;; esac
  case "$method" in
    initialize)
      version=$(field protocolVersion)
      result "{\"protocolVersion\":\"${version:-2025-03-26}\",\"capabilities\":{\"tools\":{\"listChanged\":false}},\"serverInfo\":{\"name\":\"hello-mcp\",\"version\":\"1.0.0\"}}" ;;
    ping) result '{}' ;;
    tools/list)
      result '{"tools":[{"name":"echo","description":"Echo the given text back","inputSchema":{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}},{"name":"arch","description":"The machine architecture this server runs on","inputSchema":{"type":"object","properties":{}}}]}' ;;
    tools/call)
      case "$(field name)" in
        echo) result "{\"content\":[{\"type\":\"text\",\"text\":\"$(field text)\"}]}" ;;
        arch) result "{\"content\":[{\"type\":\"text\",\"text\":\"$(uname -m)\"}]}" ;;
        *) failure -32602 'unknown tool' ;;
      esac ;;
    *) failure -32601 "method not found: $method" ;;
  esac
}

if [ "$1" = --stdio ]; then
  echo "hello-mcp speaking MCP on stdio" >&2
  while IFS= read -r line; do
    out=$(respond "$line")
    [ -z "$out" ] || printf '%s\n' "$out"
  done
  exit 0
fi

[ "$REQUEST_METHOD" = POST ] || { printf 'Status: 405 Method Not Allowed\r\n\r\n'; exit 0; }
out=$(respond "$(head -c "${CONTENT_LENGTH:-0}")")
if [ -z "$out" ]; then printf 'Status: 202 Accepted\r\n\r\n'; else printf 'Content-Type: application/json\r\n\r\n%s' "$out"; fi
