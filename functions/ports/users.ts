// The user directory (the cluster's user pool): accounts and their groups.
export interface UserRecord {
  name: string;
  email?: string;
  enabled: boolean;
  /** Cognito's status: CONFIRMED, FORCE_CHANGE_PASSWORD, ... */
  status: string;
  groups: string[];
}

export interface UserDirectory {
  /** undefined when there is no such user. */
  getUser(name: string): Promise<UserRecord | undefined>;
  listUsers(): Promise<UserRecord[]>;
  /** Creates the user; with `password` it is permanent, else the pool mails a temporary one. */
  createUser(name: string, opts: { email?: string; password?: string }): Promise<void>;
  deleteUser(name: string): Promise<void>;
  listGroups(): Promise<string[]>;
  addToGroup(name: string, group: string): Promise<void>;
  removeFromGroup(name: string, group: string): Promise<void>;
}
