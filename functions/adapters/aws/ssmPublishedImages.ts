// Published image references in SSM Parameter Store (`/devcluster/<cluster>/images`, a String
// holding JSON), written by the image push and read by every units push.
import { GetParameterCommand, PutParameterCommand, type SSMClient } from "@aws-sdk/client-ssm";
import { imagesParameterName, parseImageRefs, type ImageRefs } from "../../domain/images.ts";
import type { PublishedImages } from "../../ports/units.ts";

export function ssmPublishedImages(ssm: SSMClient, cluster: string): PublishedImages {
  const Name = imagesParameterName(cluster);
  return {
    async load() {
      try {
        const out = await ssm.send(new GetParameterCommand({ Name }));
        return parseImageRefs(out.Parameter?.Value ?? "{}");
      } catch (e) {
        if ((e as { name?: string }).name === "ParameterNotFound") return {};
        throw e;
      }
    },
  };
}

/** Publish references (checked first: pinned, and with digests when `requireDigest`). */
export async function publishImages(
  ssm: SSMClient,
  cluster: string,
  refs: ImageRefs,
  opts: { requireDigest?: boolean } = {},
) {
  const checked = parseImageRefs(JSON.stringify(refs), opts);
  await ssm.send(
    new PutParameterCommand({
      Name: imagesParameterName(cluster),
      Type: "String",
      Overwrite: true,
      Value: JSON.stringify(checked, Object.keys(checked).sort()),
      Description: "devcluster: pinned image references units run (containers/build.sh)",
    }),
  );
  return checked;
}
