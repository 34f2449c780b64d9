#!/bin/sh
# hello-mcp: a Model Context Protocol server small enough to run on busybox alone — one CGI script
# behind busybox httpd, speaking MCP's Streamable HTTP transport with plain JSON responses.
# Tools: `echo` (returns its text) and `arch` (the machine it runs on). JSON is picked apart with
# sed, which is fine for the simple requests MCP clients send here, and nothing more.

reply() { printf 'Content-Type: application/json\r\n\r\n%s' "$1"; exit 0; }
status() { printf 'Status: %s\r\n\r\n' "$1"; exit 0; }

[ "$REQUEST_METHOD" = POST ] || status '405 Method Not Allowed'
body=$(head -c "${CONTENT_LENGTH:-0}")
field() { printf '%s' "$body" | tr -d '\n' | sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\\([^\"]*\\)\".*/\\1/p"; }
method=$(field method)
id=$(printf '%s' "$body" | tr -d '\n' | sed -n 's/.*"id"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\|"[^"]*"\).*/\1/p')

# Notifications (no id) are acknowledged without a body.
[ -n "$id" ] || status '202 Accepted'

result() { reply "{\"jsonrpc\":\"2.0\",\"id\":$id,\"result\":$1}"; }
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
      *) reply "{\"jsonrpc\":\"2.0\",\"id\":$id,\"error\":{\"code\":-32602,\"message\":\"unknown tool\"}}" ;;
    esac ;;
  *) reply "{\"jsonrpc\":\"2.0\",\"id\":$id,\"error\":{\"code\":-32601,\"message\":\"method not found: $method\"}}" ;;
esac
