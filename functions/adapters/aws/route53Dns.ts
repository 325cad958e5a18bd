// Dns port over Route 53 (AWS SDK v3). One ChangeResourceRecordSets per zone per apply (split only
// past Route 53's batch limits), UPSERT for creates and changes, DELETE carrying the live record as
// ListResourceRecordSets returned it, and retries with exponential backoff and full jitter on
// Throttling / PriorRequestNotComplete. Give it a client with maxAttempts 1: the retries here are the
// only ones, so the call count (and the rate we impose on the zone) stays under our control.
import {
  ChangeResourceRecordSetsCommand,
  ListResourceRecordSetsCommand,
  type Change,
  type ResourceRecordSet,
  type Route53Client,
  type RRType,
} from "@aws-sdk/client-route-53";
import { fqdn, type DnsDiff, type DnsRecord, type RecordType } from "../../domain/dnsPlan.ts";
import type { Dns } from "../../ports/dns.ts";

/** Route 53 limits one change batch to 1,000 changes and 32,000 characters of values. */
const MAX_CHANGES = 1000;
const MAX_VALUE_CHARS = 32_000;

export interface RetryPolicy {
  attempts: number;
  baseMs: number;
  capMs: number;
}
const DEFAULT_RETRY: RetryPolicy = { attempts: 8, baseMs: 200, capMs: 5000 };

/** Route 53's throttling errors, by the SDK error's name (its error code). */
const RETRYABLE = new Set([
  "Throttling",
  "ThrottlingException",
  "PriorRequestNotComplete",
  "RequestLimitExceeded",
  "TooManyRequests",
  "TooManyRequestsException",
]);

export function isRetryable(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return RETRYABLE.has(e.name) || status === 429 || status === 503;
}

export async function withRetry<T>(
  fn: () => Promise<T>,
  policy: RetryPolicy = DEFAULT_RETRY,
  onRetry?: (e: unknown) => void,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (attempt >= policy.attempts || !isRetryable(e)) throw e;
      onRetry?.(e);
      // Full jitter: uniform in [0, min(cap, base * 2^attempt)).
      const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** attempt);
      await new Promise((r) => setTimeout(r, Math.random() * ceiling));
    }
  }
}

const toRecord = (r: ResourceRecordSet): DnsRecord => ({
  name: fqdn(r.Name ?? ""),
  type: r.Type as RecordType,
  ttl: r.TTL ?? 0,
  values: (r.ResourceRecords ?? []).map((v) => v.Value ?? ""),
});
const toSet = (r: DnsRecord): ResourceRecordSet => ({
  Name: r.name,
  Type: r.type as RRType,
  TTL: r.ttl,
  ResourceRecords: r.values.map((Value) => ({ Value })),
});

function batches(changes: Change[]): Change[][] {
  const out: Change[][] = [];
  let cur: Change[] = [];
  let chars = 0;
  for (const c of changes) {
    const n = (c.ResourceRecordSet?.ResourceRecords ?? []).reduce((s, v) => s + (v.Value?.length ?? 0), 0);
    // UPSERT counts twice against the character limit.
    const weight = c.Action === "UPSERT" ? 2 * n : n;
    if (cur.length && (cur.length >= MAX_CHANGES || chars + weight > MAX_VALUE_CHARS)) {
      out.push(cur);
      cur = [];
      chars = 0;
    }
    cur.push(c);
    chars += weight;
  }
  if (cur.length) out.push(cur);
  return out;
}

export function route53Dns(
  client: Route53Client,
  zoneId: string,
  retry: RetryPolicy = DEFAULT_RETRY,
): Dns & { stats: { calls: number; retries: number } } {
  const stats = { calls: 0, retries: 0 };
  const send = <T>(fn: () => Promise<T>) =>
    withRetry(
      () => {
        stats.calls++;
        return fn();
      },
      retry,
      () => stats.retries++,
    );
  return {
    stats,
    async listRecords(types) {
      const out: DnsRecord[] = [];
      let start: { name?: string; type?: RRType; id?: string } | undefined = {};
      while (start) {
        const s: { name?: string; type?: RRType; id?: string } = start;
        const res = await send(() =>
          client.send(
            new ListResourceRecordSetsCommand({
              HostedZoneId: zoneId,
              StartRecordName: s.name,
              StartRecordType: s.type,
              StartRecordIdentifier: s.id,
              MaxItems: 300,
            }),
          ),
        );
        for (const r of res.ResourceRecordSets ?? []) if (types.includes(r.Type ?? "")) out.push(toRecord(r));
        start = res.IsTruncated
          ? { name: res.NextRecordName, type: res.NextRecordType, id: res.NextRecordIdentifier }
          : undefined;
      }
      return out;
    },

    async apply(diff: DnsDiff, comment) {
      const changes: Change[] = [
        ...diff.deletes.map((r) => ({ Action: "DELETE" as const, ResourceRecordSet: toSet(r) })),
        ...diff.upserts.map((r) => ({ Action: "UPSERT" as const, ResourceRecordSet: toSet(r) })),
      ];
      let calls = 0;
      for (const batch of batches(changes)) {
        calls++;
        await send(() =>
          client.send(
            new ChangeResourceRecordSetsCommand({
              HostedZoneId: zoneId,
              ChangeBatch: { Comment: comment.slice(0, 256), Changes: batch },
            }),
          ),
        );
      }
      return { calls };
    },
  };
}
