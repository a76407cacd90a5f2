package testutil

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ProcStat is what a test needs of /proc/PID/stat.
type ProcStat struct {
	// State is the one-letter process state ('R', 'S', 'Z', ...).
	State byte
	// Session is the session id (field 6).
	Session int
	// TTY is the controlling terminal's device number, 0 for none (field 7).
	TTY int
	// StartTime is when the process started, in clock ticks since boot
	// (field 22): with the pid it names one process, even across pid reuse.
	StartTime uint64
}

// ReadProcStat reads /proc/PID/stat. The command name (field 2) may hold
// spaces and parentheses, so the fields are counted from its last ')'.
func ReadProcStat(pid int) (ProcStat, error) {
	file := fmt.Sprintf("/proc/%d/stat", pid)
	b, err := os.ReadFile(file)
	if err != nil {
		return ProcStat{}, err
	}
	s := string(b)
	end := strings.LastIndexByte(s, ')')
	if end < 0 {
		return ProcStat{}, fmt.Errorf("parse %s: no command name", file)
	}
	// f[0] is field 3 (state).
	f := strings.Fields(s[end+1:])
	if len(f) < 20 {
		return ProcStat{}, fmt.Errorf("parse %s: %d fields after the command name", file, len(f))
	}
	var st ProcStat
	st.State = f[0][0]
	if st.Session, err = strconv.Atoi(f[3]); err != nil {
		return ProcStat{}, fmt.Errorf("parse %s: session: %w", file, err)
	}
	if st.TTY, err = strconv.Atoi(f[4]); err != nil {
		return ProcStat{}, fmt.Errorf("parse %s: tty_nr: %w", file, err)
	}
	if st.StartTime, err = strconv.ParseUint(f[19], 10, 64); err != nil {
		return ProcStat{}, fmt.Errorf("parse %s: starttime: %w", file, err)
	}
	return st, nil
}

// Running reports whether pid is still the process that started at start
// and has not exited (a zombie has exited; only its reaping is pending).
func Running(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	st, err := ReadProcStat(pid)
	return err == nil && st.StartTime == start && st.State != 'Z' && st.State != 'X'
}

// WaitExited waits up to timeout for the process (pid, start) to exit and
// reports whether it did. The bound guards against a hang; it is not a
// timing assertion.
func WaitExited(pid int, start uint64, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for Running(pid, start) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// KillVerified sends SIGKILL to pid only if it is still the process that
// started at start, so that a reused pid never gets the signal. It reports
// whether it sent it.
func KillVerified(pid int, start uint64) bool {
	if !Running(pid, start) {
		return false
	}
	return unix.Kill(pid, unix.SIGKILL) == nil
}

// ReadCgroupFile reads one cgroup file, trimmed of surrounding space.
func ReadCgroupFile(dir, name string) (string, error) {
	b, err := os.ReadFile(dir + "/" + name)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// RemoveCgroupDirs kills the processes tagged with marker and removes the
// cgroup directories of task id under parent, for a test's last-resort
// cleanup after it has reported them as left behind. A cgroup may not be
// removed while a process is still leaving it, hence the retries.
func RemoveCgroupDirs(parent, id, marker string) error {
	KillMarked(marker)
	dirs, err := CgroupDirs(parent, id)
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range dirs {
		deadline := time.Now().Add(5 * time.Second)
		for {
			err := unix.Rmdir(d)
			if err == nil || errors.Is(err, unix.ENOENT) {
				break
			}
			if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
				errs = append(errs, fmt.Errorf("remove cgroup %s: %w", d, err))
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return errors.Join(errs...)
}

// WaitGone waits up to timeout for the process (pid, start) to be gone
// entirely: exited and reaped by its parent. It reports whether it is.
func WaitGone(pid int, start uint64, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		st, err := ReadProcStat(pid)
		if err != nil || st.StartTime != start {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// WaitComm waits up to timeout for the process (pid, start) to be named
// comm in /proc/PID/comm (the file name it last exec'd, or the name it
// gave itself since). It returns nil once it is, or an error saying the
// name it had last, or that it exited first. The bound guards against a
// hang; it is not a timing assertion.
func WaitComm(pid int, start uint64, comm string, timeout time.Duration) error {
	file := fmt.Sprintf("/proc/%d/comm", pid)
	deadline := time.Now().Add(timeout)
	for {
		b, err := os.ReadFile(file)
		// Checked after the read: a name read from a reused pid is not
		// this process's.
		if !Running(pid, start) {
			return fmt.Errorf("process %d (start %d) exited before it was named %q", pid, start, comm)
		}
		got := strings.TrimSuffix(string(b), "\n")
		if err == nil && got == comm {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("process %d not named %q within %v: %w", pid, comm, timeout, err)
			}
			return fmt.Errorf("process %d is named %q after %v, want %q", pid, got, timeout, comm)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
