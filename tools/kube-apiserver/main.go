// Command kube-apiserver is the upstream Kubernetes API server, built from Go
// modules so the test stack can run a real control plane without downloading
// release binaries (only the Go module proxy is reachable).
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
