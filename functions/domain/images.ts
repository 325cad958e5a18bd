// The cluster's container images and how unit files name them: `{{image:<name>}}`, rendered by the
// units push into the pinned reference the image build published (never a mutable tag).
import { InvalidInputError } from "./errors.ts";

/** Every image built from containers/<name>/Containerfile; one ECR repository each. */
export const IMAGE_NAMES = [
  "ambassador",
  "apiproxy",
  "auth",
  "buildbot",
  "cassandra",
  "dashboard",
  "etcd-amb",
  "ferretdb",
  "filedrop",
  "frontdoor",
  "gerrit",
  "hello",
  "mariadb",
  "mediawiki",
  "notes",
  "opensearch",
  "phpapp",
  "postgres",
  "presence",
  "presence-dns",
  "redis",
  "sftp",
  "sshkeys",
] as const;

/** The ECR repository of an image: one namespace per cluster. */
export const imageRepositoryName = (cluster: string, image: string) => `${cluster}/${image}`;

/** The SSM parameter (String, JSON `{"<image>": "<reference>"}`) an image push writes and units read. */
export const imagesParameterName = (cluster: string) => `/devcluster/${cluster}/images`;

/** Image name -> the reference units run: `<registry>/<name>:<tag>@sha256:<digest>` on AWS. */
export type ImageRefs = Record<string, string>;

export const IMAGE_PLACEHOLDER = /\{\{image:([a-z0-9][a-z0-9._-]*)\}\}/g;
/**
 * What a placeholder becomes when its image was never built or published: a name in the reserved
 * `.invalid` domain, so the unit fails on its node with "image not known" / "no such host" naming
 * the image, and every other unit runs.
 */
export const missingImageRef = (name: string) => `missing.devcluster.invalid/${name}:not-built`;

const PINNED =
  /^[a-z0-9][a-z0-9._:/-]*\/[a-z0-9._-]+(?:\/[a-z0-9._-]+)*:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}(@sha256:[0-9a-f]{64})?$/;

/**
 * Parse and check the published references: every value must name a tag other than `latest`
 * (with a digest on AWS, where `requireDigest` is set).
 */
export function parseImageRefs(text: string, opts: { requireDigest?: boolean } = {}): ImageRefs {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new InvalidInputError("image references: not JSON", [(e as Error).message]);
  }
  if (!raw || typeof raw !== "object" || Array.isArray(raw))
    throw new InvalidInputError("image references: not an object", []);
  const problems: string[] = [];
  const refs: ImageRefs = {};
  for (const [name, ref] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof ref !== "string" || !PINNED.test(ref))
      problems.push(`${name}: not an image reference with a tag: ${JSON.stringify(ref)}`);
    else if (/:latest(@|$)/.test(ref)) problems.push(`${name}: ${ref} is a mutable tag (latest)`);
    else if (opts.requireDigest && !ref.includes("@sha256:")) problems.push(`${name}: ${ref} has no digest`);
    else refs[name] = ref;
  }
  if (problems.length) throw new InvalidInputError("image references are not pinned", problems);
  return refs;
}

/** Replace every `{{image:<name>}}` in a unit file's text; names without a reference are reported. */
export function renderImages(text: string, refs: ImageRefs): { text: string; missing: string[] } {
  const missing = new Set<string>();
  const out = text.replace(IMAGE_PLACEHOLDER, (_m, name: string) => {
    const ref = refs[name];
    if (ref) return ref;
    missing.add(name);
    return missingImageRef(name);
  });
  return { text: out, missing: [...missing].sort() };
}

/** Render every file of a catalog source (file name -> text). */
export function renderCatalogImages(
  source: Record<string, string>,
  refs: ImageRefs,
): { source: Record<string, string>; missing: Record<string, string[]> } {
  const out: Record<string, string> = {};
  const missing: Record<string, string[]> = {};
  for (const [file, text] of Object.entries(source)) {
    const r = renderImages(text, refs);
    out[file] = r.text;
    if (r.missing.length) missing[file] = r.missing;
  }
  return { source: out, missing };
}

/** The images a catalog source's units name (`{{image:<name>}}`), sorted: what a cluster must build. */
export function imagesOf(source: Record<string, string>): string[] {
  const names = new Set<string>();
  for (const text of Object.values(source))
    for (const m of text.matchAll(IMAGE_PLACEHOLDER)) names.add(m[1]!);
  return [...names].sort();
}
