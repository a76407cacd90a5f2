package executor

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// startGate is the fifo in a task's state dir that a task launched with
// Command.WaitForStart waits on.
const startGate = "start.fifo"

// makeStartGate makes the task's start gate and returns an O_PATH fd of
// it for the init stage. Mode 0622: the init stage opens it for writing
// after it took on the task's user.
func makeStartGate(dir string) (*os.File, error) {
	p := filepath.Join(dir, startGate)
	if err := unix.Mkfifo(p, 0o622); err != nil {
		return nil, fmt.Errorf("start gate: %w", &os.PathError{Op: "mkfifo", Path: p, Err: err})
	}
	// Mkfifo's mode passes the umask.
	if err := os.Chmod(p, 0o622); err != nil {
		return nil, fmt.Errorf("start gate: %w", err)
	}
	fd, err := unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("start gate: %w", &os.PathError{Op: "open", Path: p, Err: err})
	}
	return os.NewFile(uintptr(fd), p), nil
}

// gated reports whether a task's start gate is still closed.
func gated(dir string) bool {
	fi, err := os.Lstat(filepath.Join(dir, startGate))
	return err == nil && fi.Mode()&os.ModeNamedPipe != 0
}

// startTimeout bounds how long Start waits for a held task to take its
// start: it is at the gate already, so only a dying task keeps it.
const startTimeout = 10 * time.Second

// Start lets a task launched with Command.WaitForStart run its command: it
// opens the task's start gate for reading, which releases the init stage
// blocked opening it for writing, and takes the byte it writes. A task
// that is not held (never was, or was started) is an error matching
// ErrNotCreated; one that died while held, ErrNotRunning.
func (s *Store) Start(id string) error {
	st, err := s.held(id)
	if err != nil {
		return err
	}
	dir := filepath.Join(s.dir, id)
	switch st.Status {
	case StatusCreated:
	case StatusStopped:
		return fmt.Errorf("start %q: %w", id, ErrNotRunning)
	default:
		return fmt.Errorf("start %q: %w (it is %s)", id, ErrNotCreated, st.Status)
	}
	p := filepath.Join(dir, startGate)
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("start %q: %w", id, &os.PathError{Op: "open", Path: p, Err: err})
	}
	defer unix.Close(fd)
	// Only one start: the gate goes once it is open; a second start finds
	// no fifo.
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("start %q: %w", id, err)
	}
	deadline := time.Now().Add(startTimeout)
	buf := make([]byte, 4096)
	started := false
	// After the start byte, the init stage writes why it fails, if it
	// does (a startContainer hook), before it exits.
	var failure []byte
	for {
		n, err := unix.Read(fd, buf)
		switch {
		case n > 0:
			// Released; the init stage holds its end until its execve.
			data := buf[:n]
			if !started {
				started, data = true, data[1:]
			}
			if len(failure) < 4096 {
				failure = append(failure, data...)
			}
		case started && err == nil && n == 0:
			// End of file: the command runs (or the process died). What
			// came after the start byte is the init stage's failure only
			// if it died: the gate can be reopened through /proc/PID/fd
			// by a process of the container holding CAP_SYS_PTRACE over
			// the init stage, and a live process with an exe of its own
			// (a zombie has none) has exec'd its command.
			if len(failure) > 0 && !execd(st) {
				return fmt.Errorf("start %q: the task ended before its command: %s", id, strconv.Quote(string(failure)))
			}
			return nil
		case err == nil && n == 0:
			// No writer: the init stage died at the gate, or has not
			// reopened it yet after our open woke it.
			if !s.alive(st) {
				return fmt.Errorf("start %q: %w: it died before its start", id, ErrNotRunning)
			}
		case err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR):
			return fmt.Errorf("start %q: read start gate: %w", id, err)
		}
		// Once the task took its start, only its startContainer hooks
		// stand between it and its command, bounded by their own
		// timeouts; end of file comes with the execve or its death.
		if !started && time.Now().After(deadline) {
			return fmt.Errorf("start %q: the task did not take its start within %s", id, startTimeout)
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		_, _ = unix.Poll(pfd, 10)
	}
}

// held is Get for Start, without loading the task's cgroups (Get's
// dearest part: ocibench put it at 6-11 % of start) when the state, the
// start gate, the live main process and the unified cgroup's freezer say
// the task is held and not paused. Anything else gets Get's answer.
func (s *Store) held(id string) (*State, error) {
	dir, err := s.taskDir(id)
	if err != nil {
		return nil, err
	}
	st, err := readState(dir)
	if err == nil && st.Status == StatusRunning && gated(dir) && alive(st.Pid, st.PidStartTime) {
		if u := st.Cgroup["unified"]; u != "" {
			if b, err := os.ReadFile(filepath.Join(u, "cgroup.events")); err == nil && bytes.Contains(b, []byte("\nfrozen 0")) {
				st.Status = StatusCreated
				return st, nil
			}
		}
	}
	return s.Get(id)
}

// execd reports whether the held task's main process lives past its
// start: it has an exe (a zombie has none) and is still the task's.
func execd(st *State) bool {
	if _, err := os.Stat("/proc/" + strconv.Itoa(st.Pid) + "/exe"); err != nil {
		return false
	}
	return alive(st.Pid, st.PidStartTime)
}

// alive reports whether the task's recorded main process still runs.
func (s *Store) alive(st *State) bool {
	return alive(st.Pid, st.PidStartTime)
}
