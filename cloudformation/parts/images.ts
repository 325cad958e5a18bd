// The image registry: one ECR repository per image (containers/<name>), named <cluster>/<image>,
// with immutable tags (a tag always means the same image, so units pinned by tag stay true), a
// vulnerability scan on every push, encryption at rest, and a cap on how many images each keeps.
// Nodes may pull from these repositories only (parts/iam.ts).
import { arn, ref, sub, tags, type CfnValue, type TemplateBuilder } from "../cfn.ts";
import { Ids, Params } from "../ids.ts";
import { IMAGE_NAMES, imageRepositoryName } from "../../functions/domain/images.ts";

/** Images each repository keeps (the newest); older ones expire. Units pin recent tags only. */
export const IMAGES_KEPT = 30;

const repositoryName = (image: string) => sub(imageRepositoryName(`\${${Params.clusterName}}`, image));

/** ARNs of every repository, for the node role's pull statement. */
export const repositoryArns = (): CfnValue[] =>
  IMAGE_NAMES.map((image) =>
    arn("ecr", `repository/${imageRepositoryName(`\${${Params.clusterName}}`, image)}`),
  );

/** `<account>.dkr.ecr.<region>.amazonaws.com/<cluster>`: what `containers/build.sh --push --registry` takes. */
export const registryPrefix = (): CfnValue =>
  sub(`\${AWS::AccountId}.dkr.ecr.\${AWS::Region}.\${AWS::URLSuffix}/\${${Params.clusterName}}`);

export function addImageRepositories(t: TemplateBuilder): void {
  const lifecyclePolicy = JSON.stringify({
    rules: [
      {
        rulePriority: 1,
        description: `keep the newest ${IMAGES_KEPT} images`,
        selection: { tagStatus: "any", countType: "imageCountMoreThan", countNumber: IMAGES_KEPT },
        action: { type: "expire" },
      },
    ],
  });
  for (const image of IMAGE_NAMES) {
    t.resource(Ids.imageRepository(image), {
      Type: "AWS::ECR::Repository",
      // Images are rebuilt from the repository's sources: nothing here is the only copy of data,
      // but a running node may still pull a pinned tag while the stack is replaced.
      DeletionPolicy: "Retain",
      UpdateReplacePolicy: "Retain",
      Properties: {
        RepositoryName: repositoryName(image),
        ImageTagMutability: "IMMUTABLE",
        ImageScanningConfiguration: { ScanOnPush: true },
        // KMS with AWS's managed key: encrypted at rest with no key policy to keep.
        EncryptionConfiguration: { EncryptionType: "KMS" },
        LifecyclePolicy: { LifecyclePolicyText: lifecyclePolicy },
        Tags: tags({ "devcluster:cluster": ref(Params.clusterName), "devcluster:image": image }),
      },
    });
  }
}
