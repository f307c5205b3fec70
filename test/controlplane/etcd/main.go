// Command etcd runs the etcd server from go.etcd.io/etcd/server/v3, built
// through the Go module proxy for the control plane tests.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
