// The user directory on Amazon Cognito (a user pool): admin calls of the cognito-idp API.
import {
  AdminAddUserToGroupCommand,
  AdminCreateUserCommand,
  AdminDeleteUserCommand,
  AdminGetUserCommand,
  AdminListGroupsForUserCommand,
  AdminRemoveUserFromGroupCommand,
  AdminSetUserPasswordCommand,
  ListGroupsCommand,
  ListUsersCommand,
  type AttributeType,
  type CognitoIdentityProviderClient,
} from "@aws-sdk/client-cognito-identity-provider";
import type { UserDirectory, UserRecord } from "../../ports/users.ts";

const attr = (attrs: AttributeType[] | undefined, name: string) => attrs?.find((a) => a.Name === name)?.Value;
const notFound = (e: unknown) => (e as { name?: string }).name === "UserNotFoundException";

export function cognitoUserDirectory(
  client: CognitoIdentityProviderClient,
  userPoolId: string,
): UserDirectory {
  const groupsOf = async (name: string) => {
    const out: string[] = [];
    let NextToken: string | undefined;
    do {
      const r = await client.send(
        new AdminListGroupsForUserCommand({ UserPoolId: userPoolId, Username: name, NextToken }),
      );
      out.push(...(r.Groups ?? []).map((g) => g.GroupName!));
      NextToken = r.NextToken;
    } while (NextToken);
    return out.sort();
  };
  return {
    async getUser(name) {
      try {
        const r = await client.send(new AdminGetUserCommand({ UserPoolId: userPoolId, Username: name }));
        const email = attr(r.UserAttributes, "email");
        return {
          name: r.Username!,
          ...(email ? { email } : {}),
          enabled: r.Enabled ?? true,
          status: r.UserStatus ?? "UNKNOWN",
          groups: await groupsOf(r.Username!),
        };
      } catch (e) {
        if (notFound(e)) return undefined;
        throw e;
      }
    },
    async listUsers() {
      const users: UserRecord[] = [];
      let PaginationToken: string | undefined;
      do {
        const r = await client.send(new ListUsersCommand({ UserPoolId: userPoolId, PaginationToken }));
        for (const u of r.Users ?? []) {
          const email = attr(u.Attributes, "email");
          users.push({
            name: u.Username!,
            ...(email ? { email } : {}),
            enabled: u.Enabled ?? true,
            status: u.UserStatus ?? "UNKNOWN",
            groups: await groupsOf(u.Username!),
          });
        }
        PaginationToken = r.PaginationToken;
      } while (PaginationToken);
      return users.sort((a, b) => (a.name < b.name ? -1 : 1));
    },
    async createUser(name, opts) {
      await client.send(
        new AdminCreateUserCommand({
          UserPoolId: userPoolId,
          Username: name,
          ...(opts.email
            ? {
                UserAttributes: [
                  { Name: "email", Value: opts.email },
                  { Name: "email_verified", Value: "true" },
                ],
                DesiredDeliveryMediums: ["EMAIL"],
              }
            : {}),
          // With a password given, no invitation: the password is set as permanent just below.
          ...(opts.password ? { MessageAction: "SUPPRESS" } : {}),
        }),
      );
      if (opts.password)
        await client.send(
          new AdminSetUserPasswordCommand({
            UserPoolId: userPoolId,
            Username: name,
            Password: opts.password,
            Permanent: true,
          }),
        );
    },
    async deleteUser(name) {
      await client.send(new AdminDeleteUserCommand({ UserPoolId: userPoolId, Username: name }));
    },
    async listGroups() {
      const out: string[] = [];
      let NextToken: string | undefined;
      do {
        const r = await client.send(new ListGroupsCommand({ UserPoolId: userPoolId, NextToken }));
        out.push(...(r.Groups ?? []).map((g) => g.GroupName!));
        NextToken = r.NextToken;
      } while (NextToken);
      return out.sort();
    },
    async addToGroup(name, group) {
      await client.send(
        new AdminAddUserToGroupCommand({ UserPoolId: userPoolId, Username: name, GroupName: group }),
      );
    },
    async removeFromGroup(name, group) {
      await client.send(
        new AdminRemoveUserFromGroupCommand({ UserPoolId: userPoolId, Username: name, GroupName: group }),
      );
    },
  };
}
