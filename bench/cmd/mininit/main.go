// Command mininit is an init stage binary and nothing else: main calls
// nsinit.Init and exits. It shows what berth's init stage costs to start
// when the binary re-executed links only nsinit and its dependencies
// (mounts, caps, x/sys) instead of the whole embedding program; pass it
// as executor.Config.InitPath to launch through it.
package main

import (
	"os"

	"github.com/berthrun/berth/nsinit"
)

func main() {
	nsinit.Init()
	os.Stderr.WriteString("mininit: not started as berth-init\n")
	os.Exit(2)
}
