// The front door's nginx configuration as a pure function of the announced instances: one virtual
// host `<service>.<domain>` per service with an HTTP port, one TCP stream per declared stream port,
// and a 503 answer for every name of the domain that has no instance.
import type { ServicePresence } from "../../../functions/domain/presence.ts";
import { AUTH_PATH, SESSION_COOKIE } from "../../shared/sso.ts";

export interface FrontDoorSettings {
  domain: string;
  listenAddress: string;
  httpPort: number;
  httpsPort: number;
  /** nginx's prefix: pid file and temp paths live under it. */
  prefix: string;
  /** Where `ngx_stream_module.so` is (loaded only when a stream is rendered). */
  modulesDir: string;
  /** Certificate chain and key files; without them the front door serves HTTP only. */
  tls?: { certFile: string; keyFile: string };
  /** Worker user (`nobody nogroup`); omitted: nginx's default for the user it runs as. */
  user?: string;
  /** nginx worker processes; omitted: one per core. */
  workers?: number;
  /** The service that signs users in and answers the sign-in check (default `auth`). */
  authService?: string;
}

/** Who may use a virtual host: everyone, or signed-in users (of `groups` only, when given). */
export interface Access {
  public: boolean;
  groups?: string[];
}

export interface Upstream {
  name: string;
  servers: string[];
}
export interface VirtualHost {
  service: string;
  host: string;
  upstream: Upstream;
  access: Access;
}
export interface Stream {
  service: string;
  portName: string;
  listenPort: number;
  upstream: Upstream;
}
export interface RenderIssue {
  code: "stream.port_taken";
  service: string;
  detail: string;
}

export interface RenderedConfig {
  text: string;
  vhosts: VirtualHost[];
  streams: Stream[];
  /** What was left out, with why (the rest is still served). */
  issues: RenderIssue[];
}

const addr = (ip: string, port: number) => `${ip}:${port}`;

/**
 * One policy for a service whose instances may disagree (a catalog change rolling out): the
 * strictest wins. Public only if every instance says so; the groups every instance allows.
 */
export function accessOf(
  instances: Pick<ServicePresence["instances"][number], "public" | "groups">[],
): Access {
  if (instances.length && instances.every((i) => i.public === true)) return { public: true };
  let groups: Set<string> | undefined;
  for (const i of instances) {
    if (i.public || !i.groups) continue;
    groups = groups ? new Set(i.groups.filter((g) => groups!.has(g))) : new Set(i.groups);
  }
  return groups ? { public: false, groups: [...groups].sort() } : { public: false };
}

/** Which virtual hosts and streams the instances ask for (deterministic: services by name, instances by id). */
export function planRoutes(services: ServicePresence[], s: FrontDoorSettings) {
  const vhosts: VirtualHost[] = [];
  const streams: Stream[] = [];
  const issues: RenderIssue[] = [];
  const taken = new Map<number, string>([
    [s.httpPort, "the front door's HTTP port"],
    ...(s.tls ? ([[s.httpsPort, "the front door's HTTPS port"]] as [number, string][]) : []),
  ]);
  for (const svc of [...services].sort((a, b) => (a.service < b.service ? -1 : 1))) {
    const http = svc.instances.filter((i) => i.http !== undefined);
    const servers = [...new Set(http.map((i) => addr(i.privateIp, i.ports[i.http!]!)))];
    if (servers.length)
      vhosts.push({
        service: svc.service,
        host: `${svc.service}.${s.domain}`,
        upstream: { name: `http-${svc.service}`, servers },
        access: accessOf(http),
      });

    const byPort = new Map<number, { portName: string; servers: Set<string> }>();
    for (const i of svc.instances) {
      for (const [portName, listenPort] of Object.entries(i.streams ?? {})) {
        const e =
          byPort.get(listenPort) ?? byPort.set(listenPort, { portName, servers: new Set() }).get(listenPort)!;
        if (e.portName === portName) e.servers.add(addr(i.privateIp, i.ports[portName]!));
      }
    }
    for (const [listenPort, e] of [...byPort].sort((a, b) => a[0] - b[0])) {
      const holder = taken.get(listenPort);
      if (holder) {
        issues.push({
          code: "stream.port_taken",
          service: svc.service,
          detail: `port ${listenPort} (${e.portName}) is already ${holder}`,
        });
        continue;
      }
      taken.set(listenPort, `service ${svc.service}'s ${e.portName} stream`);
      streams.push({
        service: svc.service,
        portName: e.portName,
        listenPort,
        upstream: { name: `tcp-${svc.service}-${e.portName}`, servers: [...e.servers].sort() },
      });
    }
  }
  return { vhosts, streams, issues };
}

/** Identity headers never come from outside: nginx sets them (empty: not sent) on every proxied request. */
const NO_IDENTITY = ['proxy_set_header X-Remote-User "";', 'proxy_set_header X-Remote-Groups "";'];

const PROXY_HEADERS = [
  "proxy_http_version 1.1;",
  "proxy_set_header Host $host;",
  "proxy_set_header X-Real-IP $remote_addr;",
  "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
  "proxy_set_header X-Forwarded-Proto $scheme;",
  "proxy_set_header Upgrade $http_upgrade;",
  "proxy_set_header Connection $connection_upgrade;",
];

/** Render the whole nginx.conf. Every name in it was validated upstream (DNS labels, IPv4, ports). */
export function renderNginxConfig(services: ServicePresence[], s: FrontDoorSettings): RenderedConfig {
  const { vhosts, streams, issues } = planRoutes(services, s);
  const L: string[] = [];
  const p = (indent: number, line: string) => L.push("    ".repeat(indent) + line);
  const listenHttp = addr(s.listenAddress, s.httpPort);
  const listenHttps = addr(s.listenAddress, s.httpsPort);
  const wildcard = `*.${s.domain}`;

  p(0, "# Rendered by the devcluster front door from etcd presence records; rewritten on every change.");
  if (streams.length) p(0, `load_module ${s.modulesDir}/ngx_stream_module.so;`);
  if (s.user) p(0, `user ${s.user};`);
  p(0, `worker_processes ${s.workers ?? "auto"};`);
  p(0, `pid ${s.prefix}/nginx.pid;`);
  p(0, "error_log stderr warn;");
  p(0, "events { worker_connections 4096; }");
  p(0, "");
  p(0, "http {");
  p(1, "access_log off;");
  p(1, "server_tokens off;");
  p(1, "default_type text/plain;");
  for (const t of ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"])
    p(1, `${t}_temp_path ${s.prefix}/tmp/${t};`);
  p(1, "server_names_hash_bucket_size 128;");
  // Backends see requests come from the front door's own address (the one announced for it), not
  // whatever source the kernel picks: a backend that trusts only front doors can check it.
  if (s.listenAddress !== "0.0.0.0") p(1, `proxy_bind ${s.listenAddress};`);
  p(1, "map $http_upgrade $connection_upgrade { default upgrade; '' ''; }");
  // Backends never see the session cookie: a backend could otherwise replay it to other services.
  p(1, "map $http_cookie $devcluster_backend_cookie {");
  p(2, "default $http_cookie;");
  p(2, `"~^(?<before>.*?)(?:^|;\\s*)${SESSION_COOKIE}=[^;]*(?<after>.*)$" "$before$after";`);
  p(1, "}");
  if (s.tls) {
    p(1, `ssl_certificate ${s.tls.certFile};`);
    p(1, `ssl_certificate_key ${s.tls.keyFile};`);
    p(1, "ssl_protocols TLSv1.2 TLSv1.3;");
    p(1, "ssl_prefer_server_ciphers off;");
    p(1, "ssl_session_cache shared:TLS:10m;");
    p(1, "ssl_session_timeout 1h;");
  }
  const auth = vhosts.find((v) => v.service === (s.authService ?? "auth"));
  // Sign-in decisions are kept only as long as the auth service says (X-Accel-Expires: a few
  // seconds, never past the session's expiry); nothing else the front door proxies is cached.
  if (auth && vhosts.some((v) => !v.access.public))
    p(
      1,
      `proxy_cache_path ${s.prefix}/cache/auth levels=1 keys_zone=devcluster_auth:1m max_size=16m inactive=60s use_temp_path=off;`,
    );
  for (const v of vhosts) {
    p(1, "");
    p(1, `upstream ${v.upstream.name} {`);
    for (const srv of v.upstream.servers) p(2, `server ${srv} max_fails=1 fail_timeout=5s;`);
    p(2, "keepalive 32;");
    p(1, "}");
  }

  const serverBlocks = (listen: string, ssl: boolean) => {
    const l = `listen ${listen}${ssl ? " ssl" : ""}`;
    p(1, "");
    p(1, "server {");
    p(2, `${l} default_server;`);
    p(2, "server_name _;");
    p(2, `location / { return 404 "no service of this front door answers to $host\\n"; }`);
    p(1, "}");
    p(1, "server {");
    p(2, `${l};`);
    p(2, `server_name ${wildcard};`);
    p(2, `location / { return 503 "no instance of $host is available\\n"; }`);
    p(1, "}");
    for (const v of vhosts) {
      p(1, "server {");
      p(2, `${l};`);
      p(2, `server_name ${v.host};`);
      if (v.access.public) {
        p(2, "location / {");
        p(3, `proxy_pass http://${v.upstream.name};`);
        for (const h of [...PROXY_HEADERS, ...NO_IDENTITY]) p(3, h);
        p(2, "}");
      } else if (!auth) {
        // Fail closed: without the auth service nobody can be signed in, so nothing protected is served.
        p(2, `location / { return 503 "sign-in is unavailable: no instance of the auth service\\n"; }`);
      } else {
        protectedLocations(v, auth);
      }
      p(1, "}");
    }
  };

  // Every request asks the auth service (a subrequest carrying the cookie and the groups allowed):
  // 200 passes with the user and groups it answered, 401 shows the login page, 403 refuses.
  function protectedLocations(v: VirtualHost, a: VirtualHost) {
    p(2, `location = ${AUTH_PATH}check {`);
    p(3, "internal;");
    p(3, `proxy_pass http://${a.upstream.name}${AUTH_PATH}check;`);
    p(3, "proxy_pass_request_body off;");
    p(3, 'proxy_set_header Content-Length "";');
    p(3, "proxy_http_version 1.1;");
    p(3, 'proxy_set_header Connection "";');
    p(3, "proxy_set_header Host $host;");
    p(3, "proxy_set_header X-Original-URI $request_uri;");
    const groups = (v.access.groups ?? []).join(" ");
    p(3, `proxy_set_header X-Devcluster-Groups "${groups}";`);
    // The answer depends only on the cookie header and the groups allowed: exactly the cache key.
    p(3, "proxy_cache devcluster_auth;");
    p(3, `proxy_cache_key "${groups}|$http_cookie";`);
    p(3, "proxy_cache_methods GET HEAD;");
    p(3, "proxy_method GET;");
    p(3, "proxy_ignore_headers Cache-Control Expires;");
    for (const h of NO_IDENTITY) p(3, h);
    p(2, "}");
    p(2, `location ^~ ${AUTH_PATH} {`);
    p(3, `proxy_pass http://${a.upstream.name};`);
    for (const h of [...PROXY_HEADERS, ...NO_IDENTITY]) p(3, h);
    p(3, "proxy_set_header X-Original-URI $request_uri;");
    p(2, "}");
    p(2, "location / {");
    p(3, `auth_request ${AUTH_PATH}check;`);
    p(3, "auth_request_set $devcluster_user $upstream_http_x_remote_user;");
    p(3, "auth_request_set $devcluster_groups $upstream_http_x_remote_groups;");
    p(3, `error_page 401 ${AUTH_PATH}login;`);
    p(3, `proxy_pass http://${v.upstream.name};`);
    for (const h of PROXY_HEADERS) p(3, h);
    p(3, "proxy_set_header X-Remote-User $devcluster_user;");
    p(3, "proxy_set_header X-Remote-Groups $devcluster_groups;");
    p(3, "proxy_set_header Cookie $devcluster_backend_cookie;");
    p(2, "}");
  }

  if (s.tls) {
    // HTTP only redirects: credentials and sessions never travel in clear.
    p(1, "");
    p(1, "server {");
    p(2, `listen ${listenHttp} default_server;`);
    p(2, "server_name _;");
    p(
      2,
      `location / { return 301 https://$host${s.httpsPort === 443 ? "" : `:${s.httpsPort}`}$request_uri; }`,
    );
    p(1, "}");
    serverBlocks(listenHttps, true);
  } else {
    serverBlocks(listenHttp, false);
  }
  p(0, "}");

  if (streams.length) {
    p(0, "");
    p(0, "stream {");
    for (const st of streams) {
      p(1, `upstream ${st.upstream.name} {`);
      for (const srv of st.upstream.servers) p(2, `server ${srv} max_fails=1 fail_timeout=5s;`);
      p(1, "}");
      p(1, "server {");
      p(2, `listen ${addr(s.listenAddress, st.listenPort)};`);
      p(2, `proxy_pass ${st.upstream.name};`);
      p(2, "proxy_connect_timeout 3s;");
      p(1, "}");
    }
    p(0, "}");
  }
  return { text: L.join("\n") + "\n", vhosts, streams, issues };
}
