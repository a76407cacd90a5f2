package test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthrun/berth/executor"
	"github.com/berthrun/berth/internal/testutil"
	"golang.org/x/sys/unix"
)

// launchPause launches the probe's pause through the library and returns
// once it is ready.
func launchPause(t *testing.T, tk *task) *executor.Executor {
	t.Helper()
	e := newExecutor(t, tk)
	out := newLineWriter(`"ready":true`)
	cmd := probeCommand(tk, "pause")
	cmd.Stdout = out
	if _, err := e.Launch(cmd); err != nil {
		t.Fatalf("Launch: %v", err)
	}
	out.waitReady(t)
	return e
}

// openFDCount is how many fds this process has open.
func openFDCount(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// settles waits up to 10s for f to come down to at most want and returns
// its last value.
func settles(want int, f func() int) int {
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := f()
		if n <= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// markedOnly reports whether the marker's processes are exactly pids,
// waiting up to 2s for killed ones to go.
func markedOnly(t *testing.T, marker string, pids ...int) []int {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		got, err := testutil.ProcessesWithMarker(marker)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		if slices.Equal(got, pids) || time.Now().After(deadline) {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestExecutorExec: Executor.Exec returns the command's exit code and the
// last 4 KiB of its combined output; past its deadline it fails with an
// error wrapping ErrExecTimeout, has killed what the command started, and
// leaks neither goroutines nor fds, while the task runs on. Not parallel:
// it counts the test process's goroutines and fds.
func TestExecutorExec(t *testing.T) {
	tk := newTask(t)
	e := launchPause(t, tk)
	deadline := func(d time.Duration) time.Time { return time.Now().Add(d) }

	out, code, err := e.Exec(deadline(runTimeout), "/probe/probe", []string{"exit", "3"})
	if err != nil || code != 3 {
		t.Errorf("Exec probe exit 3: code %d, err %v, output %q", code, err, out)
	}
	out, code, err = e.Exec(deadline(runTimeout), "/bin/sh", []string{"-c", "echo to-stdout; echo to-stderr >&2"})
	if err != nil || code != 0 || !strings.Contains(string(out), "to-stdout\n") || !strings.Contains(string(out), "to-stderr\n") {
		t.Errorf("Exec with output on both streams: code %d, err %v, output %q; want both lines", code, err, out)
	}
	out, code, err = e.Exec(deadline(runTimeout), "/bin/sh", []string{"-c", `i=0; while [ $i -lt 2000 ]; do echo line-$i; i=$((i+1)); done; echo END`})
	if err != nil || code != 0 || len(out) > 4096 || !strings.HasSuffix(string(out), "line-1999\nEND\n") {
		t.Errorf("Exec with 20 KiB of output: code %d, err %v, %d bytes ending %q; want the last 4 KiB at most", code, err, len(out), out[max(0, len(out)-40):])
	}
	out, code, err = e.Exec(deadline(runTimeout), "/nosuch", nil)
	if err == nil || !errors.Is(err, unix.ENOENT) {
		t.Errorf("Exec /nosuch: code %d, err %v, output %q; want an error wrapping ENOENT", code, err, out)
	}

	goroutines, fds := runtime.NumGoroutine(), openFDCount(t)
	start := time.Now()
	out, code, err = e.Exec(deadline(time.Second), "/bin/sh", []string{"-c", "sleep 1000 & sleep 1000"})
	took := time.Since(start)
	if !errors.Is(err, executor.ErrExecTimeout) {
		t.Errorf("Exec past its deadline: code %d, err %v, output %q; want an error wrapping ErrExecTimeout", code, err, out)
	}
	if took < time.Second || took > 15*time.Second {
		t.Errorf("Exec with a 1s deadline returned after %v", took)
	}
	if got := markedOnly(t, tk.marker, e.Pid()); !slices.Equal(got, []int{e.Pid()}) {
		t.Errorf("after the timed-out exec the task's processes are %s, want only its main process %d", testutil.Describe(got), e.Pid())
	}
	if n := settles(goroutines, runtime.NumGoroutine); n > goroutines {
		t.Errorf("%d goroutines after the timed-out exec, %d before", n, goroutines)
	}
	if n := settles(fds, func() int { return openFDCount(t) }); n > fds {
		t.Errorf("%d fds open after the timed-out exec, %d before", n, fds)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if st, err := e.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("after the timed-out exec the task ended: %+v %v", st, err)
	}
	if out, code, err := e.Exec(deadline(runTimeout), "/bin/echo", []string{"again"}); err != nil || code != 0 || string(out) != "again\n" {
		t.Errorf("Exec after the timeout: code %d, err %v, output %q", code, err, out)
	}
}

// TestExecutorExecStream: ExecStream connects stdin and stdout, applies the
// command's user, env and cwd over the task's, and reports the exit code.
func TestExecutorExecStream(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	e := launchPause(t, tk)
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()

	var stdout, stderr bytes.Buffer
	ps, err := e.ExecStream(ctx, &executor.ExecCommand{Cmd: "/bin/cat", Stdin: strings.NewReader("through-stdin\n"), Stdout: &stdout, Stderr: &stderr})
	if err != nil || ps == nil || ps.ExitCode != 0 || stdout.String() != "through-stdin\n" {
		t.Errorf("ExecStream cat: %+v %v, stdout %q stderr %q", ps, err, stdout.String(), stderr.String())
	}

	stdout.Reset()
	ps, err = e.ExecStream(ctx, &executor.ExecCommand{Cmd: "/probe/probe", Args: []string{"ids"},
		Env: []string{"FOO=over"}, Cwd: "/tmp", User: "1000:1000", Stdout: &stdout})
	if err != nil || ps == nil || ps.ExitCode != 0 {
		t.Fatalf("ExecStream probe ids: %+v %v, output %q", ps, err, stdout.String())
	}
	var ids ProbeIDs
	if err := json.Unmarshal(stdout.Bytes(), &ids); err != nil {
		t.Fatalf("probe ids: %v: %q", err, stdout.String())
	}
	if ids.UID != 1000 || ids.GID != 1000 || ids.Cwd != "/tmp" || !hasEnv(ids.Env, "FOO=over") || !hasEnv(ids.Env, tk.marker) {
		t.Errorf("ExecStream as 1000:1000 in /tmp with FOO=over: uid %d gid %d cwd %q env %q", ids.UID, ids.GID, ids.Cwd, ids.Env)
	}

	ps, err = e.ExecStream(ctx, &executor.ExecCommand{Cmd: "/probe/probe", Args: []string{"kill-self", "TERM"}})
	if err != nil || ps == nil || ps.ExitCode != 128+int(syscall.SIGTERM) || ps.Signal != int(syscall.SIGTERM) {
		t.Errorf("ExecStream probe kill-self TERM: %+v %v, want exit 143, signal 15", ps, err)
	}

	// A cancelled context ends the exec and kills what it started.
	cctx, ccancel := context.WithTimeout(ctx, time.Second)
	defer ccancel()
	start := time.Now()
	_, err = e.ExecStream(cctx, &executor.ExecCommand{Cmd: "/bin/sh", Args: []string{"-c", "sleep 1000 & sleep 1000"}})
	if err == nil || time.Since(start) > 15*time.Second {
		t.Errorf("ExecStream past its context's deadline: %v after %v, want an error", err, time.Since(start))
	}
	if got := markedOnly(t, tk.marker, e.Pid()); !slices.Equal(got, []int{e.Pid()}) {
		t.Errorf("after the cancelled exec the task's processes are %s, want only its main process %d", testutil.Describe(got), e.Pid())
	}
}

// TestStoreExec: Store.Exec runs a command in a task another process
// launched (a detached CLI task), and names an unknown id.
func TestStoreExec(t *testing.T) {
	t.Parallel()
	d, st := startPause(t)
	s := executor.NewStore(d.stateDir, cgroupParent, nil)
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	var out bytes.Buffer
	ps, err := s.Exec(ctx, d.id, &executor.ExecCommand{Cmd: "/bin/echo", Args: []string{"via-store"}, Stdout: &out})
	if err != nil || ps == nil || ps.ExitCode != 0 || out.String() != "via-store\n" {
		t.Errorf("Store.Exec echo: %+v %v, output %q", ps, err, out.String())
	}
	_, err = s.Exec(ctx, "no-such-task-"+d.id, &executor.ExecCommand{Cmd: "/bin/true"})
	if !errors.Is(err, executor.ErrNotFound) {
		t.Errorf("Store.Exec into an unknown id: %v, want ErrNotFound", err)
	}
	d.assertOnlyMain(st, "after Store.Exec")
}

// TestReattach: an Executor reattached to a detached CLI task execs into
// it, signals it, and Wait returns the exit code its reaper recorded;
// Shutdown stops it with the signal and grace given.
func TestReattach(t *testing.T) {
	t.Parallel()
	reattach := func(t *testing.T, tk *task) *executor.Executor {
		t.Helper()
		e, err := executor.Reattach(executor.Config{StateDir: tk.stateDir, CgroupParent: cgroupParent}, tk.id)
		if err != nil {
			t.Fatalf("Reattach %s: %v", tk.id, err)
		}
		if e.Pid() <= 0 || e.ID() != tk.id {
			t.Errorf("reattached executor: pid %d id %q", e.Pid(), e.ID())
		}
		out, code, err := e.Exec(time.Now().Add(runTimeout), "/bin/echo", []string{"reattached"})
		if err != nil || code != 0 || string(out) != "reattached\n" {
			t.Errorf("Exec on the reattached task: code %d, err %v, output %q", code, err, out)
		}
		return e
	}
	waitCode := func(t *testing.T, e *executor.Executor, want int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
		defer cancel()
		st, err := e.Wait(ctx)
		if err != nil || st == nil || st.ExitCode != want {
			t.Errorf("Wait on the reattached task: %+v %v, want exit %d", st, err, want)
		}
	}
	t.Run("signal and wait", func(t *testing.T) {
		t.Parallel()
		tk := newTask(t)
		startTrapShell(t, tk, nil, `trap "exit 7" TERM; while :; do sleep 0.05; done`)
		e := reattach(t, tk)
		if err := e.Signal(syscall.SIGTERM); err != nil {
			t.Fatalf("Signal: %v", err)
		}
		waitCode(t, e, 7)
	})
	t.Run("shutdown", func(t *testing.T) {
		t.Parallel()
		tk := newTask(t)
		startTrapShell(t, tk, nil, `trap "exit 9" TERM; while :; do sleep 0.05; done`)
		e := reattach(t, tk)
		if err := e.Shutdown("SIGTERM", 30*time.Second); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		waitCode(t, e, 9)
	})
	t.Run("unknown id", func(t *testing.T) {
		t.Parallel()
		tk := newTask(t)
		if _, err := executor.Reattach(executor.Config{StateDir: tk.stateDir, CgroupParent: cgroupParent}, tk.id); !errors.Is(err, executor.ErrNotFound) {
			t.Errorf("Reattach to an unknown id: %v, want ErrNotFound", err)
		}
	})
}

// TestExecutorExecTerminal: ExecStream with Terminal gives the command a pty
// of the task's own devpts, sized by Size and resized through Resize, and
// relays it to Stdout.
func TestExecutorExecTerminal(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	e := launchPause(t, tk)
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	out := newLineWriter(`"ready":true`)
	stdin, stdinW := io.Pipe()
	defer stdinW.Close()
	resize := make(chan executor.WindowSize, 1)
	type done struct {
		ps  *executor.ProcessState
		err error
	}
	dn := make(chan done, 1)
	go func() {
		ps, err := e.ExecStream(ctx, &executor.ExecCommand{Cmd: "/probe/probe", Args: []string{"winch", "30", "25", "90"},
			Stdin: stdin, Stdout: out, Terminal: true, Size: &executor.WindowSize{Rows: 20, Cols: 70}, Resize: resize})
		dn <- done{ps, err}
	}()
	out.waitReady(t)
	var ti TTYInfo
	if err := json.Unmarshal([]byte(strings.TrimSpace(strings.Split(out.String(), "\n")[0])), &ti); err != nil {
		t.Fatalf("probe winch: %v: %q", err, out.String())
	}
	assertTaskTerminal(t, ti, 0, 20, 70)
	resize <- executor.WindowSize{Rows: 25, Cols: 90}
	var d done
	select {
	case d = <-dn:
	case <-ctx.Done():
		t.Fatalf("ExecStream with a terminal did not return; output %q", out.String())
	}
	if d.err != nil || d.ps == nil || d.ps.ExitCode != 0 {
		t.Errorf("ExecStream with a terminal: %+v %v; output %q", d.ps, d.err, out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	ti = TTYInfo{}
	if err := json.Unmarshal([]byte(strings.TrimSpace(lines[len(lines)-1])), &ti); err != nil || ti.Step != 1 || ti.Rows != 25 || ti.Cols != 90 {
		t.Errorf("after a resize to 25x90 through Resize the command saw %+v (%v); output %q", ti, err, out.String())
	}
}
