// The operator's commands and their usage: what `devcluster --help` lists and the command line
// dispatches on (kept apart from their code, so `synth` and `--help` load none of it).
type Opt = { type: "string" | "boolean"; short?: string };
export interface Sub {
  usage: string;
  options?: Record<string, Opt>;
  positionals: number;
}

export const OPS_SUBS: Record<string, Sub> = {
  machines: {
    usage: "machines\n  every node: group, zone, addresses, lifecycle, registry state, etcd member",
    positionals: 0,
  },
  members: {
    usage:
      "members\n  etcd members, their health, and the node each runs on; exit 1 when one is unhealthy or none answers",
    positionals: 0,
  },
  units: {
    usage:
      "units [--all]\n  every placed unit and its state on its node; --all adds what nodes enabled outside the placement",
    options: { all: { type: "boolean" } },
    positionals: 0,
  },
  services: {
    usage: "services\n  services presence announces in etcd, with their instances",
    positionals: 0,
  },
  volumes: {
    usage: "volumes\n  the block volumes tagged with the cluster's name (and the node each is attached to)",
    positionals: 0,
  },
  snapshots: { usage: "snapshots\n  valid etcd snapshots, newest first", positionals: 0 },
  status: {
    usage:
      "status <unit> [--lines N]\n  the unit's state on each node it is placed on, with the last lines of its journal",
    options: { lines: { type: "string" } },
    positionals: 1,
  },
  journal: {
    usage:
      "journal <unit> [-f] [--node ID] [--lines N]\n  the unit's journal on its node (--node: which one, for a unit on several); -f follows it",
    options: { follow: { type: "boolean", short: "f" }, node: { type: "string" }, lines: { type: "string" } },
    positionals: 1,
  },
  ssh: {
    usage:
      "ssh <node|unit>\n  a shell on the node (or the node the unit runs on): SSM Session Manager on AWS (no key, no open port;\n  needs the session-manager-plugin), the node's directory locally",
    positionals: 1,
  },
  start: { usage: "start <unit> [--node ID]", options: { node: { type: "string" } }, positionals: 1 },
  stop: { usage: "stop <unit> [--node ID]", options: { node: { type: "string" } }, positionals: 1 },
  restart: { usage: "restart <unit> [--node ID]", options: { node: { type: "string" } }, positionals: 1 },
  deploy: {
    usage:
      "deploy [--catalog DIR] [--yes] [--confirm]\n  push the unit catalog through the units function: shows the plan first, then asks (--yes: do not ask);\n  --confirm: also when it drops units running on main nodes",
    options: {
      catalog: { type: "string" },
      yes: { type: "boolean", short: "y" },
      confirm: { type: "boolean" },
    },
    positionals: 0,
  },
  snapshot: { usage: "snapshot\n  take an etcd snapshot now (the snapshot function)", positionals: 0 },
  restore: {
    usage:
      "restore [<snapshot>|latest] [--yes] [--force]\n  shows the snapshot's age, revision and key count, then asks to confirm (--yes: do not ask;\n  without a terminal, --yes is required); --force replaces a healthy cluster's data",
    options: { yes: { type: "boolean", short: "y" }, force: { type: "boolean" } },
    positionals: 1,
  },
  db: {
    usage:
      "db dumps <service> [<client>] | db dump <service> <client> | db restore <service> <client> <dump|latest> [--yes] [--instance N]\n  a database service's valid dumps (newest first); a dump now; restoring one into a client's database: shows the\n  dump's age and size, then asks (--yes: do not ask; without a terminal, --yes is required). The\n  current database is kept, renamed <db>__before_<time>",
    options: { yes: { type: "boolean", short: "y" }, instance: { type: "string" } },
    positionals: 4,
  },
  reconcile: {
    usage: "reconcile\n  run the reconcile function now; exit 1 when blocked or a repair failed",
    positionals: 0,
  },
  volume: {
    usage:
      "volume snapshot [<volume>] | volume restore <volume> <snapshot-id|latest> [--yes] | volume move <volume> --zone Z [--yes]\n" +
      "  <volume>: service/instance/volume, or a unit with one volume (db@1)\n" +
      "  snapshot: snapshot every service volume (or one) now, then apply retention\n" +
      "  restore: a new volume from the snapshot takes the volume's place; the unit is stopped first and\n" +
      "  comes back on it; the old volume is kept, detached and tagged retired (--yes: do not ask)\n" +
      "  move: the same from a snapshot taken now, into zone Z; the unit is then placed there",
    options: { zone: { type: "string" }, yes: { type: "boolean", short: "y" } },
    positionals: 3,
  },
};

export const OPS_USAGE = `Operating a cluster (the local one by default; --stack NAME --region R, or --profile NAME, for a deployed one):
  machines | members | units [--all] | services | volumes | snapshots
  status <unit> | journal <unit> [-f] [--node ID] | ssh <node|unit>
  start|stop|restart <unit> [--node ID] | deploy | snapshot | restore [<id>|latest] | reconcile
  volume snapshot [<volume>] | volume restore <volume> <snapshot|latest> | volume move <volume> --zone Z
  db dumps <service> [<client>] | db dump <service> <client> | db restore <service> <client> <dump|latest>
  common options: --json (one JSON document on stdout), --dir DIR (local), --stack/--region/--profile (AWS)
`;
