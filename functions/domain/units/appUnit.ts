// Ad-hoc apps: the catalog unit `devcluster app new` writes for a team member's own image (one
// container, one HTTP port, optional volumes, behind the front door). Pure: the spec is checked and
// the unit file rendered here; the command writes it after the whole catalog with it loads.
import { InvalidInputError } from "../errors.ts";
import { ETCD_CLIENT_PORT, ETCD_HTTP_PORT, ETCD_PEER_PORT } from "../model.ts";

export interface AppVolume {
  name: string;
  sizeGiB: number;
  /** Where the app's container sees it. */
  containerPath: string;
}

export interface AppSpec {
  name: string;
  image: string;
  port: number;
  volumes: AppVolume[];
  /** Served without sign-in; otherwise any signed-in user, or only `groups` when given. */
  public: boolean;
  groups: string[];
  instances: number;
  /** `http:<port>/<path>` health check path, e.g. `/healthz`; default a TCP connect. */
  healthPath?: string;
}

/** The first line of every file the command writes: how `app new --force` knows it may replace one. */
export const APP_MARKER = "# devcluster app:";

const NAME = /^[a-z][a-z0-9-]{0,30}$/;
const VOLUME_NAME = /^[a-z][a-z0-9-]{0,31}$/;
const GROUP = /^[A-Za-z0-9_.-]{1,128}$/;
/**
 * An image reference with a tag (never `latest`) or a digest: `[registry/]path[:tag][@sha256:...]`.
 * Only the characters references allow, since it is written into a unit's command line.
 */
const IMAGE =
  /^(?:[a-z0-9][a-z0-9.-]*(?::\d{1,5})?\/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::([A-Za-z0-9_][A-Za-z0-9._-]{0,127}))?(@sha256:[0-9a-f]{64})?$/;
const CONTAINER_PATH = /^(\/[A-Za-z0-9._-]+)+$/;
const HEALTH_PATH = /^\/[A-Za-z0-9._~/-]{0,200}$/;
/** Ports the node itself uses: etcd's client, peer, metrics (2381) and HTTP ports. */
const NODE_PORTS = new Set([ETCD_CLIENT_PORT, ETCD_PEER_PORT, 2381, ETCD_HTTP_PORT]);

/** Check an app's spec; every problem at once, as `--option: reason`. */
export function checkAppSpec(spec: AppSpec): void {
  const problems: string[] = [];
  if (!NAME.test(spec.name))
    problems.push(
      `name: '${spec.name}' must be lower-case letters, digits and '-', starting with a letter, at most 31`,
    );
  const m = IMAGE.exec(spec.image);
  if (!m) problems.push(`--image: '${spec.image}' is not an image reference`);
  else if (!m[1] && !m[2])
    problems.push(`--image: '${spec.image}' names no tag or digest; pin it (e.g. :1.4.2 or @sha256:...)`);
  else if (m[1] === "latest" && !m[2])
    problems.push(`--image: '${spec.image}' is the mutable tag latest; pin a version or a digest`);
  if (!Number.isInteger(spec.port) || spec.port < 1024 || spec.port > 65535)
    problems.push(`--port: ${spec.port} must be a whole number from 1024 to 65535`);
  else if (NODE_PORTS.has(spec.port)) problems.push(`--port: ${spec.port} is etcd's on every node`);
  if (!Number.isInteger(spec.instances) || spec.instances < 1 || spec.instances > 20)
    problems.push(`--instances: ${spec.instances} must be 1 to 20`);
  if (spec.public && spec.groups.length) problems.push("--public and --group exclude each other");
  for (const g of spec.groups) if (!GROUP.test(g)) problems.push(`--group: '${g}' is not a group name`);
  const names = new Set<string>();
  for (const v of spec.volumes) {
    if (!VOLUME_NAME.test(v.name)) problems.push(`--volume: '${v.name}' is not a volume name`);
    if (names.has(v.name)) problems.push(`--volume: '${v.name}' is given twice`);
    names.add(v.name);
    if (!Number.isInteger(v.sizeGiB) || v.sizeGiB < 1 || v.sizeGiB > 16384)
      problems.push(`--volume ${v.name}: size ${v.sizeGiB} must be 1 to 16384 GiB`);
    if (
      !CONTAINER_PATH.test(v.containerPath) ||
      v.containerPath.split("/").some((s) => s === "." || s === "..")
    )
      problems.push(`--volume ${v.name}: '${v.containerPath}' must be an absolute path without . or ..`);
  }
  if (spec.healthPath !== undefined && !HEALTH_PATH.test(spec.healthPath))
    problems.push(`--health: '${spec.healthPath}' must be a path such as /healthz`);
  if (problems.length) throw new InvalidInputError(`app new: the app is not valid`, problems);
}

/** Parse `--volume <name>:<GiB>:<container path>`. */
export function parseAppVolume(text: string): AppVolume {
  const m = /^([^:]*):([^:]*):(.*)$/.exec(text);
  if (!m) throw new InvalidInputError(`--volume: '${text}' is not <name>:<size GiB>:<container path>`);
  return { name: m[1]!, sizeGiB: /^\d+$/.test(m[2]!) ? Number(m[2]) : NaN, containerPath: m[3]! };
}

/** The unit file of an app (checked first). */
export function renderAppUnit(spec: AppSpec): string {
  checkAppSpec(spec);
  const { name, port } = spec;
  // Each volume is mounted by the node under /srv/<app>-<instance>/<volume> and bound into the container.
  const mounts = spec.volumes.map((v) => ({ ...v, nodePath: `/srv/${name}-%i/${v.name}` }));
  const access = spec.public
    ? "Public=true"
    : spec.groups.length
      ? `Groups=${spec.groups.join(" ")}`
      : "# Any signed-in user (Groups=<group> ... narrows it; Public=true opens it).";
  const who = spec.public
    ? "without sign-in"
    : spec.groups.length
      ? `to members of ${spec.groups.join(", ")}`
      : "to any signed-in user";
  const run = [
    `ExecStart=/usr/bin/docker run --rm --name %p-%i -p \${PRIVATE_IP}:${port}:${port} -e PORT=${port}`,
    ...mounts.map((v) => `-v ${v.nodePath}:${v.containerPath}`),
    spec.image,
  ];
  return [
    `${APP_MARKER} ${name}`,
    `# ${spec.image} on port ${port}, served as ${name}.<domain> ${who} (docs/APPS.md).`,
    `# The container gets PORT and is reached on the node's private address only; edit freely.`,
    "[Unit]",
    `Description=${name} %i (app)`,
    "After=docker.service",
    "Requires=docker.service",
    "",
    "[Service]",
    "EnvironmentFile=-/etc/devcluster/node.env",
    "ExecStartPre=-/usr/bin/docker rm -f %p-%i",
    run.join(" \\\n    "),
    "ExecStop=/usr/bin/docker stop %p-%i",
    "Restart=always",
    "RestartSec=5s",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
    "[X-Fleet]",
    "MachineMetadata=role=worker",
    // Instances publish the same port on their node's address: one per node.
    ...(spec.instances > 1 ? [`Conflicts=${name}@*.service`] : []),
    "",
    "[X-Devcluster]",
    `Instances=${spec.instances}`,
    "Sidecars=presence",
    `Ports=http:${port}`,
    "Http=http",
    access,
    `HealthCheck=${spec.healthPath !== undefined ? `http:http${spec.healthPath}` : "tcp:http"}`,
    ...mounts.map((v) => `Volume=${v.name}:${v.sizeGiB}:${v.nodePath}`),
    "",
  ].join("\n");
}
