// The front door's renderer: instance sets -> nginx.conf, each rendered file checked by the real
// `nginx -t` (Debian's nginx, prefix under a temp dir, loopback addresses).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  PresenceRecordSchema,
  type PresenceRecord,
  type ServicePresence,
} from "../../functions/domain/presence.ts";
import { createLogger } from "../../functions/runtime/log.ts";
import {
  accessOf,
  renderNginxConfig,
  type FrontDoorSettings,
} from "../../containers/frontdoor/src/render.ts";
import { confPath, installConfig, preparePrefix, testConfig } from "../../containers/frontdoor/src/nginx.ts";

const NGINX = process.env.NGINX_BIN ?? "/usr/sbin/nginx";
let dir: string;
let settings: FrontDoorSettings;
let tls: { certFile: string; keyFile: string };

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "frontdoor-render-"));
  preparePrefix(dir);
  settings = {
    domain: "dev.test",
    listenAddress: "127.0.0.1",
    httpPort: 18080,
    httpsPort: 18443,
    prefix: dir,
    modulesDir: "/usr/lib/nginx/modules",
  };
  tls = { certFile: join(dir, "tls", "cert.pem"), keyFile: join(dir, "tls", "key.pem") };
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-subj",
      "/CN=*.dev.test",
      "-days",
      "2",
      "-keyout",
      tls.keyFile,
      "-out",
      tls.certFile,
    ],
    { stdio: "ignore" },
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const rec = (
  service: string,
  instance: string,
  ip: string,
  ports: Record<string, number>,
  extra: Partial<PresenceRecord> = {},
): PresenceRecord =>
  PresenceRecordSchema.parse({
    service,
    instance,
    node: "i-0123456789abcdef0",
    privateIp: ip,
    port: Object.values(ports)[0],
    ports,
    ...extra,
  });
const svc = (service: string, instances: PresenceRecord[]): ServicePresence => ({ service, instances });

async function nginxT(text: string) {
  const file = join(dir, "conf", `t-${Math.random().toString(36).slice(2)}.conf`);
  writeFileSync(file, text);
  try {
    return await testConfig({ bin: NGINX, prefix: dir }, file);
  } finally {
    rmSync(file, { force: true });
  }
}

describe("front door renderer", () => {
  it("with no instance, every name of the domain gets a 503 and the file passes nginx -t", async () => {
    const r = renderNginxConfig([], settings);
    expect(r.vhosts).toEqual([]);
    expect(r.streams).toEqual([]);
    expect(r.text).toContain("server_name *.dev.test;");
    expect(r.text).toMatch(/return 503 /);
    expect(r.text).not.toMatch(/upstream /);
    expect(r.text).not.toContain("load_module");
    expect(await nginxT(r.text)).toEqual({ ok: true });
  });

  it("connects to backends from its own address (a backend may trust front doors by address)", async () => {
    expect(renderNginxConfig([], settings).text).toContain("proxy_bind 127.0.0.1;");
    const any = renderNginxConfig([], { ...settings, listenAddress: "0.0.0.0" });
    expect(any.text).not.toContain("proxy_bind");
    expect(await nginxT(any.text)).toEqual({ ok: true });
  });

  it("with one instance, it renders one virtual host whose upstream is that instance", async () => {
    const r = renderNginxConfig(
      [svc("hello", [rec("hello", "1", "127.0.0.5", { http: 8080 }, { http: "http", public: true })])],
      settings,
    );
    expect(r.vhosts).toEqual([
      {
        service: "hello",
        host: "hello.dev.test",
        upstream: { name: "http-hello", servers: ["127.0.0.5:8080"] },
        access: { public: true },
      },
    ]);
    expect(r.text).toContain("server_name hello.dev.test;");
    expect(r.text).toContain("server 127.0.0.5:8080 max_fails=1 fail_timeout=5s;");
    expect(r.text).toContain("proxy_pass http://http-hello;");
    expect(r.text).toContain("worker_processes auto;");
    expect(await nginxT(r.text)).toEqual({ ok: true });
    expect(renderNginxConfig([], { ...settings, workers: 1 }).text).toContain("worker_processes 1;");
  });

  it("with many services and instances, it renders hosts, streams and skips what has no HTTP port", async () => {
    const services = [
      svc("wiki", [
        rec("wiki", "1", "127.0.0.5", { http: 8080 }, { http: "http" }),
        rec("wiki", "2", "127.0.0.6", { web: 9090 }, { http: "web" }),
      ]),
      svc("gerrit", [
        rec(
          "gerrit",
          "1",
          "127.0.0.7",
          { http: 8081, ssh: 29418 },
          { http: "http", streams: { ssh: 29418 } },
        ),
      ]),
      svc("cache", [rec("cache", "1", "127.0.0.8", { port: 6379 })]),
      svc("git2", [rec("git2", "1", "127.0.0.9", { ssh: 22 }, { streams: { ssh: 29418 } })]),
    ];
    const r = renderNginxConfig(services, { ...settings, user: "nobody nogroup" });
    expect(r.vhosts.map((v) => [v.host, v.upstream.servers])).toEqual([
      ["gerrit.dev.test", ["127.0.0.7:8081"]],
      ["wiki.dev.test", ["127.0.0.5:8080", "127.0.0.6:9090"]],
    ]);
    expect(r.streams.map((s) => [s.service, s.listenPort, s.upstream.servers])).toEqual([
      ["gerrit", 29418, ["127.0.0.7:29418"]],
    ]);
    // The same front-door port claimed twice: the first service (by name) keeps it, the other is reported.
    expect(r.issues).toEqual([
      { code: "stream.port_taken", service: "git2", detail: expect.stringContaining("29418") },
    ]);
    expect(r.text).toContain("load_module /usr/lib/nginx/modules/ngx_stream_module.so;");
    expect(r.text).toContain("listen 127.0.0.1:29418;");
    expect(r.text).not.toContain("cache.dev.test");
    expect(await nginxT(r.text)).toEqual({ ok: true });
  });

  it("with TLS, it serves HTTPS only on TLS 1.2+ and redirects HTTP, and the file passes nginx -t with the real key", async () => {
    const r = renderNginxConfig(
      [svc("hello", [rec("hello", "1", "127.0.0.5", { http: 8080 }, { http: "http" })])],
      { ...settings, tls },
    );
    expect(r.text).toContain("ssl_protocols TLSv1.2 TLSv1.3;");
    expect(r.text).not.toMatch(/TLSv1(\.1)?[ ;]/);
    expect(r.text).toContain("listen 127.0.0.1:18443 ssl;");
    expect(r.text).toContain("return 301 https://$host:18443$request_uri;");
    expect(r.text).toContain(`ssl_certificate_key ${tls.keyFile};`);
    expect(await nginxT(r.text)).toEqual({ ok: true });
  });

  it("without TLS settings, nothing listens on the HTTPS port", () => {
    const r = renderNginxConfig(
      [svc("hello", [rec("hello", "1", "127.0.0.5", { http: 8080 }, { http: "http" })])],
      settings,
    );
    expect(r.text).not.toContain("ssl");
    expect(r.text).not.toContain(":18443");
  });

  it("a stream on the front door's own HTTP port is refused with a reason", () => {
    const r = renderNginxConfig(
      [svc("odd", [rec("odd", "1", "127.0.0.5", { raw: 7000 }, { streams: { raw: 18080 } })])],
      settings,
    );
    expect(r.streams).toEqual([]);
    expect(r.issues[0]).toMatchObject({ code: "stream.port_taken", service: "odd" });
  });

  it("installs a candidate only when nginx -t accepts it", async () => {
    const log = createLogger({}, () => {});
    const good = renderNginxConfig([], settings).text;
    expect(await installConfig({ bin: NGINX, prefix: dir }, good, log)).toBe(true);
    expect(readFileSync(confPath(dir), "utf8")).toBe(good);
    expect(
      await installConfig(
        { bin: NGINX, prefix: dir },
        good.replace("worker_processes auto;", "worker_processes auto"),
        log,
      ),
    ).toBe(false);
    expect(readFileSync(confPath(dir), "utf8")).toBe(good);
  });

  it("asks the auth service on every request to a protected host, passes who signed in, and strips identity headers", async () => {
    const auth = rec("auth", "1", "127.0.0.9", { http: 8090 }, { http: "http", public: true });
    const r = renderNginxConfig(
      [
        svc("auth", [auth]),
        svc("wiki", [
          rec("wiki", "1", "127.0.0.5", { http: 8080 }, { http: "http", groups: ["developers"] }),
        ]),
        svc("www", [rec("www", "1", "127.0.0.6", { http: 8080 }, { http: "http", public: true })]),
      ],
      settings,
    );
    const block = (host: string) => {
      const start = r.text.indexOf(`server_name ${host};`);
      return r.text.slice(start, r.text.indexOf("\n    }\n", start));
    };
    const wiki = block("wiki.dev.test");
    expect(wiki).toContain("auth_request /.auth/check;");
    expect(wiki).toContain("proxy_pass http://http-auth/.auth/check;");
    expect(wiki).toContain('proxy_set_header X-Devcluster-Groups "developers";');
    expect(wiki).toContain("error_page 401 /.auth/login;");
    expect(wiki).toContain("proxy_set_header X-Remote-User $devcluster_user;");
    expect(wiki).toContain("proxy_set_header Cookie $devcluster_backend_cookie;");
    // A public host asks nobody, and still never passes identity headers from outside.
    const www = block("www.dev.test");
    expect(www).not.toContain("auth_request");
    expect(www).toContain('proxy_set_header X-Remote-User "";');
    expect(www).toContain('proxy_set_header X-Remote-Groups "";');
    expect(await nginxT(r.text)).toEqual({ ok: true });
    expect(await nginxT(renderNginxConfig([svc("auth", [auth])], { ...settings, tls }).text)).toEqual({
      ok: true,
    });
  });

  it("without an auth instance, protected hosts answer 503 (fail closed) and public ones are served", async () => {
    const r = renderNginxConfig(
      [
        svc("wiki", [rec("wiki", "1", "127.0.0.5", { http: 8080 }, { http: "http" })]),
        svc("www", [rec("www", "1", "127.0.0.6", { http: 8080 }, { http: "http", public: true })]),
      ],
      settings,
    );
    expect(r.text).toContain("sign-in is unavailable");
    expect(r.text).not.toContain("proxy_pass http://http-wiki;");
    expect(r.text).toContain("proxy_pass http://http-www;");
    expect(await nginxT(r.text)).toEqual({ ok: true });
  });

  it("instances that disagree get the strictest policy", () => {
    expect(accessOf([{ public: true }, { public: true }])).toEqual({ public: true });
    expect(accessOf([{ public: true }, {}])).toEqual({ public: false });
    expect(accessOf([{ groups: ["a", "b"] }, { groups: ["b", "c"] }])).toEqual({
      public: false,
      groups: ["b"],
    });
    expect(accessOf([{ groups: ["a"] }, { groups: ["b"] }])).toEqual({ public: false, groups: [] });
    expect(accessOf([{ public: true }, { groups: ["a"] }])).toEqual({ public: false, groups: ["a"] });
    expect(accessOf([])).toEqual({ public: false });
  });
});
