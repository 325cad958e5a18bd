// The SFTP service's sshd settings and the layout of its volume: pure, so the settings are checked
// by `sshd -t` in a test and the layout's rules read in one place.
import { LOCAL_USER_NAME } from "../../../functions/domain/sshKeyList.ts";

/** The local group the account sync gives every account it made (containers/sshkeys/client). */
export const MANAGED_GROUP = "devcluster-users";

export interface SshdSettings {
  address: string;
  port: number;
  hostKeyFile: string;
  pidFile: string;
  /** The volume: each account's chroot is `<dataDir>/users/<user>`, its files in `files/` below. */
  dataDir: string;
  /** The host's side of the SSH-key service, run by sshd per login as `nobody`. */
  keysCommand: string;
}

/**
 * sshd for SFTP only: keys from the signed lists (no authorized_keys file, no password), accounts of
 * the synced group only, each chrooted into its own directory of the volume, no shell, no
 * forwarding, no TTY.
 */
export function sshdConfig(s: SshdSettings): string {
  return [
    `ListenAddress ${s.address}:${s.port}`,
    `HostKey ${s.hostKeyFile}`,
    `PidFile ${s.pidFile}`,
    "PermitRootLogin no",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "PubkeyAuthentication yes",
    "AuthorizedKeysFile none",
    `AuthorizedKeysCommand ${s.keysCommand} authorized-keys %u`,
    "AuthorizedKeysCommandUser nobody",
    `AllowGroups ${MANAGED_GROUP}`,
    "Subsystem sftp internal-sftp",
    `ChrootDirectory ${s.dataDir}/users/%u`,
    "ForceCommand internal-sftp -d /files",
    "AllowTcpForwarding no",
    "AllowStreamLocalForwarding no",
    "AllowAgentForwarding no",
    "X11Forwarding no",
    "PermitTunnel no",
    "PermitTTY no",
    "PermitUserRC no",
    "MaxAuthTries 3",
    "LoginGraceTime 30",
    "LogLevel INFO",
    "",
  ].join("\n");
}

/** An account's chroot (root-owned, as sshd requires) and the directory it writes in. */
export function userDirs(dataDir: string, user: string): { chroot: string; files: string } {
  if (!LOCAL_USER_NAME.test(user)) throw new Error(`'${user}' is not a local user name`);
  return { chroot: `${dataDir}/users/${user}`, files: `${dataDir}/users/${user}/files` };
}
