// Presence records: the one parser every reader uses, over real key layouts (JSON record, the
// original cluster's plain keys, masters, settings that are not presence, malformed input).
import { describe, expect, it } from "vitest";
import {
  announcementKeys,
  parsePorts,
  parsePresence,
  PresenceRecordSchema,
} from "../../../functions/domain/presence.ts";

const good = PresenceRecordSchema.parse({
  service: "hello",
  instance: "1",
  node: "i-1",
  privateIp: "10.0.0.1",
  port: 8080,
  ports: { http: 8080 },
  http: "http",
});

describe("parsePresence", () => {
  it("reads what announcementKeys writes, once per instance", () => {
    const kvs = Object.fromEntries(announcementKeys(good));
    const p = parsePresence(kvs);
    expect(p.issues).toEqual([]);
    expect(p.services.get("hello")).toEqual({ service: "hello", instances: [good] });
  });

  it("reads an instance written only with the original plain keys", () => {
    const p = parsePresence({
      "/services/legacy/instances/a/private_ip": "10.0.0.2",
      "/services/legacy/instances/a/public_ip": "",
      "/services/legacy/instances/a/port": "5432",
    });
    expect(p.issues).toEqual([]);
    expect(p.services.get("legacy")!.instances).toEqual([
      {
        service: "legacy",
        instance: "a",
        node: "",
        privateIp: "10.0.0.2",
        publicIp: "",
        port: 5432,
        ports: { port: 5432 },
      },
    ]);
  });

  it("skips settings that are not presence and lists every malformed record with why", () => {
    const p = parsePresence({
      ...Object.fromEntries(announcementKeys(good)),
      "/services/nginx/dns_name": "www.example.com",
      "/services/hello/instances/2": "{not json",
      "/services/hello/instances/3": JSON.stringify({ ...good, instance: "4" }),
      "/services/hello/instances/5": JSON.stringify({ ...good, instance: "5", privateIp: "300.1.1.1" }),
      "/services/hello/instances/6": JSON.stringify({ ...good, instance: "6", http: "admin" }),
      "/services/Bad/instances/1": JSON.stringify(good),
      "/services/old/instances/x/private_ip": "10.0.0.3",
      "/services/hello/master": "garbage",
    });
    expect(p.services.get("hello")!.instances).toEqual([good]);
    expect(p.services.get("hello")!.master).toBeUndefined();
    expect(p.issues.map((i) => i.key).sort()).toEqual([
      "/services/Bad/instances/1",
      "/services/hello/instances/2",
      "/services/hello/instances/3",
      "/services/hello/instances/5",
      "/services/hello/instances/6",
      "/services/hello/master",
      "/services/old/instances/x/*",
    ]);
    expect(p.issues.find((i) => i.key.endsWith("/3"))!.reason).toMatch(/instance '4'/);
    expect(p.issues.find((i) => i.key.endsWith("/6"))!.reason).toMatch(/http/);
  });
});

describe("parsePorts", () => {
  it("reads named ports in order, a bare port as 'port', and refuses bad ones", () => {
    expect(parsePorts("http:8080,ssh:29418")).toEqual({ http: 8080, ssh: 29418 });
    expect(Object.keys(parsePorts("ssh:22 http:80"))).toEqual(["ssh", "http"]);
    expect(parsePorts("8080")).toEqual({ port: 8080 });
    expect(() => parsePorts("http:0")).toThrow(/http:0/);
    expect(() => parsePorts("a:1,a:2")).toThrow(/twice/);
    expect(() => parsePorts("")).toThrow(/no port/);
  });
});
