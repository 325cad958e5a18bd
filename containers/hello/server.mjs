// hello: the demo's sample web service; every answer names the instance and node that served it.
/* global process, console */
import { createServer } from "node:http";

const address = process.env.LISTEN_ADDRESS || "0.0.0.0";
const port = Number(process.env.PORT || 8080);
const instance = process.env.INSTANCE || "hello";
const node = process.env.NODE_ID || "unknown-node";

const server = createServer((req, res) => {
  const body = req.url === "/healthz" ? "ok\n" : `hello from ${instance} on ${node}\n`;
  res.writeHead(200, { "content-type": "text/plain; charset=utf-8", "x-served-by": `${instance}@${node}` });
  res.end(body);
});
server.listen(port, address, () =>
  console.log(JSON.stringify({ level: "info", msg: "hello.listening", address, port, instance, node })),
);
// docker stop sends SIGTERM: finish open requests, then exit 0.
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => server.close(() => process.exit(0)));
