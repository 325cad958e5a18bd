// The etcd server, built from the release the cluster's main nodes install (cloudformation/options.ts
// etcdVersion), so the local cluster, the tests and the benchmarks run the same etcd.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
