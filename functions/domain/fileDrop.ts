// Where the file drop keeps its files and records in the cluster's bucket: one prefix per cluster,
// named here once for the service, the node role's grant and the bucket's expiry rules.
export const FILEDROP_KEY_PREFIX = "filedrop/";
/** The longest a link may last; the bucket expires everything below the prefix a day after that. */
export const FILEDROP_MAX_DAYS = 14;
