// Accounts: the cluster's Cognito user pool (password policy, an authenticator app as second factor,
// invitation by an administrator only), its groups, and the app client the auth service signs users
// in with. The pool outlives the stack: accounts are not rebuilt from anything.
import { ref, sub, type TemplateBuilder } from "../cfn.ts";
import { Ids, Params } from "../ids.ts";
import { PASSWORD_POLICY, POOL_GROUPS } from "../../functions/domain/users.ts";

export function addIdentity(t: TemplateBuilder): void {
  t.resource(Ids.userPool, {
    Type: "AWS::Cognito::UserPool",
    DeletionPolicy: "Retain",
    UpdateReplacePolicy: "Retain",
    Properties: {
      UserPoolName: sub(`devcluster-\${${Params.clusterName}}-users`),
      Policies: { PasswordPolicy: { ...PASSWORD_POLICY } },
      // Optional for the pool (SMS would need a phone for everyone); the auth service requires it of admins.
      MfaConfiguration: "OPTIONAL",
      EnabledMfas: ["SOFTWARE_TOKEN_MFA"],
      AdminCreateUserConfig: { AllowAdminCreateUserOnly: true },
      AutoVerifiedAttributes: ["email"],
      UsernameConfiguration: { CaseSensitive: false },
      AccountRecoverySetting: { RecoveryMechanisms: [{ Name: "verified_email", Priority: 1 }] },
      DeletionProtection: "ACTIVE",
      UserPoolTags: { "devcluster:cluster": ref(Params.clusterName) },
    },
  });
  POOL_GROUPS.forEach((g, i) =>
    t.resource(Ids.userPoolGroup(g.name), {
      Type: "AWS::Cognito::UserPoolGroup",
      Properties: {
        UserPoolId: ref(Ids.userPool),
        GroupName: g.name,
        Description: g.description,
        Precedence: i,
      },
    }),
  );
  t.resource(Ids.authClient, {
    Type: "AWS::Cognito::UserPoolClient",
    Properties: {
      UserPoolId: ref(Ids.userPool),
      ClientName: sub(`devcluster-\${${Params.clusterName}}-auth`),
      // The auth service is the only caller and sends the password over TLS to Cognito itself.
      GenerateSecret: false,
      ExplicitAuthFlows: ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
      PreventUserExistenceErrors: "ENABLED",
      EnableTokenRevocation: true,
      // Tokens only prove the sign-in; the session cookie (its own lifetime) carries it from there.
      IdTokenValidity: 15,
      AccessTokenValidity: 15,
      RefreshTokenValidity: 1,
      TokenValidityUnits: { IdToken: "minutes", AccessToken: "minutes", RefreshToken: "days" },
    },
  });
}
