package executor

import (
	"errors"
	"fmt"
	"io/fs"
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
	return s.Finish(id, pid, ws)
}

// Finish ends a task whose main process pid the caller has reaped with
// status ws, as Reap does after its wait: it records how the task ended,
// kills what it left behind, removes its cgroup and writes the final state.
// A lean reaper that waited for the task itself hands over to it.
func (s *Store) Finish(id string, pid int, ws syscall.WaitStatus) (*ProcessState, error) {
	ps := &ProcessState{Pid: pid, Time: time.Now()}
	ps.setStatus(ws)

	dir, err := s.taskDir(id)
	if err != nil {
		return ps, err
	}
	errs := &multierror.Error{ErrorFormat: oneLine}
	st, err := readState(dir)
	switch {
	case err != nil:
		// Still kill and remove what the task left, found by its id.
		errs = multierror.Append(errs, err)
		st = &State{ID: id, CgroupParent: s.cgroupParent}
	case st.Pid != pid:
		// The task was deleted and its id reused while this reaper was
		// still finishing: the state and cgroup are the new task's.
		return ps, nil
	}
	cg, err := s.cgroup(st)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = multierror.Append(errs, err)
	}
	if err == nil {
		defer cg.Close()
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
	if st.Pid == pid {
		st.Status, st.ExitCode, st.Signal, st.OOMKilled = StatusStopped, ps.ExitCode, ps.Signal, ps.OOMKilled
		st.Finished = &ps.Time
		if err := writeState(filepath.Clean(dir), st); err != nil {
			errs = multierror.Append(errs, err)
		}
	}
	return ps, errs.ErrorOrNil()
}
