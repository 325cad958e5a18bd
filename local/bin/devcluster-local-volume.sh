# What the local node stand-ins share about local volumes (sourced by blkid, mkfs.ext4, mount and
# umount in this directory). A local EBS volume is a directory <cluster>/volumes/<volume id> with
# its contents in fs/, `fstype` once a file system was made, and `mounted-by` (node and path) while a
# node has it mounted; <cluster>/volumes/ledger records every mkfs, mount and unmount, so a test can
# check that no two nodes ever had one volume at once.
is_local_volume() { [ -d "$1" ] && [ -f "$1/.devcluster-volume" ]; }
ledger() { # volume dir, operation, node, path
  printf '%s %s %s %s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)" "$2" "$(basename "$1")" "$3" "${4:--}" >>"$(dirname "$1")/ledger"
}
node_id() { basename "${ROOT:?ROOT must name the node directory}"; }
