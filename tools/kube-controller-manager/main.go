// Command kube-controller-manager is the upstream Kubernetes controller manager, built from the same
// Go modules (and versions) as tools/kube-apiserver, so the test stack's Deployments really create
// ReplicaSets and Pods. The stack runs only the controllers it needs (--controllers).
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	os.Exit(cli.Run(app.NewControllerManagerCommand()))
}
