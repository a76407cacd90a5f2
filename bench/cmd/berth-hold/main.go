// Command berth-hold is the smallest program that embeds berth's executor:
// it launches one task, prints "ready PID" on stdout, and keeps the task
// until its stdin closes, then stops it (SIGKILL to the whole cgroup) and
// waits for the cleanup. The comparison measures its RSS while the task
// sleeps when the berth CLI cannot run a detached task, and it shows what
// a minimal program embedding the executor keeps resident.
//
//	berth-hold -rootfs DIR -state-dir DIR -cgroup-parent NAME -- CMD [ARG...]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/berthrun/berth/executor"
	"github.com/berthrun/berth/nsinit"
)

func main() {
	nsinit.Init() // first thing: this binary is also the task's init stage
	rootfs := flag.String("rootfs", "", "task dir (empty: berth's default task dir)")
	stateDir := flag.String("state-dir", "", "berth state dir")
	parent := flag.String("cgroup-parent", "", "cgroup parent")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "berth-hold: no command")
		os.Exit(2)
	}
	e := executor.New(executor.Config{StateDir: *stateDir, CgroupParent: *parent})
	ps, err := e.Launch(&executor.Command{TaskDir: *rootfs, Cmd: flag.Arg(0), Args: flag.Args()[1:]})
	if err != nil {
		fmt.Fprintln(os.Stderr, "berth-hold:", err)
		os.Exit(1)
	}
	// As the berth supervisor does: the launch's garbage goes back to the
	// OS before the long idle.
	debug.FreeOSMemory()
	fmt.Printf("ready %d\n", ps.Pid)
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := e.Shutdown("", 0); err != nil {
		fmt.Fprintln(os.Stderr, "berth-hold: shutdown:", err)
	}
	if _, err := e.Wait(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "berth-hold: wait:", err)
		os.Exit(1)
	}
}
