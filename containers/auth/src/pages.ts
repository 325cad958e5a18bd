// The sign-in pages: plain HTML forms (no script), every value escaped.
const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

const page = (title: string, body: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">` +
  `<title>${esc(title)}</title><style>body{font-family:sans-serif;max-width:24em;margin:4em auto}` +
  `label,input,button{display:block;width:100%;margin:.4em 0}.error{color:#a00}</style></head>` +
  `<body><h1>${esc(title)}</h1>${body}</body></html>\n`;

const hidden = (fields: Record<string, string>) =>
  Object.entries(fields)
    .map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`)
    .join("");
const error = (message?: string) => (message ? `<p class="error" role="alert">${esc(message)}</p>` : "");

export function loginPage(rd: string, message?: string): string {
  return page(
    "Sign in",
    `${error(message)}<form method="post" action="/.auth/login">${hidden({ rd })}` +
      `<label>User name <input name="username" autocomplete="username" required autofocus></label>` +
      `<label>Password <input name="password" type="password" autocomplete="current-password" required></label>` +
      `<button type="submit">Sign in</button></form>`,
  );
}

export function codePage(fields: Record<string, string>, message?: string): string {
  return page(
    "Verification code",
    `${error(message)}<form method="post" action="/.auth/code">${hidden(fields)}` +
      `<label>Code from your authenticator <input name="code" inputmode="numeric" autocomplete="one-time-code" required autofocus></label>` +
      `<button type="submit">Verify</button></form>`,
  );
}

export function newPasswordPage(fields: Record<string, string>): string {
  return page(
    "Choose a new password",
    `<form method="post" action="/.auth/new-password">${hidden(fields)}` +
      `<label>New password <input name="password" type="password" autocomplete="new-password" required autofocus></label>` +
      `<button type="submit">Set password</button></form>`,
  );
}

export function mfaSetupPage(
  fields: Record<string, string>,
  secret: string,
  user: string,
  issuer: string,
): string {
  const uri = `otpauth://totp/${encodeURIComponent(`${issuer}:${user}`)}?secret=${encodeURIComponent(secret)}&issuer=${encodeURIComponent(issuer)}`;
  return page(
    "Set up a second factor",
    `<p>Members of the admins group sign in with a code from an authenticator app. Add this key to yours:</p>` +
      `<p><code id="secret">${esc(secret)}</code></p><p><a href="${esc(uri)}">${esc(uri)}</a></p>` +
      `<form method="post" action="/.auth/mfa-setup">${hidden(fields)}` +
      `<label>Code from your authenticator <input name="code" inputmode="numeric" required autofocus></label>` +
      `<button type="submit">Verify</button></form>`,
  );
}

export function messagePage(title: string, message: string): string {
  return page(title, `<p>${esc(message)}</p><p><a href="/.auth/login">Sign in</a></p>`);
}
