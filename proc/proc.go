// Package proc parses the parts of procfs berth reads from the parent:
// a process's stat, status, command line and children, and the list of
// pids. Every reader is rooted at a directory so tests can point it at a
// fake tree; production code uses New("/proc").
package proc

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// FS reads process information from a procfs mounted at its root.
type FS struct{ root string }

// New returns an FS reading the procfs at root, normally "/proc".
func New(root string) FS { return FS{root: root} }

// ClockTicks returns the unit of the tick counts in /proc/PID/stat (UTime,
// STime, StartTime): USER_HZ, which the kernel fixes at 100 on every
// architecture Go supports, whatever its internal HZ (it converts with
// jiffies_to_clock_t so that the ABI does not change with CONFIG_HZ).
// sysconf(_SC_CLK_TCK) only reports the same constant through the aux
// vector, so there is nothing to ask at run time and no cgo to do it with.
func ClockTicks() uint64 { return 100 }

// path returns root/PID/elem...
func (p FS) path(pid int, elem ...string) string {
	return filepath.Join(append([]string{p.root, strconv.Itoa(pid)}, elem...)...)
}

// procGoneError marks an ESRCH from reading a procfs file as "does not
// exist": the process was reaped between open(2) and read(2), and the
// kernel's show functions report that as ESRCH rather than ENOENT.
type procGoneError struct{ err error }

func (e procGoneError) Error() string { return e.err.Error() }

func (e procGoneError) Unwrap() error { return e.err }

func (e procGoneError) Is(target error) bool { return target == fs.ErrNotExist }

// procErr wraps err as "OP pid PID: err", making a process that vanished
// mid-read satisfy errors.Is(err, fs.ErrNotExist) like one that was never
// there.
func procErr(op string, pid int, err error) error {
	if errors.Is(err, syscall.ESRCH) {
		err = procGoneError{err}
	}
	return fmt.Errorf("%s pid %d: %w", op, pid, err)
}

// procIsGone reports whether err says the file or its process is gone.
func procIsGone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH)
}

// Cmdline returns the arguments of pid from /proc/PID/cmdline. It is nil
// for kernel threads and zombies, whose cmdline is empty. A process that
// overwrote its argv (setproctitle) may yield one space-joined argument.
func (p FS) Cmdline(pid int) ([]string, error) {
	data, err := os.ReadFile(p.path(pid, "cmdline"))
	if err != nil {
		return nil, procErr("cmdline", pid, err)
	}
	if len(data) == 0 {
		return nil, nil
	}
	// Each argument ends in a NUL, so the last one is a terminator, not a
	// separator before an empty argument.
	data = bytes.TrimSuffix(data, []byte{0})
	return strings.Split(string(data), "\x00"), nil
}

// Children returns the children of every thread of pid, sorted, from
// /proc/PID/task/TID/children. A child belongs to the thread that forked
// it, so reading only the main thread misses children of a multi-threaded
// parent (any Go program). The kernel builds each list while walking
// live siblings, so the answer is exact only while the process cannot
// fork or reap, e.g. when its cgroup is frozen.
func (p FS) Children(pid int) ([]int, error) {
	taskDir := p.path(pid, "task")
	entries, err := os.ReadDir(taskDir)
	if err != nil {
		return nil, procErr("children", pid, err)
	}
	var (
		children []int
		read     int
	)
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		file := filepath.Join(taskDir, e.Name(), "children")
		data, err := os.ReadFile(file)
		if procIsGone(err) {
			// The thread exited after the directory was listed.
			continue
		}
		if err != nil {
			return nil, procErr("children", pid, err)
		}
		read++
		for _, f := range strings.Fields(string(data)) {
			child, err := strconv.Atoi(f)
			if err != nil {
				return nil, procErr("children", pid, fmt.Errorf("parse %s: %q is not a pid", file, f))
			}
			children = append(children, child)
		}
	}
	if read == 0 {
		// Every thread exited (the process is gone), or the kernel was built
		// without CONFIG_PROC_CHILDREN and there is no children file at all.
		if _, err := os.Stat(p.path(pid)); err != nil {
			return nil, procErr("children", pid, err)
		}
		return nil, procErr("children", pid, fmt.Errorf("no task/*/children file under %s (kernel without CONFIG_PROC_CHILDREN?)", taskDir))
	}
	slices.Sort(children)
	return slices.Compact(children), nil
}

// Pids returns the pids listed in the procfs root, sorted. Only the pid
// namespace procfs was mounted in is seen.
func (p FS) Pids() ([]int, error) {
	entries, err := os.ReadDir(p.root)
	if err != nil {
		return nil, fmt.Errorf("list pids: %w", err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		// Require the canonical spelling so "self", "thread-self" and any
		// stray "+1" or "01" in a fake tree are not taken for pids.
		if err != nil || pid <= 0 || strconv.Itoa(pid) != e.Name() || !e.IsDir() {
			continue
		}
		pids = append(pids, pid)
	}
	slices.Sort(pids)
	return pids, nil
}
