// Image references in unit files: placeholders rendered into pinned references, refused when mutable.
import { describe, expect, it } from "vitest";
import { InvalidInputError } from "../../../functions/domain/errors.ts";
import {
  missingImageRef,
  parseImageRefs,
  renderCatalogImages,
  renderImages,
} from "../../../functions/domain/images.ts";

const digest = `@sha256:${"ab".repeat(32)}`;
const ecr = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/dev";

describe("renderImages", () => {
  it("replaces every placeholder with its reference, wherever it is on the line", () => {
    const r = renderImages(
      "ExecStart=/usr/bin/docker run --rm {{image:hello}} x\nExecStartPre=echo {{image:etcd-amb}} {{image:hello}}\n",
      {
        hello: `${ecr}/hello:0.1.0-abc${digest}`,
        "etcd-amb": `${ecr}/etcd-amb:0.1.0-def${digest}`,
      },
    );
    expect(r.text).toBe(
      `ExecStart=/usr/bin/docker run --rm ${ecr}/hello:0.1.0-abc${digest} x\nExecStartPre=echo ${ecr}/etcd-amb:0.1.0-def${digest} ${ecr}/hello:0.1.0-abc${digest}\n`,
    );
    expect(r.missing).toEqual([]);
  });

  it("when an image was never published, it names it in a reference that cannot resolve and reports it", () => {
    const r = renderImages("run {{image:hello}} {{image:ghost}} {{image:ghost}}", {
      hello: "localhost/devcluster/hello:0.1.0-abc",
    });
    expect(r.text).toBe(
      `run localhost/devcluster/hello:0.1.0-abc ${missingImageRef("ghost")} ${missingImageRef("ghost")}`,
    );
    expect(missingImageRef("ghost")).toMatch(/\.invalid\/ghost:/);
    expect(r.missing).toEqual(["ghost"]);
  });

  it("leaves systemd's own ${VAR} and %i untouched", () => {
    expect(renderImages("-e A=${PRIVATE_IP} %i {{image:x}}", { x: "r/x:1" }).text).toBe(
      "-e A=${PRIVATE_IP} %i r/x:1",
    );
  });

  it("renders a whole catalog and lists what each file misses", () => {
    const r = renderCatalogImages(
      { "a.service": "{{image:hello}}", "b.service": "{{image:nope}}", "c.service": "none" },
      { hello: "r/hello:1" },
    );
    expect(r.source).toEqual({
      "a.service": "r/hello:1",
      "b.service": missingImageRef("nope"),
      "c.service": "none",
    });
    expect(r.missing).toEqual({ "b.service": ["nope"] });
  });
});

describe("parseImageRefs", () => {
  it("accepts tag references, and tag + digest references", () => {
    const text = JSON.stringify({
      hello: "localhost/devcluster/hello:0.1.0-7e531bff05be",
      presence: `${ecr}/presence:0.1.0-1${digest}`,
    });
    expect(parseImageRefs(text)).toEqual(JSON.parse(text));
  });

  it.each([
    ["latest", { hello: `${ecr}/hello:latest` }, /mutable tag/],
    ["latest with a digest", { hello: `${ecr}/hello:latest${digest}` }, /mutable tag/],
    ["no tag", { hello: `${ecr}/hello` }, /not an image reference with a tag/],
    ["not a string", { hello: 3 }, /not an image reference/],
  ])("refuses %s", (_name, value, message) => {
    expect(() => parseImageRefs(JSON.stringify(value))).toThrow(InvalidInputError);
    expect(() => parseImageRefs(JSON.stringify(value))).toThrow(message);
  });

  it("requires a digest where asked (what a push publishes)", () => {
    expect(() =>
      parseImageRefs(JSON.stringify({ hello: `${ecr}/hello:0.1.0-a` }), { requireDigest: true }),
    ).toThrow(/has no digest/);
    expect(
      parseImageRefs(JSON.stringify({ hello: `${ecr}/hello:0.1.0-a${digest}` }), { requireDigest: true })
        .hello,
    ).toContain("@sha256:");
  });

  it("refuses text that is not a JSON object", () => {
    expect(() => parseImageRefs("nope")).toThrow(/not JSON/);
    expect(() => parseImageRefs("[1]")).toThrow(/not an object/);
  });
});
