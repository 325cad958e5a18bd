// Who may use a service: presence's settings become the record's access fields, the record schema
// refuses a public service with groups, and the auth service's session cookie and decisions.
import { describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { loadPresenceConfig } from "../../../containers/presence/src/config.ts";
import { PresenceRecordSchema } from "../../../functions/domain/presence.ts";
import {
  cookieValue,
  decide,
  parseKeys,
  safeReturnPath,
  signSession,
  verifySession,
} from "../../../containers/auth/src/session.ts";

const base = { PRIVATE_IP: "10.0.0.5", UNIT: "wiki@1", PORTS: "http:8080", HTTP_PORT_NAME: "http" };

describe("access in presence records", () => {
  it("presence announces Public= and Groups= from its settings", () => {
    expect(loadPresenceConfig({ ...base, ACCESS_PUBLIC: "true" }).record.public).toBe(true);
    expect(loadPresenceConfig({ ...base, ACCESS_GROUPS: "admins,developers" }).record.groups).toEqual([
      "admins",
      "developers",
    ]);
    const plain = loadPresenceConfig({ ...base, ACCESS_PUBLIC: "", ACCESS_GROUPS: "" }).record;
    expect(plain.public).toBeUndefined();
    expect(plain.groups).toBeUndefined();
    expect(() => loadPresenceConfig({ ...base, ACCESS_GROUPS: "a b;c" })).toThrow(/groups/);
  });

  it("a record cannot be public and name groups", () => {
    const r = PresenceRecordSchema.safeParse({
      service: "wiki",
      instance: "1",
      privateIp: "10.0.0.5",
      port: 8080,
      ports: { http: 8080 },
      public: true,
      groups: ["admins"],
    });
    expect(r.success).toBe(false);
  });
});

describe("session cookie", () => {
  const keys = parseKeys(randomBytes(32).toString("base64"));
  const s = { user: "alice", groups: ["developers"], issuedAt: 100, expiresAt: 200, mfa: false };

  it("verifies what it signed until it expires, with any of the keys (rotation)", () => {
    const c = signSession(s, keys);
    expect(verifySession(c, keys, 150)).toEqual({ ok: true, session: s });
    expect(verifySession(c, keys, 200)).toEqual({ ok: false, reason: "expired" });
    const next = parseKeys(`${randomBytes(32).toString("hex")}\n${keys[0]!.secret.toString("base64")}`);
    expect(verifySession(c, next, 150).ok).toBe(true);
    expect(verifySession(signSession(s, next), keys, 150)).toEqual({ ok: false, reason: "signature" });
  });

  it("refuses short or missing keys", () => {
    expect(() => parseKeys("")).toThrow(/no key/);
    expect(() => parseKeys(randomBytes(16).toString("base64"))).toThrow(/16 bytes; at least 32/);
  });

  it("decides 401 without a valid session, 403 outside the groups, 200 with the user", () => {
    const c = signSession(s, keys);
    expect(decide(undefined, [], keys, 150)).toEqual({ status: 401, reason: "no session" });
    expect(decide(c, ["admins"], keys, 150).status).toBe(403);
    expect(decide(c, ["admins", "developers"], keys, 150).status).toBe(200);
    expect(decide(c, [], keys, 150).status).toBe(200);
    expect(decide(c, [], keys, 250)).toEqual({ status: 401, reason: "expired" });
  });

  it("reads the cookie from a Cookie header and only returns to paths of the same host", () => {
    expect(cookieValue("a=1; devcluster_session=x.y; b=2", "devcluster_session")).toBe("x.y");
    expect(cookieValue("a=1", "devcluster_session")).toBeUndefined();
    expect(safeReturnPath("/wiki?a=1&b=2")).toBe("/wiki?a=1&b=2");
    for (const bad of ["//evil.example/", "https://evil.example/", "/\\evil", "/.auth/login", "", undefined])
      expect(safeReturnPath(bad)).toBe("/");
  });
});
