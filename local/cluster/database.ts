// The local cluster's database as its users see it: the node running postgres@1, and the notes
// service (its sample client) found through presence, storing and listing rows over HTTP. The demo,
// its test and the failover bench read the database through these, never around the client.
import type { ClusterStatus, NodeStatus } from "./status.ts";

export const DATABASE_UNIT = "postgres@1.service";

/** The node whose postgres@1 is active with its container running (undefined while it moves). */
export function databaseNode(s: ClusterStatus): NodeStatus | undefined {
  return s.nodes.find(
    (n) =>
      n.up &&
      n.units.some((u) => u.name === DATABASE_UNIT && u.state === "active") &&
      n.containers.some((c) => c.name === "postgres-1" && c.state === "running"),
  );
}

/** `address:port` of a notes instance presence announces and finds healthy. */
export function notesAddress(s: ClusterStatus): string | undefined {
  const i = s.services.find((x) => x.name === "notes")?.instances.find((x) => x.healthy);
  return i ? `${i.address}:${i.port}` : undefined;
}

export interface Note {
  id: number;
  body: string;
}

/** How long one request may take: psql connects within 5 s or fails (PGCONNECT_TIMEOUT). */
const REQUEST_MS = 20_000;

/** Store a note; its id once Postgres committed it, undefined while the database is unavailable (503). */
export async function addNote(address: string, body: string): Promise<number | undefined> {
  const res = await fetch(`http://${address}/notes`, {
    method: "POST",
    body,
    signal: AbortSignal.timeout(REQUEST_MS),
  }).catch(() => undefined);
  if (!res) return undefined;
  const answer = (await res.json().catch(() => ({}))) as { id?: number; error?: string };
  if (res.status === 201 && typeof answer.id === "number") return answer.id;
  if (res.status === 503) return undefined;
  throw new Error(`notes at ${address} answered ${res.status}: ${answer.error ?? ""}`);
}

/** Every stored note, or undefined while the database (or notes itself) cannot answer. */
export async function listNotes(address: string): Promise<Note[] | undefined> {
  const res = await fetch(`http://${address}/notes`, { signal: AbortSignal.timeout(REQUEST_MS) }).catch(
    () => undefined,
  );
  if (!res || res.status !== 200) return undefined;
  return (await res.json()) as Note[];
}
