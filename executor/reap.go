package executor

import (
	"fmt"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hashicorp/go-multierror"
)

// Reap waits for a task's main process and finishes the task the way an
// Executor does when it ends: it records how the task ended, kills what it
// left behind, removes its cgroup and writes the final state. pid must be a
// child of the calling process: the supervisor that launched it with
// Config.ExternalReaper, after it exec'd itself (execve keeps children).
// It waits with nothing but the pid in hand, so a lean supervisor touches
// no more of berth than it needs until the task ends.
func (s *Store) Reap(id string, pid int) (*ProcessState, error) {
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reap task %q (pid %d): %w", id, pid, err)
		}
		break
	}
	ps := &ProcessState{Pid: pid, Time: time.Now()}
	ps.setStatus(ws)

	dir, err := s.taskDir(id)
	if err != nil {
		return ps, err
	}
	st, err := readState(dir)
	if err != nil {
		return ps, err
	}
	errs := &multierror.Error{ErrorFormat: oneLine}
	if cg, err := s.cgroup(st); err == nil {
		if oom, err := cg.OOMKilled(); err == nil {
			ps.OOMKilled = oom
		}
		if err := cg.KillAll(); err != nil {
			errs = multierror.Append(errs, err)
		}
		if err := cg.Delete(); err != nil {
			errs = multierror.Append(errs, err)
		}
	}
	st.Status, st.ExitCode, st.Signal, st.OOMKilled = StatusStopped, ps.ExitCode, ps.Signal, ps.OOMKilled
	st.Finished = &ps.Time
	if err := writeState(filepath.Clean(dir), st); err != nil {
		errs = multierror.Append(errs, err)
	}
	return ps, errs.ErrorOrNil()
}
