// The upload page: the browser cuts the file into the parts the service planned and PUTs them
// straight to S3 through their presigned URLs, a few at a time, then asks the service to finish.
export const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>File drop</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; }
label { display: block; margin: .75rem 0 .25rem; }
input[type=text], input[type=number] { width: 100%; }
#status { margin-top: 1rem; white-space: pre-wrap; }
</style>
</head>
<body>
<h1>File drop</h1>
<form id="drop">
<label for="file">File</label><input id="file" type="file" required>
<label for="recipients">Recipients (comma separated)</label><input id="recipients" type="text" required>
<label for="days">Days the link works</label><input id="days" type="number" min="1" value="7">
<p><button id="send" type="submit">Upload and send</button></p>
</form>
<progress id="progress" max="1" value="0"></progress>
<div id="status" role="status"></div>
<script>
const status = (t) => { document.getElementById("status").textContent = t; };
async function api(path, init) {
  const r = await fetch(path, { ...init, headers: { "content-type": "application/json" } });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || "HTTP " + r.status);
  return body;
}
document.getElementById("drop").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const file = document.getElementById("file").files[0];
  const recipients = document.getElementById("recipients").value.split(",").map((s) => s.trim()).filter(Boolean);
  const days = Number(document.getElementById("days").value);
  let plan;
  try {
    plan = await api("api/uploads", { method: "POST", body: JSON.stringify({ name: file.name, size: file.size, recipients, days }) });
    const etags = new Array(plan.parts.length);
    let next = 0, done = 0;
    const worker = async () => {
      while (next < plan.parts.length) {
        const p = plan.parts[next++];
        const start = (p.partNumber - 1) * plan.partBytes;
        const r = await fetch(p.url, { method: "PUT", body: file.slice(start, start + plan.partBytes) });
        if (!r.ok) throw new Error("part " + p.partNumber + ": HTTP " + r.status);
        etags[p.partNumber - 1] = r.headers.get("etag");
        document.getElementById("progress").value = ++done / plan.parts.length;
      }
    };
    await Promise.all(Array.from({ length: plan.parallel }, worker));
    const out = await api("api/uploads/" + plan.id + "/complete", {
      method: "POST",
      body: JSON.stringify({ parts: etags.map((etag, i) => ({ partNumber: i + 1, etag })) }),
    });
    status("Sent to " + recipients.join(", ") + ". The link works until " + out.expiresAt + ".");
  } catch (e) {
    status("Failed: " + e.message);
    if (plan) await api("api/uploads/" + plan.id, { method: "DELETE" }).catch(() => {});
  }
});
</script>
</body>
</html>
`;
