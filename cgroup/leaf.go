package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Leaf is a cgroup below a task's own that holds one exec'd process and
// everything it starts, so that exactly those can be killed (past an exec's
// deadline, or when the exec'd process exits) without touching the task.
// It lives on the hierarchy the task is tracked on (the v2 or unified
// hierarchy; the freezer on v1); on the v1 limit hierarchies the exec'd
// process joins the task's own cgroups, so the task's limits cover it.
// The task's KillAll, Pids and Delete include its leaves.
type Leaf struct {
	dir   string   // the leaf's directory
	v1    bool     // dir is a v1 freezer cgroup: no clone3 into it
	joins []string // the task's v1 limit cgroups the process joins
	fd    int      // O_PATH fd of dir for CLONE_INTO_CGROUP; -1 on v1
}

// NewLeaf creates the leaf name below the task's cgroup.
func (m *Manager) NewLeaf(name string) (*Leaf, error) {
	if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
		return nil, fmt.Errorf("cgroup leaf %q: not a plain name", name)
	}
	l := m.Leaf(name)
	if err := os.Mkdir(l.dir, 0o755); err != nil {
		return nil, &os.PathError{Op: "create cgroup", Path: l.dir, Err: unwrapPathErr(err)}
	}
	if !l.v1 {
		fd, err := unix.Open(l.dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			_ = removeDir(l.dir)
			return nil, &os.PathError{Op: "open cgroup", Path: l.dir, Err: err}
		}
		l.fd = fd
	}
	return l, nil
}

// Leaf is the leaf name below the task's cgroup, as NewLeaf made it (to
// kill and remove one whose owner is gone); it need not exist.
func (m *Manager) Leaf(name string) *Leaf {
	l := &Leaf{fd: -1}
	paths := m.h.paths()
	switch m.h.version() {
	case V1:
		l.v1 = true
		l.dir = filepath.Join(paths["freezer"], filepath.Base(name))
		for k, p := range paths {
			if k != "freezer" {
				l.joins = append(l.joins, p)
			}
		}
	default:
		l.dir = filepath.Join(m.h.dir(), filepath.Base(name))
		for k, p := range paths {
			if k != "unified" && p != m.h.dir() {
				l.joins = append(l.joins, p)
			}
		}
	}
	return l
}

// Leaves names the leaves below the task's cgroup.
func (m *Manager) Leaves() []string {
	dir := m.h.dir()
	if m.h.version() == V1 {
		dir = m.h.paths()["freezer"]
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Dir is the leaf's directory.
func (l *Leaf) Dir() string { return l.dir }

// FD is the leaf's directory fd for clone3's CLONE_INTO_CGROUP; ok is false
// on v1, where Adopt places the process.
func (l *Leaf) FD() (fd int, ok bool) { return l.fd, l.fd >= 0 }

// Adopt places pid where clone3 could not: the leaf itself on v1, and the
// task's v1 limit cgroups.
func (l *Leaf) Adopt(pid int) error {
	dirs := l.joins
	if l.v1 {
		dirs = append([]string{l.dir}, dirs...)
	}
	for _, d := range dirs {
		if err := writeFile(filepath.Join(d, "cgroup.procs"), strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("join pid %d to cgroup %s: %w", pid, d, err)
		}
	}
	return nil
}

// Pids lists the processes in the leaf.
func (l *Leaf) Pids() ([]int, error) { return procsTree(l.dir) }

// procsTree lists the processes in the cgroup dir and every cgroup below
// it. A cgroup below that vanishes while it is read (an exec's leaf, removed
// when the exec ends) holds nothing; dir itself gone is an empty list too:
// nothing can run in a deleted cgroup.
func procsTree(dir string) ([]int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if deleted(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil && !deleted(err) {
		return nil, err
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		sub, err := procsTree(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		pids = append(pids, sub...)
	}
	return pids, nil
}

// KillAll kills every process in the leaf and returns once it is empty:
// one write to cgroup.kill where the kernel has it, else SIGKILL to each
// listed process until none is left (an exec's processes are few, and a
// fork racing the listing is caught by the next round).
func (l *Leaf) KillAll() error {
	deadline := time.Now().Add(killTimeout)
	kill := filepath.Join(l.dir, "cgroup.kill")
	useKill := !l.v1
	if useKill {
		if err := writeFile(kill, "1"); err != nil {
			if deleted(err) {
				return nil
			}
			useKill = false
		}
	}
	delay := time.Millisecond
	for {
		pids, err := l.Pids()
		if err != nil {
			return fmt.Errorf("kill all in cgroup %s: %w", l.dir, err)
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kill all in cgroup %s: %d processes still there after %s: %v", l.dir, len(pids), killTimeout, pids)
		}
		if !useKill {
			for _, pid := range pids {
				_ = unix.Kill(pid, unix.SIGKILL)
			}
		}
		time.Sleep(delay)
		delay = min(2*delay, pollMax)
	}
}

// Close closes the leaf's fd and leaves the leaf as it is (a detached
// exec's, whose processes live on in it).
func (l *Leaf) Close() {
	if l.fd >= 0 {
		unix.Close(l.fd)
		l.fd = -1
	}
}

// Delete closes the fd and removes the leaf, which must be empty. A leaf
// already removed with its task's cgroup is not an error.
func (l *Leaf) Delete() error {
	if l.fd >= 0 {
		unix.Close(l.fd)
		l.fd = -1
	}
	return removeDir(l.dir)
}
