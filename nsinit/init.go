// Package nsinit is berth's init stage: the parent re-executes its own
// binary with argv[0] set to InitArg0 inside the task's new namespaces, and
// Init, called first thing in main, recognises that, reads the plan from the
// sync socket, runs the setup steps in order and execs the task.
//
// A program that embeds the executor library must call Init at the very top
// of main, before anything else runs:
//
//	func main() {
//		nsinit.Init()
//		...
//	}
//
// In any process that is not an init stage, Init returns at once.
package nsinit

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// InitArg0 is the argv[0] the parent gives the init stage.
const InitArg0 = "berth-init"

func init() {
	if IsInit() {
		// Capabilities, credentials and no_new_privs are per thread and
		// execve keeps the calling thread's: pin the whole setup and the
		// execve to the main thread.
		runtime.LockOSThread()
	}
}

// IsInit reports whether this process is a berth init stage.
func IsInit() bool { return len(os.Args) > 0 && os.Args[0] == InitArg0 }

// Init runs the init stage and never returns when this process is one;
// otherwise it returns at once. It runs in the child.
func Init() {
	if !IsInit() {
		return
	}
	os.Exit(run())
}

// run reads the plan and carries it out; it returns only on failure, after
// reporting the failed step to the parent.
func run() int {
	// The exec of the init stage cleared close-on-exec on the socket; set it
	// again so the task's exec closes it and the parent sees end-of-file.
	start := time.Now()
	unix.CloseOnExec(SyncFD)
	sock := os.NewFile(SyncFD, "sync")
	c := &child{sock: sock}
	var err error
	if c.plan, err = readPlan(sock); err != nil {
		c.report(err.(*planError).step, "", err.(*planError).err)
		return 1
	}
	if c.plan.Timings {
		c.times = append(c.times, StepTime{"start", start.UnixNano()}, StepTime{"read plan", time.Now().UnixNano()})
	}
	table := steps
	if c.plan.Mode == ModeExec {
		table = execSteps
	}
	for _, s := range table {
		if err := s.run(c); err != nil {
			c.report(s.name, "", err)
			return 1
		}
		if c.plan.Timings {
			c.times = append(c.times, StepTime{s.name, time.Now().UnixNano()})
		}
	}
	return 1 // unreachable: the exec step only returns on error
}

// planError is a plan the init stage refuses, with the step to report.
type planError struct {
	step string
	err  error
}

func (e *planError) Error() string { return e.step + ": " + e.err.Error() }

// readPlan reads the plan and checks this build speaks it: the same
// protocol version, no field it does not know, a mode it has.
func readPlan(r io.Reader) (Plan, error) {
	b, err := readLine(r)
	if err != nil {
		return Plan{}, &planError{"read plan", err}
	}
	// An unknown field is a plan from a newer berth: refuse it rather
	// than set up a task without what it asked for.
	p, err := decodePlan(b)
	if err != nil {
		return p, &planError{"read plan", fmt.Errorf("%w (is this init binary from the same berth build?)", err)}
	}
	if p.Version != Version {
		return p, &planError{"protocol", fmt.Errorf("berth speaks protocol %d, this init binary %d: use the berth-init built with berth", p.Version, Version)}
	}
	if p.Mode != ModeLaunch && p.Mode != ModeExec {
		return p, &planError{"read plan", fmt.Errorf("unknown mode %q", p.Mode)}
	}
	return p, nil
}

// report sends a failed step to the parent. The path comes from the error
// when it carries one (mounts.Error, os.PathError).
func (c *child) report(step, path string, err error) {
	c.reportPid(step, path, 0, err)
}

// reportPid is report with the pid of a forked command that failed, for
// the parent to reap.
func (c *child) reportPid(step, path string, pid int, err error) {
	m := Message{Type: MsgError, Step: step, Path: path, Pid: pid, Text: err.Error()}
	var errno unix.Errno
	if errors.As(err, &errno) {
		m.Errno = int(errno)
	}
	if m.Path == "" {
		m.Path = pathOf(err)
	}
	_ = writeMessage(c.sock, &m)
}
