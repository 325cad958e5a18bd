// Publishes the pinned image references of the last push (.build/containers/images.json, written by
// `containers/build.sh --push`) to the cluster's SSM parameter, where every units push reads them.
// Refuses references without a digest or with a mutable tag; changes nothing then.
//   npx tsx scripts/publish-images.ts --cluster dev   (AWS settings from the environment)
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { SSMClient } from "@aws-sdk/client-ssm";
import { publishImages } from "../functions/adapters/aws/ssmPublishedImages.ts";
import { parseImageRefs, imagesParameterName } from "../functions/domain/images.ts";
import { PROJECT_ROOT } from "../local/paths.ts";

const { values } = parseArgs({ options: { cluster: { type: "string" }, file: { type: "string" } } });
if (!values.cluster) {
  console.error("usage: publish-images.ts --cluster <name> [--file .build/containers/images.json]");
  process.exit(2);
}
const file = values.file ?? join(PROJECT_ROOT, ".build", "containers", "images.json");
const refs = parseImageRefs(readFileSync(file, "utf8"), { requireDigest: true });
await publishImages(new SSMClient({}), values.cluster, refs, { requireDigest: true });
console.log(
  `published ${Object.keys(refs).length} image references to ${imagesParameterName(values.cluster)}; invoke 'units' to roll them out`,
);
