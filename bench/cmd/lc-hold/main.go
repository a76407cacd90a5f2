// Command lc-hold is libcontainer's counterpart of berth-hold: one
// program that starts one container the way Nomad's executor does (see
// package lcbench), prints "ready PID" on stdout, keeps it until stdin
// closes, then kills and destroys it. The comparison reads its RSS while
// the container sleeps: it is what a Nomad executor process holds per task.
//
//	lc-hold -rootfs DIR -state-dir DIR -id ID -- CMD [ARG...]
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/berthrun/berth/bench/lcbench"
)

func main() {
	lcbench.Init() // first thing: this binary is also libcontainer's init
	rootfs := flag.String("rootfs", "", "container root")
	stateDir := flag.String("state-dir", "", "libcontainer state root")
	id := flag.String("id", "lc-hold", "container id")
	flag.Parse()
	if flag.NArg() == 0 || *rootfs == "" || *stateDir == "" {
		fmt.Fprintln(os.Stderr, "lc-hold: want -rootfs, -state-dir and a command")
		os.Exit(2)
	}
	c, err := lcbench.Start(*stateDir, *rootfs, *id, flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "lc-hold:", err)
		os.Exit(1)
	}
	// The same courtesy berth-hold and the berth supervisor get.
	debug.FreeOSMemory()
	fmt.Printf("ready %d\n", c.Pid())
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := c.Kill(); err != nil {
		fmt.Fprintln(os.Stderr, "lc-hold: kill:", err)
	}
	if _, err := c.Wait(); err != nil {
		fmt.Fprintln(os.Stderr, "lc-hold:", err)
		os.Exit(1)
	}
}
