// Command taskupdate changes a running task's limits through containerd's
// client API, the way CRI (kubelet's resize) and Nomad do; ctr has no
// update verb. The shim turns it into the runtime's `update --resources=-`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func main() {
	address := flag.String("address", "", "containerd socket")
	ns := flag.String("namespace", "", "containerd namespace")
	id := flag.String("id", "", "container id")
	memory := flag.Int64("memory", 0, "memory limit in bytes (0: unchanged)")
	shares := flag.Uint64("cpu-shares", 0, "cpu shares (0: unchanged)")
	flag.Parse()
	if err := update(*address, *ns, *id, *memory, *shares); err != nil {
		fmt.Fprintln(os.Stderr, "taskupdate:", err)
		os.Exit(1)
	}
}

func update(address, ns, id string, memory int64, shares uint64) error {
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), ns), 30*time.Second)
	defer cancel()
	client, err := containerd.New(address)
	if err != nil {
		return err
	}
	defer client.Close()
	c, err := client.LoadContainer(ctx, id)
	if err != nil {
		return err
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		return err
	}
	res := &specs.LinuxResources{}
	if memory != 0 {
		res.Memory = &specs.LinuxMemory{Limit: &memory}
	}
	if shares != 0 {
		res.CPU = &specs.LinuxCPU{Shares: &shares}
	}
	return task.Update(ctx, containerd.WithResources(res))
}
