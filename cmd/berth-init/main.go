// Command berth-init is berth's lean init stage: the binary berth starts
// inside a task's new namespaces. It links only what the init stage needs
// (nsinit, mounts, caps and x/sys), so it starts fast and a detached task's
// resident supervisor stays small.
package main

import (
	"fmt"
	"os"
	"runtime"

	"github.com/berthrun/berth/nsinit"
)

func init() {
	if len(os.Args) > 0 && os.Args[0] == reaperArg0 {
		// Keep main on the main thread, which execs (reaper.go).
		runtime.LockOSThread()
	}
}

func main() {
	nsinit.Init()
	if len(os.Args) > 0 && os.Args[0] == reaperArg0 {
		os.Exit(reaper(os.Args[1:]))
	}
	fmt.Fprintln(os.Stderr, "berth-init: berth starts this binary inside a task; it is not run by hand")
	os.Exit(2)
}
