// The VPC resolver of a local node: answers an SRV name of the cluster's private zone (as kept by
// the control plane in Route 53, here moto) with `host:port` of each target, comma-separated.
// usage: node resolve-srv.mjs <srv name>[,<srv name>...] <zone name>   (AWS_* settings and
// PRIVATE_ZONE_ID from the environment); of several names, the first the zone holds answers.
/* global process, console */
import {
  ListHostedZonesCommand,
  ListResourceRecordSetsCommand,
  Route53Client,
} from "@aws-sdk/client-route-53";

const [srvNames, zoneName] = process.argv.slice(2);
if (!srvNames || !zoneName) {
  console.error("usage: resolve-srv.mjs <srv name> <zone name>");
  process.exit(2);
}
const fq = (n) => (n.endsWith(".") ? n : `${n}.`);
const r53 = new Route53Client({});
// It reads the zone with the node's credentials (AWS's resolver needs none): the node's role may list
// the records of its private zone (PRIVATE_ZONE_ID, from cluster.env), and nothing else in Route 53.
const zone = process.env.PRIVATE_ZONE_ID
  ? { Id: process.env.PRIVATE_ZONE_ID }
  : // Every zone, matched by name here: moto's ListHostedZonesByName filter misses names it stores without the dot.
    ((await r53.send(new ListHostedZonesCommand({}))).HostedZones ?? []).find(
      (z) => fq(z.Name ?? "") === fq(zoneName),
    );
if (!zone) {
  console.error(`resolve-srv: no zone ${zoneName}`);
  process.exit(1);
}
const records = [];
let next = {};
do {
  const page = await r53.send(new ListResourceRecordSetsCommand({ HostedZoneId: zone.Id, ...next }));
  records.push(...(page.ResourceRecordSets ?? []));
  next = page.IsTruncated
    ? { StartRecordName: page.NextRecordName, StartRecordType: page.NextRecordType }
    : null;
} while (next);
const srv = srvNames
  .split(",")
  .map((name) => records.find((r) => fq(r.Name ?? "") === fq(name) && r.Type === "SRV"))
  .find(Boolean);
if (!srv) {
  console.error(`resolve-srv: no SRV record ${srvNames}`);
  process.exit(1);
}
const address = (name) =>
  records.find((r) => fq(r.Name ?? "") === fq(name) && r.Type === "A")?.ResourceRecords?.[0]?.Value;
const targets = (srv.ResourceRecords ?? []).map((v) => {
  const [, , port, target] = v.Value.split(/\s+/);
  return `${address(target) ?? target.replace(/\.$/, "")}:${port}`;
});
console.log(targets.join(","));
