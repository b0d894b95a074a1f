// Command etcd is etcd's server entry point, built from the served go.etcd.io/etcd/server/v3
// module (etcd's own main is in the root module, which depends on the others by local paths).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
