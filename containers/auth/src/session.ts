// The front door's session cookie (pure): who signed in, their groups and until when, signed with
// HMAC-SHA256 under a key from SSM Parameter Store. Several keys verify (rotation), the first signs.
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

export interface Session {
  /** The user name in the pool. */
  user: string;
  groups: string[];
  /** Seconds since the epoch. */
  issuedAt: number;
  expiresAt: number;
  /** Whether the user passed a second factor when signing in. */
  mfa: boolean;
}

export interface SessionKey {
  /** Short id carried in the cookie, so verification picks the key that signed it. */
  id: string;
  secret: Buffer;
}

const VERSION = "v1";
/** 32 bytes: HMAC-SHA256's block-size guidance; a shorter key is refused, not padded. */
export const MIN_KEY_BYTES = 32;

/**
 * The keys in a parameter's value: one per line (or blank-separated), base64 or hex, first one signs.
 * Rotation: put the new key first and keep the old one second until the longest session has expired.
 */
export function parseKeys(value: string): SessionKey[] {
  const words = value.split(/\s+/).filter(Boolean);
  if (!words.length) throw new Error("the session key parameter holds no key");
  return words.map((w, i) => {
    const secret =
      /^[0-9a-fA-F]+$/.test(w) && w.length % 2 === 0 ? Buffer.from(w, "hex") : Buffer.from(w, "base64");
    if (secret.length < MIN_KEY_BYTES)
      throw new Error(
        `session key ${i + 1} has ${secret.length} bytes; at least ${MIN_KEY_BYTES} are needed`,
      );
    return { id: createHash("sha256").update(secret).digest("base64url").slice(0, 8), secret };
  });
}

const mac = (key: SessionKey, data: string) => createHmac("sha256", key.secret).update(data).digest();

export function signSession(s: Session, keys: SessionKey[]): string {
  const key = keys[0];
  if (!key) throw new Error("no session key");
  const payload = Buffer.from(
    JSON.stringify({ u: s.user, g: s.groups, iat: s.issuedAt, exp: s.expiresAt, mfa: s.mfa }),
  ).toString("base64url");
  const data = `${VERSION}.${key.id}.${payload}`;
  return `${data}.${mac(key, data).toString("base64url")}`;
}

export type VerifyResult =
  { ok: true; session: Session } | { ok: false; reason: "malformed" | "signature" | "expired" };

/** Check a cookie value: a known key's valid MAC, a well-formed payload, not expired at `now` (seconds). */
export function verifySession(value: string, keys: SessionKey[], now: number): VerifyResult {
  const parts = value.split(".");
  if (parts.length !== 4 || parts[0] !== VERSION) return { ok: false, reason: "malformed" };
  const [, kid, payload, sig] = parts as [string, string, string, string];
  const key = keys.find((k) => k.id === kid);
  if (!key) return { ok: false, reason: "signature" };
  const want = mac(key, `${VERSION}.${kid}.${payload}`);
  const got = Buffer.from(sig, "base64url");
  if (got.length !== want.length || !timingSafeEqual(got, want)) return { ok: false, reason: "signature" };
  let p: unknown;
  try {
    p = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
  } catch {
    return { ok: false, reason: "malformed" };
  }
  const o = p as { u?: unknown; g?: unknown; iat?: unknown; exp?: unknown; mfa?: unknown };
  if (
    typeof o.u !== "string" ||
    !Array.isArray(o.g) ||
    !o.g.every((g) => typeof g === "string") ||
    typeof o.iat !== "number" ||
    typeof o.exp !== "number"
  )
    return { ok: false, reason: "malformed" };
  if (o.exp <= now) return { ok: false, reason: "expired" };
  return {
    ok: true,
    session: { user: o.u, groups: o.g as string[], issuedAt: o.iat, expiresAt: o.exp, mfa: o.mfa === true },
  };
}

/** The value of cookie `name` in a Cookie header (the first one). */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

/**
 * What the front door does with a request: 401 without a valid session, 403 when the service names
 * groups and the user is in none of them, else 200 with the user and groups for the backend.
 */
export function decide(
  cookie: string | undefined,
  allowed: string[],
  keys: SessionKey[],
  now: number,
): { status: 200; session: Session } | { status: 401; reason: string } | { status: 403; session: Session } {
  if (!cookie) return { status: 401, reason: "no session" };
  const v = verifySession(cookie, keys, now);
  if (!v.ok) return { status: 401, reason: v.reason };
  if (allowed.length && !v.session.groups.some((g) => allowed.includes(g)))
    return { status: 403, session: v.session };
  return { status: 200, session: v.session };
}

/** A redirect target after sign-in: a path on the same host only (never `//host` or a scheme). */
export function safeReturnPath(rd: string | undefined): string {
  if (!rd || !rd.startsWith("/") || rd.startsWith("//") || rd.startsWith("/\\") || /[\r\n]/.test(rd))
    return "/";
  if (rd.startsWith("/.auth/")) return "/";
  return rd;
}
