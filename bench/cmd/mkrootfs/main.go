// Command mkrootfs builds the benchmark's minimal task root in DIR (which
// must not exist): /bin/true and /bin/sleep with their shared libraries,
// mount points and an /etc/passwd. It is the root the comparison and the
// profiling commands in bench/README.md run in.
//
//	mkrootfs DIR
package main

import (
	"fmt"
	"os"

	"github.com/berthrun/berth/bench/internal/benchutil"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: mkrootfs DIR")
		os.Exit(2)
	}
	if err := os.Mkdir(os.Args[1], 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "mkrootfs:", err)
		os.Exit(1)
	}
	if err := benchutil.MakeRootfs(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "mkrootfs:", err)
		os.Exit(1)
	}
}
