// Signing a user in against the Cognito user pool: the password step, the challenges Cognito asks
// for (a second factor, a new password) and the second factor every admin must have; the ID token
// is checked against the pool's keys before anyone gets a session.
import {
  AssociateSoftwareTokenCommand,
  CognitoIdentityProviderClient,
  InitiateAuthCommand,
  RespondToAuthChallengeCommand,
  SetUserMFAPreferenceCommand,
  VerifySoftwareTokenCommand,
  type AuthenticationResultType,
  type ChallengeNameType,
} from "@aws-sdk/client-cognito-identity-provider";
import { CognitoJwtVerifier } from "aws-jwt-verify";

/** The group whose members must use a second factor (the pool's own MFA setting is optional). */
export const ADMIN_GROUP = "admins";

export type Step =
  | { kind: "signedIn"; user: string; groups: string[]; mfa: boolean }
  /** Cognito asks for a code (TOTP or SMS); `session` is Cognito's, handed back with the code. */
  | { kind: "code"; challenge: "SOFTWARE_TOKEN_MFA" | "SMS_MFA"; session: string; user: string }
  | { kind: "newPassword"; session: string; user: string }
  /** An admin without a second factor: set one up (an authenticator app) before any session. */
  | { kind: "mfaSetup"; accessToken: string; secret: string; user: string }
  | { kind: "refused"; message: string };

export interface SignInSettings {
  userPoolId: string;
  clientId: string;
  /** Where the pool's keys are when not at the pool's own issuer (an emulator's endpoint). */
  jwksUri?: string;
}

export class SignIn {
  private readonly verifier;
  private readonly ready: Promise<void>;

  constructor(
    private readonly cognito: CognitoIdentityProviderClient,
    private readonly s: SignInSettings,
  ) {
    this.verifier = CognitoJwtVerifier.create({
      userPoolId: s.userPoolId,
      tokenUse: "id",
      clientId: s.clientId,
    });
    // With an endpoint of its own (AWS_ENDPOINT_URL), the pool publishes its keys there.
    this.ready = s.jwksUri
      ? fetch(s.jwksUri)
          .then((r) => {
            if (!r.ok) throw new Error(`the pool's keys (${s.jwksUri}) answered ${r.status}`);
            return r.json();
          })
          .then((jwks) => this.verifier.cacheJwks(jwks as Parameters<typeof this.verifier.cacheJwks>[0]))
      : this.verifier.hydrate();
    this.ready.catch(() => {});
  }

  /** Resolves once the pool's keys are loaded (health). */
  loaded(): Promise<void> {
    return this.ready;
  }

  async password(user: string, password: string): Promise<Step> {
    return this.guard(async () => {
      const r = await this.cognito.send(
        new InitiateAuthCommand({
          AuthFlow: "USER_PASSWORD_AUTH",
          ClientId: this.s.clientId,
          AuthParameters: { USERNAME: user, PASSWORD: password },
        }),
      );
      return this.next(user, r.ChallengeName, r.Session, r.AuthenticationResult, false);
    });
  }

  async code(user: string, challenge: "SOFTWARE_TOKEN_MFA" | "SMS_MFA", session: string, code: string) {
    return this.guard(async () => {
      const key = challenge === "SMS_MFA" ? "SMS_MFA_CODE" : "SOFTWARE_TOKEN_MFA_CODE";
      const r = await this.cognito.send(
        new RespondToAuthChallengeCommand({
          ClientId: this.s.clientId,
          ChallengeName: challenge,
          Session: session,
          ChallengeResponses: { USERNAME: user, [key]: code },
        }),
      );
      return this.next(user, r.ChallengeName, r.Session, r.AuthenticationResult, true);
    });
  }

  async newPassword(user: string, session: string, password: string) {
    return this.guard(async () => {
      const r = await this.cognito.send(
        new RespondToAuthChallengeCommand({
          ClientId: this.s.clientId,
          ChallengeName: "NEW_PASSWORD_REQUIRED",
          Session: session,
          ChallengeResponses: { USERNAME: user, NEW_PASSWORD: password },
        }),
      );
      return this.next(user, r.ChallengeName, r.Session, r.AuthenticationResult, false);
    });
  }

  /** An admin proves the authenticator app works; it becomes their preferred second factor. */
  async finishMfaSetup(user: string, accessToken: string, code: string): Promise<Step> {
    return this.guard(async () => {
      const v = await this.cognito.send(
        new VerifySoftwareTokenCommand({ AccessToken: accessToken, UserCode: code }),
      );
      if (v.Status !== "SUCCESS") return { kind: "refused", message: "the code was not accepted" };
      await this.cognito.send(
        new SetUserMFAPreferenceCommand({
          AccessToken: accessToken,
          SoftwareTokenMfaSettings: { Enabled: true, PreferredMfa: true },
        }),
      );
      return { kind: "refused", message: `second factor set up for ${user}: sign in again with a code` };
    });
  }

  private async next(
    user: string,
    challenge: ChallengeNameType | undefined,
    session: string | undefined,
    result: AuthenticationResultType | undefined,
    mfa: boolean,
  ): Promise<Step> {
    if (result?.IdToken) {
      await this.ready;
      const claims = await this.verifier.verify(result.IdToken);
      const name = String(claims["cognito:username"] ?? user);
      const groups = ((claims["cognito:groups"] as string[] | undefined) ?? []).slice().sort();
      if (groups.includes(ADMIN_GROUP) && !mfa) {
        if (!result.AccessToken)
          return { kind: "refused", message: "no access token to set up a second factor" };
        const a = await this.cognito.send(
          new AssociateSoftwareTokenCommand({ AccessToken: result.AccessToken }),
        );
        return { kind: "mfaSetup", accessToken: result.AccessToken, secret: a.SecretCode ?? "", user: name };
      }
      return { kind: "signedIn", user: name, groups, mfa };
    }
    if ((challenge === "SOFTWARE_TOKEN_MFA" || challenge === "SMS_MFA") && session)
      return { kind: "code", challenge, session, user };
    if (challenge === "NEW_PASSWORD_REQUIRED" && session) return { kind: "newPassword", session, user };
    return {
      kind: "refused",
      message: `sign-in needs a step this page does not offer (${challenge ?? "none"})`,
    };
  }

  /** Wrong credentials and refused codes are the user's; anything else is the service's and is thrown. */
  private async guard(fn: () => Promise<Step>): Promise<Step> {
    try {
      return await fn();
    } catch (e) {
      const name = (e as Error).name;
      if (name === "NotAuthorizedException" || name === "UserNotFoundException")
        return { kind: "refused", message: "wrong user name or password" };
      if (
        name === "CodeMismatchException" ||
        name === "ExpiredCodeException" ||
        name === "EnableSoftwareTokenMFAException"
      )
        return { kind: "refused", message: "the code was not accepted; sign in again" };
      if (name === "InvalidPasswordException") return { kind: "refused", message: (e as Error).message };
      if (name === "PasswordResetRequiredException")
        return { kind: "refused", message: "a password reset is required" };
      throw e;
    }
  }
}
