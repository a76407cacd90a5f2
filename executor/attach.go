package executor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// attachment is a task another process launched, controlled through its
// state on disk.
type attachment struct {
	store *Store
	id    string
	state *State // as read at Reattach
}

// Reattach takes over a task that another process launched and recorded in
// cfg.StateDir (a detached task, or one whose launching process was
// restarted): Signal, Exec, ExecStream, Shutdown, Wait, Pause, Resume and
// UpdateResources work on it, every pid verified by its start time and
// cgroup as Store does. Wait's exit state comes from the task's reaper (the
// detached task's supervisor), which records it in the state file: the
// caller is not the task's parent and cannot reap it. Where nobody reaped
// it, Wait reports exit code -1.
func Reattach(cfg Config, id string) (*Executor, error) {
	e := New(cfg)
	s := NewStore(e.cfg.StateDir, e.cfg.CgroupParent, e.log)
	s.initPath = e.cfg.InitPath
	s.setupTimeout = e.cfg.SetupTimeout
	st, err := s.Get(id)
	if err != nil {
		return nil, err
	}
	if st.Status == StatusStopped {
		return nil, fmt.Errorf("reattach %q: %w", id, ErrNotRunning)
	}
	e.attached = &attachment{store: s, id: id, state: st}
	return e, nil
}

// wait blocks until the task's main process has exited and its reaper has
// recorded how, or ctx ends.
func (a *attachment) wait(ctx context.Context) (*ProcessState, error) {
	dir := filepath.Join(a.store.dir, a.id)
	fd, err := unix.PidfdOpen(a.state.Pid, 0)
	if err == nil {
		defer unix.Close(fd)
		// Opened, the pidfd names one process for good: if that is still
		// the task, wait for it to end; if not, it has ended already.
		if alive(a.state.Pid, a.state.PidStartTime) {
			if err := pollExit(ctx, fd); err != nil {
				return nil, err
			}
		}
	}
	for {
		cur, err := readState(dir)
		if err != nil {
			if os.IsNotExist(err) {
				return nil, fmt.Errorf("wait %q: %w (deleted)", a.id, ErrNotFound)
			}
			return nil, err
		}
		if cur.Pid != a.state.Pid {
			return nil, fmt.Errorf("wait %q: the id now names another task", a.id)
		}
		if cur.Status == StatusStopped {
			ps := &ProcessState{Pid: cur.Pid, ExitCode: cur.ExitCode, Signal: cur.Signal, OOMKilled: cur.OOMKilled}
			if cur.Finished != nil {
				ps.Time = *cur.Finished
			}
			return ps, nil
		}
		if !alive(cur.SupervisorPid, cur.SupervisorStartTime) {
			// Nobody is left to record how it ended: settle it as Store
			// does, exit code unknown.
			if st, err := a.store.Get(a.id); err == nil && st.Status == StatusStopped {
				return &ProcessState{Pid: st.Pid, ExitCode: st.ExitCode, Signal: st.Signal, OOMKilled: st.OOMKilled, Time: time.Now()}, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// pollExit waits for a pidfd to become readable (its process exited).
func pollExit(ctx context.Context, fd int) error {
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 100)
		if err != nil && err != unix.EINTR {
			return fmt.Errorf("poll pidfd: %w", err)
		}
		if n > 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// Exec runs c inside the task id (see Executor.ExecStream). A stopped or
// paused task is refused.
func (s *Store) Exec(ctx context.Context, id string, c *ExecCommand) (*ProcessState, error) {
	st, cg, err := s.live(id, "exec")
	if err != nil {
		return nil, err
	}
	defer cg.Close()
	if st.Status == StatusPaused {
		return nil, fmt.Errorf("exec %q: %w (resume it first)", id, ErrPaused)
	}
	x, err := readExecSettings(filepath.Join(s.dir, id))
	if err != nil {
		return nil, fmt.Errorf("exec %q: %w", id, err)
	}
	fd, err := unix.PidfdOpen(st.Pid, 0)
	if err != nil {
		return nil, fmt.Errorf("exec %q: %w", id, ErrNotRunning)
	}
	defer unix.Close(fd)
	// Checked after the pidfd is open: it then names the task for good.
	if !s.isTask(st, cg) {
		return nil, fmt.Errorf("exec %q: %w", id, ErrNotRunning)
	}
	ps, err := runExec(ctx, &execTarget{id: id, pid: st.Pid, pidfd: fd, cg: cg, settings: x, initPath: s.initPath,
		timeout: s.setupTimeout, pdeath: s.KillWithParent, log: s.log}, c)
	if err != nil {
		return ps, fmt.Errorf("exec %q: %w", id, err)
	}
	return ps, nil
}

// storeDefaults fills what NewStore leaves to the environment.
func storeDefaults(s *Store) {
	s.initPath = findInit("")
	s.setupTimeout = 30 * time.Second
}
