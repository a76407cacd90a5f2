package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/berthrun/berth/executor"
	"github.com/hashicorp/go-hclog"
)

// opTimeout bounds every operation: one that hangs is an error, not a
// stuck soak.
const opTimeout = 60 * time.Second

// execDeadline is the deadline of the exec that must pass it: long enough
// for the exec's own setup on a loaded machine (p99 ~150 ms at load 5), so
// that the deadline passes while the command runs.
const execDeadline = 300 * time.Millisecond

// libDriver runs tasks in this process through the executor library, one
// Executor per task, as a scheduler that vendors berth does; by-id
// operations go through a Store on the same state dir, as another process
// would.
type libDriver struct {
	cfg   executor.Config
	store *executor.Store
}

func newLibDriver(stateDir, parent string, killWithParent bool, log hclog.Logger) *libDriver {
	cfg := executor.Config{StateDir: stateDir, CgroupParent: parent, Logger: log, KillWithParent: killWithParent}
	return &libDriver{cfg: cfg, store: executor.NewStore(stateDir, parent, log)}
}

type libTask struct {
	id   string
	kind *kind
	e    *executor.Executor
}

func (t *libTask) ID() string { return t.id }

func (d *libDriver) launch(k *kind) (task, string, error) {
	e := executor.New(d.cfg)
	id := newID(k)
	_, err := e.Launch(&executor.Command{ID: id, Cmd: k.argv[0], Args: k.argv[1:], Logs: k.logs, Resources: k.res,
		StopSignal: k.stopSignal, StopGrace: k.grace})
	if err != nil {
		return nil, "launch", err
	}
	return &libTask{id: id, kind: k, e: e}, "launch", nil
}

// exec runs, in turn at random: /bin/true through the task's Executor
// (the figure the report quotes), the same through the Store by id, a
// shell that leaves a process running in the background (berth must kill
// it when the shell exits), and a sleep past its deadline (berth must kill
// it and say so).
func (d *libDriver) exec(tk task) (name string, err error) {
	t := tk.(*libTask)
	defer func() { err = t.gone(err) }()
	deadline := time.Now().Add(opTimeout)
	switch r := rand.IntN(10); {
	case r < 6:
		out, code, err := t.e.Exec(deadline, "/bin/true", nil)
		return "exec", wantExit(out, code, err, 0, "")
	case r < 7:
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		ps, err := d.store.Exec(ctx, t.id, &executor.ExecCommand{Cmd: "/bin/true"})
		code := -1
		if ps != nil {
			code = ps.ExitCode
		}
		return "exec-store", wantExit(nil, code, err, 0, "")
	case r < 9:
		out, code, err := t.e.Exec(deadline, "/bin/sh", []string{"-c", "sleep 3600 & echo ok"})
		return "exec-bg", wantExit(out, code, err, 0, "ok\n")
	default:
		_, _, err := t.e.Exec(time.Now().Add(execDeadline), "sleep", []string{"3600"})
		if !errors.Is(err, executor.ErrExecTimeout) {
			return "exec-timeout", fmt.Errorf("sleep past its deadline: got %v, want %v", err, executor.ErrExecTimeout)
		}
		return "exec-timeout", nil
	}
}

func wantExit(out []byte, code int, err error, wantCode int, wantOut string) error {
	switch {
	case err != nil:
		return err
	case code != wantCode:
		return fmt.Errorf("exit code %d, want %d (output %q)", code, wantCode, out)
	case wantOut != "" && string(out) != wantOut:
		return fmt.Errorf("output %q, want %q", out, wantOut)
	}
	return nil
}

// stats reads, in turn at random: one Usage of the task's Executor (the
// call a poller makes), a Store.Stats by id (two readings 250 ms apart),
// and a stream of three readings that is then cancelled (its goroutine
// must end and close the channel).
func (d *libDriver) stats(tk task) (name string, err error) {
	t := tk.(*libTask)
	defer func() { err = t.gone(err) }()
	switch r := rand.IntN(10); {
	case r < 7:
		u, err := t.e.Usage()
		if err != nil {
			return "stats", err
		}
		return "stats", checkPids(t.kind, len(u.Pids))
	case r < 9:
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		u, err := d.store.Stats(ctx, t.id)
		if err != nil {
			return "stats-store", err
		}
		return "stats-store", checkPids(t.kind, len(u.Pids))
	default:
		ctx, cancel := context.WithCancel(context.Background())
		ch, err := t.e.Stats(ctx, 10*time.Millisecond)
		if err != nil {
			cancel()
			return "stats-stream", err
		}
		for range 3 {
			if _, ok := <-ch; !ok {
				cancel()
				return "stats-stream", errors.New("stream closed before three readings")
			}
		}
		cancel()
		timer := time.NewTimer(5 * time.Second)
		defer timer.Stop()
		for {
			select {
			case _, ok := <-ch:
				if !ok {
					return "stats-stream", nil
				}
			case <-timer.C:
				return "stats-stream", errors.New("stream not closed 5s after its context was cancelled")
			}
		}
	}
}

// gone turns an error that says the task is not running (or no longer in
// the state dir) into errTaskGone, with how the task ended: nothing but
// the soak stops its tasks.
func (t *libTask) gone(err error) error {
	if err == nil || !errors.Is(err, executor.ErrNotRunning) && !errors.Is(err, executor.ErrNotFound) {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	ps, werr := t.e.Wait(ctx)
	if werr != nil || ps == nil {
		return fmt.Errorf("%s task: %w (%v; wait: %v)", t.kind.name, errTaskGone, err, werr)
	}
	return fmt.Errorf("%s task: %w: exit code %d, signal %d (%v)", t.kind.name, errTaskGone, ps.ExitCode, ps.Signal, err)
}

// checkPids checks a reading's process count: at least the main process,
// and never more than the kind keeps (an exec'd command's leftovers are
// killed before its exec returns).
func checkPids(k *kind, n int) error {
	if n < 1 || n > k.procs {
		return fmt.Errorf("%s task: %d processes in a reading, want 1 to %d", k.name, n, k.procs)
	}
	return nil
}

func (d *libDriver) stop(tk task) (string, error) {
	t := tk.(*libTask)
	name := "stop-kill"
	if t.kind.grace > 0 {
		name = "stop-signal"
	}
	if err := t.e.Shutdown(t.kind.stopSignal, t.kind.grace); err != nil {
		return name, err
	}
	ps, err := d.wait(t)
	if err != nil {
		return name, err
	}
	return name, checkEnd(t.kind, ps.ExitCode, ps.Signal)
}

func (d *libDriver) wait(t *libTask) (*executor.ProcessState, error) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	ps, err := t.e.Wait(ctx)
	if err != nil {
		return nil, fmt.Errorf("wait: %w", err)
	}
	return ps, nil
}

func (d *libDriver) kill(tk task) error {
	t := tk.(*libTask)
	if err := t.e.Shutdown("", 0); err != nil && !errors.Is(err, executor.ErrNotRunning) {
		return err
	}
	_, err := d.wait(t)
	return err
}

// newID names a task after its kind, so that a leftover says what it was.
func newID(k *kind) string {
	return "soak-" + k.name + "-" + executor.NewID()
}
