// etcd-amb with TLS: the node's local etcd endpoint when the members serve TLS with client
// certificates. It accepts plain connections on the node's loopback and carries each, unchanged, to
// a member over TLS with the node's certificate, so the member sees every node program as this
// node (its CN, the etcd user) and applies the node's role, while the programs, which run as
// nobody, never read the key. etcd's own gRPC proxy refuses a client certificate with a CN (it
// would hand its identity to every client), and its TCP gateway passes TLS through untouched,
// so neither can do this (docs/ARCHITECTURE.md decision 74). gRPC only: connections offer h2 (etcd's
// gRPC); every node program and etcdctl speak it.
//   node main.mjs --listen-addr=127.0.0.1:2379 (--discovery-srv=<domain> | --endpoints=host:port,...)
import { resolveSrv } from "node:dns/promises";
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { ConfigError } from "../../../functions/domain/errors.ts";
import { programLogger } from "../../shared/log.ts";
import { runProgram } from "../../shared/run.ts";
import { routeProxy, type Dial } from "../../shared/tcpProxy.ts";
import { parseAmbArgs, srvTargets } from "./args.ts";

const log = programLogger("etcd-amb");
/** The node's PKI directory (mounted read-only): ca.crt, node.crt, node.key. */
const PKI_DIR = process.env.ETCD_PKI_DIR || "/etc/devcluster/pki";
const FILES = ["ca.crt", "node.crt", "node.key"] as const;
/** How long open connections may go on after SIGTERM. */
const STOP_GRACE_MS = 5000;

function readPki(): Record<(typeof FILES)[number], Buffer> {
  const out = {} as Record<(typeof FILES)[number], Buffer>;
  for (const f of FILES) {
    try {
      out[f] = readFileSync(join(PKI_DIR, f));
    } catch (e) {
      throw new ConfigError(`cannot read the node's ${join(PKI_DIR, f)}: ${(e as Error).message}`);
    }
  }
  return out;
}

/** A TLS connection to a member with the node's certificate, read for each connection: a rotated pair is used at once. */
const dial: Dial = (host, port) => {
  const pki = readPki();
  const socket = tlsConnect({
    host,
    port,
    ca: pki["ca.crt"],
    cert: pki["node.crt"],
    key: pki["node.key"],
    ALPNProtocols: ["h2"],
    // A name is checked against the certificate's names (and sent as SNI); an address, against its addresses.
    ...(isIP(host) ? {} : { servername: host }),
  });
  return { socket, ready: "secureConnect" };
};

await runProgram(log, async () => {
  const args = parseAmbArgs(process.argv.slice(2));
  readPki(); // a node without its certificate is a configuration error, not a proxy that refuses everything
  const targets =
    args.endpoints ?? srvTargets(await resolveSrv(`_etcd-client-ssl._tcp.${args.discoverySrv}`));
  const proxy = routeProxy({
    name: "etcd",
    address: args.listen.address,
    port: args.listen.port,
    connectTimeoutMs: 3000,
    log,
    dial,
  });
  proxy.setTargets(targets);
  await proxy.listen();
  log.info("listening", {
    code: "etcd-amb.listening",
    address: args.listen.address,
    port: args.listen.port,
    targets,
  });
  return { stop: () => proxy.close(STOP_GRACE_MS) };
});
