// grpc-js (etcd3's transport) passes an etcd member's IP address as the TLS server name, which Node
// flags (DEP0123: SNI takes no addresses, and Node already leaves the name out). The command line and
// the local functions' worker threads (each prints its own warnings) hide that one warning; every
// other warning is printed as Node prints it.
export function hideIpServerNameWarning(): void {
  process.removeAllListeners("warning");
  process.on("warning", (w) => {
    if (w.name === "DeprecationWarning" && (w as NodeJS.ErrnoException).code === "DEP0123") return;
    process.stderr.write(`(node:${process.pid}) ${w.name}: ${w.message}\n`);
  });
}
