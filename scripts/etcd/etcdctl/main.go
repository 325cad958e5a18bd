// etcdctl (v3 API only), from the same release as the server beside it.
package main

import "go.etcd.io/etcd/etcdctl/v3/ctlv3"

func main() { ctlv3.MustStart() }
