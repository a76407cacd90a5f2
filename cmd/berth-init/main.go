// Command berth-init is berth's lean init stage: the binary berth starts
// inside a task's new namespaces. It links only what the init stage needs
// (nsinit, mounts, caps and x/sys), so it starts fast and a detached task's
// resident supervisor stays small.
// The runtime must not hold the launching process's cgroup files open in
// the init stage (from Go 1.25 it keeps cpu.max, or v1's
// cfs_quota_us/cfs_period_us, of the cgroup it starts in open to follow the
// CPU limit): a task that reaches the init stage's fds would write its
// caller's (containerd's shim's) CPU quota. GOMAXPROCS is set by berth.
//
//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0
package main

import (
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"github.com/berthrun/berth/nsinit"
	"golang.org/x/sys/unix"
)

func init() {
	if len(os.Args) > 0 && os.Args[0] == reaperArg0 {
		// Keep main on the main thread, which execs (reaper.go).
		runtime.LockOSThread()
	}
}

func main() {
	// Started from a sealed copy (/proc/self/fd/N: executor/sealinit.go),
	// the process would be named after the fd number.
	name := []byte("berth-init\x00")
	_ = unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&name[0])), 0, 0, 0)
	nsinit.Init()
	if len(os.Args) > 0 && os.Args[0] == reaperArg0 {
		os.Exit(reaper(os.Args[1:]))
	}
	fmt.Fprintln(os.Stderr, "berth-init: berth starts this binary inside a task; it is not run by hand")
	os.Exit(2)
}
