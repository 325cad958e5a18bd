// The self-service page: a signed-in user's keys (each with its fingerprint), a form to add one and
// a button to remove each; members of admins also see the pool's users and put them in and out of
// groups. Everything goes through the JSON API, with the user the front door names.
export const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>SSH keys</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 56rem; margin: 2rem auto; }
label { display: block; margin: .75rem 0 .25rem; }
textarea { width: 100%; font-family: monospace; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
td, th { border-bottom: 1px solid #ddd; padding: .3rem; text-align: left; font-size: .9rem; }
code { word-break: break-all; }
#status { margin-top: 1rem; white-space: pre-wrap; }
</style>
</head>
<body>
<h1>SSH keys</h1>
<p id="who"></p>
<form id="add">
<label for="key">SSH public key</label>
<textarea id="key" name="key" rows="4" placeholder="ssh-ed25519 AAAA... you@laptop" required></textarea>
<p><button type="submit">Add key</button></p>
</form>
<div id="status" role="status"></div>
<h2>Your keys</h2>
<table aria-label="Your keys"><thead><tr><th>Fingerprint</th><th>Type</th><th>Comment</th><th>Added</th><th></th></tr></thead>
<tbody id="keys"></tbody></table>
<section id="admin" hidden>
<h2>Users and groups</h2>
<table aria-label="Users"><thead><tr><th>User</th><th>Groups</th><th>Enabled</th></tr></thead><tbody id="users"></tbody></table>
<form id="group">
<label for="g-user">User</label><input id="g-user" required>
<label for="g-group">Group</label><select id="g-group"></select>
<p><button type="submit" name="action" value="add">Add to group</button>
<button type="submit" name="action" value="remove">Remove from group</button></p>
</form>
</section>
<script>
const $ = (id) => document.getElementById(id);
const status = (t) => { $("status").textContent = t; };
async function api(path, init = {}) {
  const r = await fetch(path, { ...init, headers: { "content-type": "application/json" } });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || "HTTP " + r.status);
  return body;
}
const cell = (tr, text) => { const td = document.createElement("td"); td.textContent = text; tr.append(td); return td; };
async function load() {
  const me = await api("api/me");
  $("who").textContent = "Signed in as " + me.user + (me.groups.length ? " (" + me.groups.join(", ") + ")" : "");
  const tbody = $("keys");
  tbody.replaceChildren();
  for (const k of me.keys) {
    const tr = document.createElement("tr");
    const fp = document.createElement("code");
    fp.textContent = k.fingerprint;
    cell(tr, "").append(fp);
    cell(tr, k.type + " " + k.bits);
    cell(tr, k.comment);
    cell(tr, k.added.slice(0, 10));
    const b = document.createElement("button");
    b.textContent = "Remove";
    b.setAttribute("aria-label", "Remove " + k.fingerprint);
    b.onclick = async () => {
      try { await api("api/keys/" + k.id, { method: "DELETE" }); status("Removed " + k.fingerprint); await load(); }
      catch (e) { status("Failed: " + e.message); }
    };
    cell(tr, "").append(b);
    tbody.append(tr);
  }
  if (me.admin) await loadUsers();
}
async function loadUsers() {
  const d = await api("api/users");
  $("admin").hidden = false;
  const tbody = $("users");
  tbody.replaceChildren();
  for (const u of d.users) {
    const tr = document.createElement("tr");
    cell(tr, u.name); cell(tr, u.groups.join(", ")); cell(tr, u.enabled ? "yes" : "no");
    tbody.append(tr);
  }
  const sel = $("g-group");
  sel.replaceChildren(...d.groups.map((g) => { const o = document.createElement("option"); o.textContent = g; return o; }));
}
$("add").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const r = await api("api/keys", { method: "POST", body: JSON.stringify({ key: $("key").value }) });
    status((r.added ? "Added " : "Already registered: ") + r.key.fingerprint);
    $("key").value = "";
    await load();
  } catch (e) { status("Failed: " + e.message); }
});
$("group").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const r = await api("api/groups", { method: "POST", body: JSON.stringify({
      user: $("g-user").value, group: $("g-group").value, action: ev.submitter.value }) });
    status(r.message);
    await loadUsers();
  } catch (e) { status("Failed: " + e.message); }
});
load().catch((e) => status("Failed: " + e.message));
</script>
</body>
</html>
`;
