// GET /docs: a reference page for the API, self-contained (no CDN: it must work offline), drawn in
// the browser from /openapi.json — every route with its summary, parameters and responses.
export const DOCS_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mcp-host API</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;color:#1d1d1f}
h1{font-size:1.5rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ddd}
.op{margin:.6rem 0;padding:.4rem .6rem;border-left:3px solid #888;background:#fafafa}
.m{display:inline-block;min-width:4.5rem;font-weight:600}.get{color:#0a6}.post{color:#06c}.delete{color:#c30}.patch{color:#a60}
code{font-family:ui-monospace,monospace}small{color:#666}
</style></head><body>
<h1>mcp-host API</h1><p>Generated from <a href="/openapi.json">/openapi.json</a>. Every /api route needs
<code>Authorization: Bearer &lt;token&gt;</code>; errors are <code>{"error": {"code", "message", "field"?}}</code>.</p>
<div id="ops">Loading…</div>
<script>
const esc = (s) => String(s ?? '').replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
fetch('/openapi.json').then((r) => r.json()).then((doc) => {
  const byTag = {};
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      (byTag[(op.tags || ['other'])[0]] ||= []).push({ path, method, op });
    }
  }
  document.getElementById('ops').innerHTML = Object.entries(byTag).map(([tag, ops]) =>
    '<h2>' + esc(tag) + '</h2>' + ops.map(({ path, method, op }) => {
      const params = (op.parameters || []).map((p) => '<code>' + esc(p.name) + '</code> <small>(' + esc(p.in) + ')</small>').join(', ');
      const body = op.requestBody ? Object.values(op.requestBody.content)[0].schema : null;
      const responses = Object.entries(op.responses || {}).map(([code, r]) => '<code>' + esc(code) + '</code> ' + esc(r.description)).join('<br>');
      return '<div class="op"><span class="m ' + method + '">' + method.toUpperCase() + '</span><code>' + esc(path) + '</code> — ' + esc(op.summary) +
        (params ? '<br><small>parameters:</small> ' + params : '') +
        (body ? '<br><small>body:</small> <code>' + esc(body.$ref ? body.$ref.split('/').pop() : body.type) + '</code>' : '') +
        '<br><small>responses:</small><br>' + responses + '</div>';
    }).join('')).join('');
}, (err) => { document.getElementById('ops').textContent = 'Could not load /openapi.json: ' + err; });
</script></body></html>`;
