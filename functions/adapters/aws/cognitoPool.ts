// Creating the cluster's user pool through the cognito-idp API, with the settings the template gives
// it: where CloudFormation cannot make one (moto's CloudFormation has no Cognito resources), the
// local cluster makes it this way. Idempotent: an existing pool (by name) is reused.
import {
  CreateGroupCommand,
  CreateUserPoolClientCommand,
  CreateUserPoolCommand,
  ListUserPoolClientsCommand,
  ListUserPoolsCommand,
  ListGroupsCommand,
  SetUserPoolMfaConfigCommand,
  type CognitoIdentityProviderClient,
} from "@aws-sdk/client-cognito-identity-provider";
import { PASSWORD_POLICY, POOL_GROUPS, authClientName, userPoolName } from "../../domain/users.ts";

export interface PoolIds {
  userPoolId: string;
  clientId: string;
}

export async function ensureUserPool(
  client: CognitoIdentityProviderClient,
  cluster: string,
): Promise<PoolIds> {
  const name = userPoolName(cluster);
  let userPoolId: string | undefined;
  let NextToken: string | undefined;
  do {
    const r = await client.send(new ListUserPoolsCommand({ MaxResults: 60, NextToken }));
    userPoolId = r.UserPools?.find((p) => p.Name === name)?.Id ?? userPoolId;
    NextToken = r.NextToken;
  } while (NextToken && !userPoolId);
  if (!userPoolId) {
    const r = await client.send(
      new CreateUserPoolCommand({
        PoolName: name,
        Policies: { PasswordPolicy: { ...PASSWORD_POLICY } },
        AdminCreateUserConfig: { AllowAdminCreateUserOnly: true },
        AutoVerifiedAttributes: ["email"],
        UsernameConfiguration: { CaseSensitive: false },
        DeletionProtection: "ACTIVE",
      }),
    );
    userPoolId = r.UserPool!.Id!;
    // An authenticator app as the second factor; optional for the pool, required of admins by the auth service.
    await client.send(
      new SetUserPoolMfaConfigCommand({
        UserPoolId: userPoolId,
        SoftwareTokenMfaConfiguration: { Enabled: true },
        MfaConfiguration: "OPTIONAL",
      }),
    );
  }
  const groups = await client.send(new ListGroupsCommand({ UserPoolId: userPoolId }));
  for (const g of POOL_GROUPS)
    if (!groups.Groups?.some((x) => x.GroupName === g.name))
      await client.send(
        new CreateGroupCommand({ UserPoolId: userPoolId, GroupName: g.name, Description: g.description }),
      );
  const clients = await client.send(
    new ListUserPoolClientsCommand({ UserPoolId: userPoolId, MaxResults: 60 }),
  );
  let clientId = clients.UserPoolClients?.find((c) => c.ClientName === authClientName(cluster))?.ClientId;
  if (!clientId) {
    const r = await client.send(
      new CreateUserPoolClientCommand({
        UserPoolId: userPoolId,
        ClientName: authClientName(cluster),
        GenerateSecret: false,
        ExplicitAuthFlows: ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        PreventUserExistenceErrors: "ENABLED",
        EnableTokenRevocation: true,
      }),
    );
    clientId = r.UserPoolClient!.ClientId!;
  }
  return { userPoolId, clientId };
}
