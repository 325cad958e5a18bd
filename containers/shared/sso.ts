// What the front door and the auth service agree on: the session cookie's name and the path every
// virtual host hands to the auth service.
export const SESSION_COOKIE = "devcluster_session";
export const AUTH_PATH = "/.auth/";
