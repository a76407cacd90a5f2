package test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berthrun/berth/executor"
	"github.com/berthrun/berth/internal/testutil"
	"golang.org/x/sys/unix"
)

// The executor tests drive the library in this test binary, which
// TestMain makes an init stage too (nsinit.Init first thing).

// lineWriter collects a task's output and closes ready at the first write
// that completes a line containing want.
type lineWriter struct {
	want  string
	mu    sync.Mutex
	buf   bytes.Buffer
	once  sync.Once
	ready chan struct{}
}

func newLineWriter(want string) *lineWriter {
	return &lineWriter{want: want, ready: make(chan struct{})}
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, _ := w.buf.Write(b)
	for _, l := range strings.SplitAfter(w.buf.String(), "\n") {
		if strings.HasSuffix(l, "\n") && strings.Contains(l, w.want) {
			w.once.Do(func() { close(w.ready) })
		}
	}
	return n, nil
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// waitReady waits for the wanted line; the bound only guards a hang.
func (w *lineWriter) waitReady(t *testing.T) {
	t.Helper()
	select {
	case <-w.ready:
	case <-time.After(runTimeout):
		t.Fatalf("no %q from the task within %v; output %q", w.want, runTimeout, w.String())
	}
}

// newExecutor returns an executor for one task of tk (its state dir and
// the default cgroup parent), shut down when the test ends.
func newExecutor(t *testing.T, tk *task) *executor.Executor {
	t.Helper()
	e := executor.New(executor.Config{StateDir: tk.stateDir, CgroupParent: cgroupParent})
	t.Cleanup(func() { _ = e.Shutdown("", 0) })
	return e
}

// probeCommand runs the probe with args on the default task dir.
func probeCommand(tk *task, args ...string) *executor.Command {
	return &executor.Command{
		ID:   tk.id,
		Cmd:  "/probe/probe",
		Args: args,
		Env:  []string{tk.marker},
		Isolation: executor.Isolation{
			Mounts: []executor.Mount{{Source: probeDir, Destination: "/probe", ReadOnly: true}},
		},
	}
}

// waitExit waits for the task's end, bounded only as a guard.
func waitExit(t *testing.T, e *executor.Executor) *executor.ProcessState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	st, err := e.Wait(ctx)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return st
}

// TestExecutorExitCode: Launch returns the task's pid; Wait its exit code.
func TestExecutorExitCode(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	e := newExecutor(t, tk)
	started, err := e.Launch(probeCommand(tk, "exit", "7"))
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	if started.Pid <= 0 {
		t.Errorf("Launch: pid %d", started.Pid)
	}
	st := waitExit(t, e)
	if st.ExitCode != 7 || st.Signal != 0 || st.Pid != started.Pid || st.OOMKilled || st.Time.IsZero() {
		t.Errorf("Wait: %+v, want exit 7, signal 0, pid %d, a time", st, started.Pid)
	}
	if st2 := waitExit(t, e); *st2 != *st {
		t.Errorf("second Wait: %+v, want the same %+v", st2, st)
	}
}

// TestExecutorReport: the task launched by the library is isolated as the
// CLI's: pid 1, only fds 0-2 (stdin /dev/null when none is given), its
// cgroup, no_new_privs; its stdout reaches a plain io.Writer.
func TestExecutorReport(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	r := executorReport(t, tk)
	if r.Pid != 1 || !slices.Equal(r.Pids, []int{1}) {
		t.Errorf("pid %d, pids %v, want 1 and [1]", r.Pid, r.Pids)
	}
	if !slices.Equal(r.FDs, []int{0, 1, 2}) {
		t.Errorf("fds %v (%v), want [0 1 2]", r.FDs, r.FDTargets)
	}
	if r.FDTargets["0"] != "/dev/null" {
		t.Errorf("stdin is %q, want /dev/null when none is given", r.FDTargets["0"])
	}
	if r.Status["NoNewPrivs"] != "1" || r.Status["CapEff"] != capHex(defaultCaps) {
		t.Errorf("NoNewPrivs %q CapEff %q, want 1 and %s", r.Status["NoNewPrivs"], r.Status["CapEff"], capHex(defaultCaps))
	}
	assertInCgroup(t, r.Cgroup, cgroupParent, tk.id)
}

// TestExecutorShutdown: Shutdown sends the stop signal (SIGINT by default),
// waits the grace, then kills what is left.
func TestExecutorShutdown(t *testing.T) {
	t.Parallel()
	t.Run("sigterm trapped", func(t *testing.T) {
		t.Parallel()
		st, out := shutdownTask(t, []string{"trap", "30"}, "SIGTERM", 30*time.Second)
		if st.ExitCode != 0 || !strings.Contains(out, `{"signal":"terminated"}`) {
			t.Errorf("state %+v, output %q: want exit 0 after trapping SIGTERM", st, out)
		}
	})
	t.Run("default sigint", func(t *testing.T) {
		t.Parallel()
		st, out := shutdownTask(t, []string{"trap", "30"}, "", 30*time.Second)
		if st.ExitCode != 0 || !strings.Contains(out, `{"signal":"interrupt"}`) {
			t.Errorf("state %+v, output %q: want exit 0 after trapping SIGINT", st, out)
		}
	})
	t.Run("ignored then killed", func(t *testing.T) {
		t.Parallel()
		st, out := shutdownTask(t, []string{"ignore-term", "100"}, "SIGTERM", time.Second)
		if st.ExitCode != 137 || st.Signal != int(syscall.SIGKILL) {
			t.Errorf("state %+v, output %q: want exit 137, signal 9", st, out)
		}
	})
	t.Run("unknown signal", func(t *testing.T) {
		t.Parallel()
		tk := newTask(t)
		e := newExecutor(t, tk)
		out := newLineWriter(`"ready":true`)
		cmd := probeCommand(tk, "pause")
		cmd.Stdout = out
		if _, err := e.Launch(cmd); err != nil {
			t.Fatalf("Launch: %v", err)
		}
		out.waitReady(t)
		err := e.Shutdown("FOO", time.Second)
		if err == nil || !strings.Contains(err.Error(), `unknown signal "FOO"`) {
			t.Errorf("Shutdown(FOO): %v, want unknown signal \"FOO\"", err)
		}
		if pids, _ := testutil.ProcessesWithMarker(tk.marker); len(pids) == 0 {
			t.Errorf("Shutdown with an unknown signal stopped the task")
		}
		if err := e.Shutdown("", 0); err != nil {
			t.Errorf("Shutdown(\"\", 0): %v", err)
		}
		if st := waitExit(t, e); st.ExitCode != 137 {
			t.Errorf("after Shutdown with no grace: %+v, want exit 137", st)
		}
	})
}

// shutdownTask launches the probe with args, waits until it is ready, shuts
// it down and returns its final state and output.
func shutdownTask(t *testing.T, args []string, sig string, grace time.Duration) (*executor.ProcessState, string) {
	t.Helper()
	tk := newTask(t)
	e := newExecutor(t, tk)
	out := newLineWriter(`"ready":true`)
	cmd := probeCommand(tk, args...)
	cmd.Stdout = out
	if _, err := e.Launch(cmd); err != nil {
		t.Fatalf("Launch: %v", err)
	}
	out.waitReady(t)
	if err := e.Shutdown(sig, grace); err != nil {
		t.Errorf("Shutdown(%q, %v): %v", sig, grace, err)
	}
	st := waitExit(t, e)
	return st, out.String()
}

// TestExecutorSignal: Signal delivers to the task's main process.
func TestExecutorSignal(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	e := newExecutor(t, tk)
	out := newLineWriter(`"ready":true`)
	cmd := probeCommand(tk, "pause")
	// Not pid 1: a namespace's init ignores a SIGTERM it has no handler
	// for, and the Go runtime's re-raise would turn it into exit 2.
	cmd.Isolation.PID = executor.ModeHost
	cmd.Stdout = out
	if _, err := e.Launch(cmd); err != nil {
		t.Fatalf("Launch: %v", err)
	}
	out.waitReady(t)
	if err := e.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("Signal: %v", err)
	}
	if st := waitExit(t, e); st.ExitCode != 143 || st.Signal != int(syscall.SIGTERM) {
		t.Errorf("state %+v, want exit 143, signal 15", st)
	}
	if err := e.Signal(syscall.SIGTERM); !errors.Is(err, executor.ErrNotRunning) {
		t.Errorf("Signal after exit: %v, want ErrNotRunning", err)
	}
}

// TestExecutorNotImplemented: the parts of the API of later issues say so,
// and Version works.
func TestExecutorNotImplemented(t *testing.T) {
	t.Parallel()
	e := executor.New(executor.Config{StateDir: t.TempDir()})
	// Stats is built: before Launch there is no task to read.
	if _, err := e.Stats(context.Background(), time.Second); !errors.Is(err, executor.ErrNotRunning) {
		t.Errorf("Stats before Launch: %v, want ErrNotRunning", err)
	}
	if _, err := e.Usage(); !errors.Is(err, executor.ErrNotRunning) {
		t.Errorf("Usage before Launch: %v, want ErrNotRunning", err)
	}
	// Exec is built: before Launch there is no task to exec into.
	if _, _, err := e.Exec(time.Now().Add(time.Minute), "/bin/true", nil); !errors.Is(err, executor.ErrNotRunning) {
		t.Errorf("Exec before Launch: %v, want ErrNotRunning", err)
	}
	// UpdateResources is built (issue 3): before Launch there is no task.
	if err := e.UpdateResources(&executor.Resources{PidsLimit: 10}); !errors.Is(err, executor.ErrNotRunning) {
		t.Errorf("UpdateResources before Launch: %v, want ErrNotRunning", err)
	}
	v, err := e.Version()
	if err != nil || v == nil || v.Version == "" {
		t.Errorf("Version: %+v, %v", v, err)
	}
}

// TestExecutorSetupErrors: a failed setup step comes back as a
// *SetupError naming the path, with the errno behind it, and leaves
// nothing behind.
func TestExecutorSetupErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		cmd   func(t *testing.T, tk *task) *executor.Command
		errno unix.Errno // 0: not checked
		step  string     // "": not checked
		path  string
	}{
		{"missing command", func(t *testing.T, tk *task) *executor.Command {
			c := probeCommand(tk)
			c.Cmd = "/nosuch"
			return c
		}, unix.ENOENT, "exec", "/nosuch"},
		{"not executable", func(t *testing.T, tk *task) *executor.Command {
			c := probeCommand(tk)
			c.TaskDir = newRootfs(t)
			c.Isolation.Mounts = nil
			if err := os.WriteFile(filepath.Join(c.TaskDir, "noexec"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			c.Cmd = "/noexec"
			return c
		}, unix.EACCES, "exec", "/noexec"},
		{"mount dest symlink", func(t *testing.T, tk *task) *executor.Command {
			c := probeCommand(tk)
			c.TaskDir = newRootfs(t)
			c.Cmd = "/probe"
			if err := os.Symlink("/etc", filepath.Join(c.TaskDir, "evil")); err != nil {
				t.Fatal(err)
			}
			c.Isolation.Mounts = []executor.Mount{{Source: plantedDir(t), Destination: "/evil"}}
			return c
		}, 0, "", "/evil"},
		{"unknown user", func(t *testing.T, tk *task) *executor.Command {
			c := probeCommand(tk)
			c.TaskDir = newRootfs(t)
			c.Cmd = "/probe"
			c.Isolation.Mounts = nil
			c.User = "bob"
			return c
		}, 0, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tk := newTask(t)
			e := newExecutor(t, tk)
			_, err := e.Launch(c.cmd(t, tk))
			var se *executor.SetupError
			if !errors.As(err, &se) {
				t.Fatalf("Launch: %v (%T), want a *SetupError", err, err)
			}
			if c.errno != 0 && !errors.Is(err, c.errno) {
				t.Errorf("Launch: %v, want errors.Is %v (errno %d)", err, c.errno, int(c.errno))
			}
			if c.step != "" && se.Step != c.step {
				t.Errorf("SetupError step %q, want %q (%v)", se.Step, c.step, err)
			}
			if c.path != "" && !strings.Contains(se.Path, c.path) {
				t.Errorf("SetupError path %q, want it to name %s (%v)", se.Path, c.path, err)
			}
			if _, err := e.Wait(context.Background()); !errors.Is(err, executor.ErrNotRunning) {
				t.Errorf("Wait after a failed Launch: %v, want ErrNotRunning", err)
			}
			testutil.AssertNoProcess(t, tk.marker)
			testutil.AssertNoCgroup(t, cgroupParent, tk.id)
			testutil.AssertNoState(t, tk.stateDir, tk.id)
			assertNotPlanted(t)
		})
	}
}

// executorReport launches `probe report` through the library, its stdout
// going to a plain io.Writer, and returns what the probe saw.
func executorReport(t *testing.T, tk *task) Report {
	t.Helper()
	e := newExecutor(t, tk)
	out := newLineWriter("}")
	cmd := probeCommand(tk, "report")
	cmd.Stdout = out
	if _, err := e.Launch(cmd); err != nil {
		t.Fatalf("Launch: %v", err)
	}
	if st := waitExit(t, e); st.ExitCode != 0 {
		t.Fatalf("Wait: %+v, want exit 0; output %q", st, out.String())
	}
	var r Report
	if err := json.Unmarshal([]byte(out.String()), &r); err != nil {
		t.Fatalf("probe output: %v: %q", err, out.String())
	}
	return r
}

// TestExecutorSignalsReset: a program embedding the executor that ignores
// SIGHUP (as nohup leaves it) does not pass the ignore on: the Go runtime
// of the init stage keeps an inherited ignored SIGHUP or SIGINT, and
// execve would hand it to the task. Not parallel: the ignore is
// process-wide.
func TestExecutorSignalsReset(t *testing.T) {
	signal.Ignore(syscall.SIGHUP)
	defer signal.Reset(syscall.SIGHUP)
	tk := newTask(t)
	r := executorReport(t, tk)
	if r.Status["SigIgn"] != "0000000000000000" || r.Status["SigBlk"] != "0000000000000000" {
		t.Errorf("task SigIgn %q SigBlk %q, want nothing ignored or blocked", r.Status["SigIgn"], r.Status["SigBlk"])
	}
}
