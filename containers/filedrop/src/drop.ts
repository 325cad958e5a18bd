// The file drop's rules, without I/O: what an upload request may ask for, how a file is cut into
// presigned parts, where each record lives in the bucket, and what a link's token is (only its hash
// is ever stored, so a reader of the bucket cannot rebuild a working link).
import { createHash, randomBytes } from "node:crypto";
import { z } from "zod";

/** S3's own bounds on a multipart upload. */
export const S3_MIN_PART = 5 * 1024 * 1024;
export const S3_MAX_PARTS = 10_000;

export interface Limits {
  maxFileBytes: number;
  partBytes: number;
  maxRecipients: number;
  maxDays: number;
  defaultDays: number;
}

/** A refusal the client can act on: an HTTP status and a sentence saying what to change. */
export class DropError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const EMAIL = z.email();

export const UploadRequest = z.object({
  name: z
    .string()
    .min(1)
    .max(255)
    .refine(
      (n) => ![...n].some((c) => c.charCodeAt(0) < 0x20 || c === "/" || c === "\\"),
      "no slashes or control characters",
    ),
  size: z.number().int().min(1),
  recipients: z.array(z.string().trim()).min(1, "at least one recipient"),
  days: z.number().int().min(1).optional(),
});
export type UploadRequest = z.infer<typeof UploadRequest>;

export interface Upload {
  name: string;
  size: number;
  recipients: string[];
  days: number;
  parts: number;
}

/** Check a request against the limits; every problem becomes one clear DropError. */
export function planUpload(body: unknown, limits: Limits): Upload {
  const r = UploadRequest.safeParse(body);
  if (!r.success)
    throw new DropError(
      400,
      `bad upload request: ${r.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ")}`,
    );
  const { name, size, recipients } = r.data;
  if (size > limits.maxFileBytes)
    throw new DropError(413, `the file is ${size} bytes; the limit is ${limits.maxFileBytes} bytes`);
  if (recipients.length > limits.maxRecipients)
    throw new DropError(413, `${recipients.length} recipients; the limit is ${limits.maxRecipients}`);
  const bad = recipients.filter((a) => !EMAIL.safeParse(a).success);
  if (bad.length) throw new DropError(400, `not an email address: ${bad.join(", ")}`);
  const days = r.data.days ?? limits.defaultDays;
  if (days > limits.maxDays)
    throw new DropError(400, `a link lasts at most ${limits.maxDays} days (asked ${days})`);
  const parts = Math.max(1, Math.ceil(size / limits.partBytes));
  if (parts > S3_MAX_PARTS)
    throw new DropError(413, `${parts} parts of ${limits.partBytes} bytes exceed S3's ${S3_MAX_PARTS}`);
  return { name, size, recipients: [...new Set(recipients)], days, parts };
}

export const CompleteRequest = z.object({
  parts: z
    .array(z.object({ partNumber: z.number().int().min(1).max(S3_MAX_PARTS), etag: z.string().min(1) }))
    .min(1),
});

/** Every part exactly once, in order: S3 refuses anything else with a less helpful message. */
export function checkParts(body: unknown, expected: number): { partNumber: number; etag: string }[] {
  const r = CompleteRequest.safeParse(body);
  if (!r.success) throw new DropError(400, "bad completion: expected {parts: [{partNumber, etag}, ...]}");
  const parts = [...r.data.parts].sort((a, b) => a.partNumber - b.partNumber);
  if (parts.length !== expected || parts.some((p, i) => p.partNumber !== i + 1))
    throw new DropError(400, `expected parts 1..${expected}, each once; got ${parts.length}`);
  return parts;
}

/** Long random identifiers: an upload's id (shown to its owner) and a link's token (emailed). */
export const newUploadId = () => randomBytes(16).toString("hex");
export const newToken = () => randomBytes(32).toString("base64url");
export const TOKEN = /^[A-Za-z0-9_-]{43}$/;
export const UPLOAD_ID = /^[0-9a-f]{32}$/;
export const tokenHash = (token: string) => createHash("sha256").update(token).digest("hex");

/** Where things live below the service's prefix of the bucket. */
export const keys = {
  file: (prefix: string, id: string) => `${prefix}files/${id}`,
  pending: (prefix: string, id: string) => `${prefix}uploads/${id}.json`,
  link: (prefix: string, hash: string) => `${prefix}links/${hash}.json`,
};

/** What the bucket keeps about an upload in progress (until completed or aborted). */
export const PendingRecord = z.object({
  id: z.string(),
  owner: z.string(),
  uploadId: z.string(),
  name: z.string(),
  size: z.number(),
  parts: z.number(),
  recipients: z.array(z.string()),
  days: z.number(),
  createdAt: z.string(),
});
export type PendingRecord = z.infer<typeof PendingRecord>;

/** What the bucket keeps about a link (named by its token's hash). */
export const LinkRecord = z.object({
  id: z.string(),
  owner: z.string(),
  name: z.string(),
  size: z.number(),
  recipients: z.array(z.string()),
  expiresAt: z.string(),
});
export type LinkRecord = z.infer<typeof LinkRecord>;

export const isExpired = (link: LinkRecord, now: Date) => now.getTime() >= Date.parse(link.expiresAt);

/** A filename safe inside a quoted Content-Disposition (RFC 6266 with the UTF-8 form as well). */
export function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, "_");
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}
