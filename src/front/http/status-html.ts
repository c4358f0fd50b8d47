/**
 * The status page: one self-contained document, no external assets. It polls
 * /status.json every 2 s and keeps a short history in the page for the
 * sparklines. Every value from the server goes in through textContent.
 */
export const STATUS_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mcp-tenants status</title>
<style>
  :root { font: 14px/1.4 system-ui, sans-serif; color: #1d2430; background: #f6f7f9; }
  body { margin: 0 auto; max-width: 1200px; padding: 16px; }
  h1 { font-size: 18px; margin: 0 0 4px; }
  #meta { color: #5b6472; margin-bottom: 12px; }
  table { border-collapse: collapse; width: 100%; background: #fff; }
  th, td { padding: 6px 8px; border-bottom: 1px solid #e3e6ea; text-align: right; white-space: nowrap; }
  th { font-weight: 600; color: #5b6472; background: #fafbfc; }
  td.name, th.name, td.state, th.state, td.crash { text-align: left; }
  td.crash { white-space: normal; color: #8a3a3a; max-width: 260px; font-size: 12px; }
  .badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; background: #e3e6ea; }
  .running { background: #d6f5df; color: #17612f; }
  .quarantined, .backoff { background: #fbe0e0; color: #8a1f1f; }
  .starting, .stopping { background: #fff2cc; color: #7a5b00; }
  .bar { display: inline-block; width: 60px; height: 6px; background: #e3e6ea; vertical-align: middle; margin-left: 6px; }
  .bar > i { display: block; height: 100%; background: #4a7bd0; }
  .bar > i.hot { background: #d04a4a; }
  svg { vertical-align: middle; }
  #error { color: #8a1f1f; }
</style>
</head>
<body>
<h1>mcp-tenants</h1>
<div id="meta">loading…</div>
<div id="error"></div>
<table>
  <thead><tr>
    <th class="name">tenant</th><th class="state">state</th><th>pid</th><th>uptime</th><th>sessions</th>
    <th>req/min</th><th>trend</th><th>errors</th><th>p95</th><th>CPU</th><th>memory</th>
    <th>restarts</th><th>quota refusals</th><th class="name">last crash</th>
  </tr></thead>
  <tbody id="tenants"></tbody>
</table>
<script>
const HISTORY = 60;
const history = new Map();
const cell = (row, text, className) => {
  const td = document.createElement('td');
  if (className) td.className = className;
  if (text instanceof Node) td.append(text); else td.textContent = text;
  row.append(td);
  return td;
};
const dash = (value, format) => (value === null || value === undefined ? '–' : format(value));
const uptime = (iso) => {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 120 ? s + ' s' : s < 7200 ? Math.round(s / 60) + ' min' : Math.round(s / 3600) + ' h';
};
const bar = (used, limit) => {
  const outer = document.createElement('span');
  outer.className = 'bar';
  const inner = document.createElement('i');
  const share = Math.min(1, used / limit);
  inner.style.width = Math.round(share * 100) + '%';
  if (share > 0.85) inner.className = 'hot';
  outer.append(inner);
  return outer;
};
const sparkline = (values) => {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('width', '80');
  svg.setAttribute('height', '18');
  const max = Math.max(1, ...values);
  const points = values.map((v, i) => (i * 80) / (HISTORY - 1) + ',' + (17 - (v / max) * 16)).join(' ');
  const line = document.createElementNS(ns, 'polyline');
  line.setAttribute('points', points);
  line.setAttribute('fill', 'none');
  line.setAttribute('stroke', '#4a7bd0');
  svg.append(line);
  return svg;
};
async function refresh() {
  let body;
  try {
    const response = await fetch('/status.json', { credentials: 'same-origin' });
    body = await response.json();
    if (!response.ok) throw new Error(body.error ? body.error.message : response.status);
    document.getElementById('error').textContent = '';
  } catch (error) {
    document.getElementById('error').textContent = 'cannot refresh: ' + error.message;
    return;
  }
  document.getElementById('meta').textContent =
    body.tenants.length + ' tenant(s) · ' + body.scope + ' · updated ' + new Date(body.generated_at).toLocaleTimeString();
  const rows = [];
  for (const t of body.tenants) {
    const past = history.get(t.id) || [];
    past.push(t.requests_per_min || 0);
    while (past.length > HISTORY) past.shift();
    history.set(t.id, past);
    const row = document.createElement('tr');
    row.dataset.tenant = t.id;
    const name = cell(row, t.name === t.id ? t.id : t.id + ' (' + t.name + ')', 'name');
    const badge = document.createElement('span');
    badge.className = 'badge ' + t.state;
    badge.textContent = t.state;
    cell(row, badge, 'state');
    cell(row, dash(t.pid, String));
    cell(row, dash(t.started_at, uptime));
    cell(row, String(t.sessions)).dataset.field = 'sessions';
    cell(row, dash(t.requests_per_min, (v) => v.toFixed(0))).dataset.field = 'requests_per_min';
    cell(row, sparkline(past));
    cell(row, dash(t.error_rate, (v) => (v * 100).toFixed(1) + ' %'));
    cell(row, dash(t.p95_ms, (v) => v.toFixed(0) + ' ms'));
    const cpu = cell(row, dash(t.cpu_cores, (v) => v.toFixed(2) + (t.cpu_limit ? ' / ' + t.cpu_limit : '')));
    if (t.cpu_cores !== null && t.cpu_limit) cpu.append(bar(t.cpu_cores, t.cpu_limit));
    const mb = t.rss_bytes === null ? null : t.rss_bytes / 1048576;
    const memory = cell(row, dash(mb, (v) => v.toFixed(0) + (t.memory_limit_mb ? ' / ' + t.memory_limit_mb : '') + ' MB'));
    memory.dataset.field = 'memory';
    if (mb !== null && t.memory_limit_mb) memory.append(bar(mb, t.memory_limit_mb));
    cell(row, String(t.restarts)).dataset.field = 'restarts';
    cell(row, dash(t.quota_refusals, String));
    cell(row, t.last_crash || '', 'crash');
    rows.push(row);
  }
  document.getElementById('tenants').replaceChildren(...rows);
}
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
`;
