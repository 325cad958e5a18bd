// The control plane's etcd user name, apart from the PKI so the template can name its parameter without
// loading the X.509 library.

/** The control plane's etcd user: etcd's `root` (client-certificate CN is the user name). */
export const CONTROL_PLANE_USER = "root";
