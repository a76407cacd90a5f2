// Command initstart times how long a binary takes to start as berth's init
// stage and give up: clone, execve, dynamic loading (when not static), the
// Go runtime start and every package's init, then nsinit reading a plan
// from fd 3, which is /dev/null here, so it reports the error and exits.
// That is the fixed cost an init stage pays before its first setup step.
// Binaries that are not berth init stages (/bin/true) are timed the same
// way for reference.
//
//	initstart [-ns] [-env K=V ...] -n 200 BIN...
package main

import (
	"flag"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/berthrun/berth/bench/internal/benchutil"
	"github.com/berthrun/berth/nsinit"
	"golang.org/x/sys/unix"
)

func main() {
	n := flag.Int("n", 200, "starts per binary")
	ns := flag.Bool("ns", false, "start in new mount, pid, ipc and uts namespaces (needs root)")
	var env []string
	flag.Func("env", "KEY=VALUE for the started binary (repeatable; e.g. GOGC=off)", func(v string) error {
		env = append(env, v)
		return nil
	})
	flag.Parse()
	null, err := os.Open(os.DevNull)
	if err != nil {
		fmt.Fprintln(os.Stderr, "initstart:", err)
		os.Exit(1)
	}
	sys := &syscall.SysProcAttr{}
	if *ns {
		sys.Cloneflags = unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS
	}
	for _, bin := range flag.Args() {
		var d []time.Duration
		for i := 0; i < *n; i++ {
			t0 := time.Now()
			p, err := os.StartProcess(bin, []string{nsinit.InitArg0}, &os.ProcAttr{
				Env: env, Files: []*os.File{null, null, null, null}, Sys: sys,
			})
			if err != nil {
				fmt.Fprintln(os.Stderr, "initstart:", err)
				os.Exit(1)
			}
			if _, err := p.Wait(); err != nil {
				fmt.Fprintln(os.Stderr, "initstart:", err)
				os.Exit(1)
			}
			d = append(d, time.Since(t0))
		}
		s := benchutil.Summarize(d)
		fmt.Printf("%-40s start-to-exit median %.3fms p95 %.3fms\n", bin, benchutil.Ms(s.Median), benchutil.Ms(s.P95))
	}
}
