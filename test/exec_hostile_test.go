package test

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthrun/berth/executor"
)

// stealStdout is a task that waits for a process whose command line names
// MARK, reopens that process's stdout through /proc and holds it for ever.
const stealStdout = `while :; do for d in /proc/[0-9]*; do if grep -q "MAR[K]" $d/cmdline 2>/dev/null; then exec 5>$d/fd/1; sleep 100000; fi; done; sleep 0.05; done`

// TestTaskCannotHoldExecOpen: a health check's Exec relays the exec'd
// process's output through a pipe; a task process that reopens that pipe
// through /proc/PID/fd/1 holds its write end past the command's end. Exec
// still returns with the command's status and output once the command and
// everything it started are gone, and well before its deadline.
func TestTaskCannotHoldExecOpen(t *testing.T) {
	t.Parallel()
	d := newDetached(t)
	d.detach(nil, "/bin/sh", "-c", stealStdout)
	st := d.waitStatus("running")
	store := executor.NewStore(d.stateDir, cgroupParent, nil)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	type result struct {
		ps  *executor.ProcessState
		err error
	}
	done := make(chan result, 1)
	go func() {
		ps, err := store.Exec(ctx, d.id, &executor.ExecCommand{Cmd: "/bin/sh", Args: []string{"-c", "sleep 0.5; echo MARK; echo done"}, Stdout: &out})
		done <- result{ps, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(runTimeout):
		// The exec is stuck for good: end the task, which ends it.
		mustSucceed(t, d.verb("delete", "--force"))
		<-done
		t.Fatalf("Exec still running %v after it started: the task holds it open", runTimeout)
	}
	ps, err := r.ps, r.err
	if err != nil {
		t.Fatalf("Exec: %v (the task held its output open?)", err)
	}
	if ps.ExitCode != 0 || !strings.Contains(out.String(), "done") {
		t.Errorf("Exec: exit %d, output %q; want 0 and the command's output", ps.ExitCode, out.String())
	}
	if ctx.Err() != nil {
		t.Errorf("Exec returned only at its deadline")
	}
	assertNoExecCgroups(t, st, "after the held exec")
}

// TestExecLeafOfKilledCallerSwept: a berth exec killed outright leaves the
// background children of its command in its leaf cgroup; the next exec
// into the task finds the leaf's owner dead, kills them and removes it.
func TestExecLeafOfKilledCallerSwept(t *testing.T) {
	t.Parallel()
	d, st := startPause(t)
	// Its output goes nowhere: the daemon would hold a pipe of the test's.
	args := append([]string{"--state-dir", d.stateDir}, execArgs(d.id, nil, "/bin/sh", "-c",
		"/probe/probe sleep 1000 & touch /tmp/ready; exec /probe/probe sleep 1000")...)
	c := exec.Command(berthBin, args...)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(runTimeout)
	for d.exec(nil, "/bin/sh", "-c", "test -e /tmp/ready").code != 0 {
		if time.Now().After(deadline) {
			c.Process.Kill()
			c.Wait()
			t.Fatalf("the exec'd command did not start within %v", runTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := c.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.Wait()
	mustSucceed(t, d.exec(nil, "/bin/true"))
	d.assertOnlyMain(st, "after the next exec")
	assertNoExecCgroups(t, st, "after the next exec")
}

// TestSupervisorTermRightAfterDetach: a SIGTERM to the supervisor the
// moment `run -d` has printed the id stops the task with its stop signal
// and records how it ended; it never ends the supervisor between its
// images and leaves the task running unreaped.
func TestSupervisorTermRightAfterDetach(t *testing.T) {
	t.Parallel()
	for i := 0; i < 6; i++ {
		d := newDetached(t)
		d.detach(append(probeMount(), "--stop-signal", "KILL"), append(hostProbe, "pause")...)
		st := d.state()
		if err := syscall.Kill(st.SupervisorPid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
			t.Fatal(err)
		}
		end := d.waitStatus("stopped")
		if end.ExitCode != 128+int(syscall.SIGKILL) || end.Signal != int(syscall.SIGKILL) {
			t.Errorf("round %d: stopped with exit %d signal %d, want 137 and SIGKILL recorded by the supervisor", i, end.ExitCode, end.Signal)
		}
		mustSucceed(t, d.verb("delete"))
	}
}
