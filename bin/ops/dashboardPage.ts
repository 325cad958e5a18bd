// The dashboard's one page: the view (nodes by group and zone, etcd members, services, units per
// node, volumes, snapshots, recent events) rendered in the browser from the JSON routes. Every value
// goes into the page as text (textContent), never as markup.

const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

export function dashboardPage(o: {
  token: string;
  nonce: string;
  user: string;
  admin: boolean;
  /** false: the target runs no commands on nodes, so the page offers no restart. */
  canRestart?: boolean;
  target: string;
}): string {
  const boot = JSON.stringify({ token: o.token, admin: o.admin, canRestart: o.canRestart !== false }).replace(
    /</g,
    "\\u003c",
  );
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>devcluster</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:10px 20px;display:flex;gap:16px;align-items:center}
header h1{font-size:18px;margin:0}header .who{margin-left:auto;opacity:.8}
main{padding:16px 20px;display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:16px}
section{background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:10px 14px;overflow:auto}
section.wide{grid-column:1/-1}
h2{font-size:15px;margin:4px 0 8px}h3{font-size:13px;margin:10px 0 4px;color:#4a5568}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:3px 8px;border-bottom:1px solid #eef0f4;white-space:nowrap}
th{font-weight:600;color:#4a5568;font-size:12px}
.ok{color:#1a7f37}.bad{color:#cf222e;font-weight:600}.muted{color:#8a94a6}
button{font:inherit;padding:2px 10px;border:1px solid #b8c0cc;border-radius:4px;background:#fff;cursor:pointer}
button:disabled{opacity:.5;cursor:default}
#status{font-size:12px;opacity:.8}
.zones{display:flex;gap:12px;flex-wrap:wrap}.zone{border:1px solid #eef0f4;border-radius:4px;padding:6px 8px;min-width:220px}
.node{font-family:ui-monospace,monospace;font-size:12px}
</style></head>
<body>
<header><h1>devcluster <span id="cluster"></span></h1><span id="target">${esc(o.target)}</span>
<span id="status">loading...</span><span class="who">${esc(o.user)}${o.admin ? " (admin)" : ""}</span></header>
<main>
<section class="wide"><h2>Nodes by group and zone</h2><div id="nodes"></div></section>
<section><h2>etcd members</h2><div id="members"></div></section>
<section><h2>Services</h2><div id="services"></div></section>
<section class="wide"><h2>Units per node</h2><div id="units"><span class="muted">reading unit states...</span></div></section>
<section><h2>Snapshots <button id="snapshot" hidden>Take a snapshot</button></h2><div id="snapshots"></div></section>
<section><h2>Volumes</h2><div id="volumes"></div></section>
<section class="wide"><h2>Recent control-plane events</h2><div id="events"></div></section>
</main>
<script type="application/json" id="boot">${boot}</script>
<script nonce="${o.nonce}">
"use strict";
const BOOT = JSON.parse(document.getElementById("boot").textContent);
const $ = (id) => document.getElementById(id);
function el(tag, text, cls) { const e = document.createElement(tag); if (text !== undefined) e.textContent = String(text); if (cls) e.className = cls; return e; }
function table(head, rows) {
  const t = el("table"); const tr = el("tr"); head.forEach((h) => tr.appendChild(el("th", h))); t.appendChild(tr);
  rows.forEach((r) => { const row = el("tr"); r.forEach((c) => row.appendChild(c instanceof Node ? wrap(c) : el("td", c))); t.appendChild(row); });
  return t;
}
function wrap(node) { const td = el("td"); td.appendChild(node); return td; }
function state(text, good) { return el("span", text, good ? "ok" : "bad"); }
function fill(id, content) { const box = $(id); box.replaceChildren(content); }
function none(text) { return el("span", text, "muted"); }
function ago(iso) { const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000); return s < 60 ? Math.round(s) + " s ago" : s < 3600 ? Math.round(s / 60) + " min ago" : Math.round(s / 3600) + " h ago"; }
async function api(path, body) {
  const init = body === undefined ? {} : { method: "POST", headers: { "content-type": "application/json", "x-csrf-token": BOOT.token }, body: JSON.stringify(body) };
  const res = await fetch(path, init);
  const data = await res.json();
  if (!res.ok) throw new Error(data.error || res.statusText);
  return data;
}
function renderView(v) {
  $("cluster").textContent = v.cluster;
  const nodes = el("div");
  for (const role of ["main", "worker", "data"]) {
    const ms = v.machines.filter((m) => m.role === role);
    nodes.appendChild(el("h3", role + " (" + ms.length + ")"));
    if (!ms.length) { nodes.appendChild(none("no nodes")); continue; }
    const zones = el("div", undefined, "zones");
    for (const zone of [...new Set(ms.map((m) => m.zone))].sort()) {
      const z = el("div", undefined, "zone"); z.appendChild(el("strong", zone));
      for (const m of ms.filter((x) => x.zone === zone)) {
        const line = el("div", undefined, "node"); line.dataset.node = m.id;
        line.appendChild(el("span", m.id + " " + m.address + " "));
        line.appendChild(state(m.lifecycle, m.lifecycle === "InService"));
        line.appendChild(el("span", " " + (m.registry || "unregistered") + (m.member ? " etcd" : ""), "muted"));
        z.appendChild(line);
      }
      zones.appendChild(z);
    }
    nodes.appendChild(zones);
  }
  fill("nodes", nodes);
  fill("members", v.etcd.reachable
    ? table(["member", "node", "kind", "health"], v.etcd.members.map((m) => [m.name || m.id, m.machine || "-", m.learner ? "learner" : "voter", state(m.healthy ? "healthy" : "unhealthy", m.healthy)]))
    : state("no etcd member answers", false));
  fill("services", v.services.length
    ? table(["service", "instance", "node", "address"], v.services.flatMap((s) => s.instances.map((i) => [s.name, i.id, i.machine, i.address + ":" + i.port])))
    : none("no service is announced"));
  fill("volumes", v.volumes.length ? table(["volume", "instance", "name", "zone", "size", "state", "node", "last snapshot"], v.volumes.map((x) => [x.id, x.instance, x.volume, x.zone, x.sizeGiB + " GiB", x.state + (x.retired ? " (retired)" : ""), x.machine || "-", x.lastSnapshot || "-"])) : none("no volumes"));
  fill("snapshots", v.snapshots.length
    ? table(["snapshot", "age", "revision", "keys", "bytes"], v.snapshots.map((s) => [s.id, ago(s.completedAt), s.revision, s.keys, s.bytes]))
    : none("no valid snapshot"));
  $("status").textContent = "read " + new Date(v.at).toLocaleTimeString() + (v.problems.length ? " - " + v.problems.join("; ") : "");
  renderUnits(v.unitRows);
}
function renderUnits(rows) {
  const byNode = new Map();
  for (const r of rows) { if (!byNode.has(r.machine)) byNode.set(r.machine, []); byNode.get(r.machine).push(r); }
  const out = el("div");
  for (const [node, us] of [...byNode.entries()].sort()) {
    out.appendChild(el("h3", (node || "not placed") + (us[0].role ? " (" + us[0].role + ", " + us[0].zone + ")" : "")));
    out.appendChild(table(["unit", "state", ""], us.map((u) => {
      const cell = el("span");
      if (BOOT.admin && BOOT.canRestart && node) {
        const b = el("button", "Restart"); b.dataset.unit = u.unit; b.dataset.node = node;
        b.setAttribute("aria-label", "restart " + u.unit + " on " + node);
        const busy = restarting.get(u.unit + " " + node);
        if (busy) { b.textContent = busy; b.disabled = true; }
        b.onclick = () => restart(u.unit, node);
        cell.appendChild(b);
      }
      const row = [u.unit, state(u.state, u.state === "active"), cell];
      return row;
    })));
  }
  fill("units", rows.length ? out : none("no units placed"));
}
function renderEvents(r) {
  if (r.unavailable) return fill("events", none(r.unavailable));
  fill("events", r.events.length
    ? table(["time", "function", "level", "event"], r.events.slice().reverse().slice(0, 40).map((e) => [e.time, e.fn, state(e.level, e.level !== "error"), e.msg]))
    : none("no events yet"));
}
// A restart's progress by "unit node": the periodic refresh re-renders the buttons meanwhile, and
// must show it rather than a fresh "Restart".
const restarting = new Map();
async function restart(unit, node) {
  const key = unit + " " + node;
  const show = (text) => {
    restarting.set(key, text);
    for (const b of document.querySelectorAll("button[data-unit]"))
      if (b.dataset.unit === unit && b.dataset.node === node) { b.textContent = text; b.disabled = true; }
  };
  show("restarting...");
  try { const r = await api("/api/restart", { unit, node }); show(r.results.every((x) => x.ok) ? "restarted" : "failed"); }
  catch (e) { show("failed: " + e.message); }
  setTimeout(() => { restarting.delete(key); refreshView(); }, 3000);
}
async function refreshView() { try { renderView(await api("/api/view")); } catch (e) { $("status").textContent = "cannot read the cluster: " + e.message; } }
async function refreshEvents() { try { renderEvents(await api("/api/events")); } catch (e) { fill("events", state(e.message, false)); } }
if (BOOT.admin) {
  const b = $("snapshot"); b.hidden = false;
  b.onclick = async () => { b.disabled = true; b.textContent = "taking a snapshot...";
    try { await api("/api/snapshot", {}); b.textContent = "snapshot taken"; } catch (e) { b.textContent = "failed: " + e.message; }
    setTimeout(() => { b.disabled = false; b.textContent = "Take a snapshot"; refreshView(); }, 1500); };
}
// One read of the view paints nodes, members, services and unit states (nodes publish their unit
// states to etcd); the events come from CloudWatch Logs beside it.
function refresh() { return Promise.all([refreshView(), refreshEvents()]); }
refresh();
setInterval(refresh, 15000);
</script></body></html>
`;
}
