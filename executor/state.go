package executor

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/berthrun/berth/cgroup"
	"github.com/berthrun/berth/internal/logs"
	"github.com/berthrun/berth/proc"
	"golang.org/x/sys/unix"
)

// Task statuses as `berth state` reports them.
const (
	StatusRunning = "running"
	StatusPaused  = "paused"
	StatusStopped = "stopped"
	// StatusCreating is a task whose launch has not written its state
	// yet (list only).
	StatusCreating = "creating"
	// StatusCreated is a task launched with Command.WaitForStart, set up
	// and held before its command until Store.Start (OCI's "created").
	StatusCreated = "created"
)

const stateFile = "state.json"

// State is what <state-dir>/<id>/state.json records of a task. The pid is
// paired with its start time (field 22 of /proc/PID/stat) so that a reused
// pid is never mistaken for the task; the same goes for the supervisor.
type State struct {
	ID           string `json:"id"`
	Pid          int    `json:"pid"`
	PidStartTime uint64 `json:"pid_start_time"`
	Status       string `json:"status"`
	// ExitCode is the task's status, 128+N for signal N; -1 when the task
	// ended while nobody was there to reap it (its supervisor was killed).
	ExitCode  int  `json:"exit_code"`
	Signal    int  `json:"signal"`
	OOMKilled bool `json:"oom_killed"`

	Cgroup       map[string]string `json:"cgroup"`
	CgroupParent string            `json:"cgroup_parent"`
	// CgroupPath is the task's cgroup below every hierarchy's root
	// ("/a/b") when it was placed by Config.CgroupPath rather than under
	// CgroupParent.
	CgroupPath    string `json:"cgroup_path,omitempty"`
	CgroupVersion int    `json:"cgroup_version"`
	CgroupV2Mount string `json:"cgroup_v2_mount,omitempty"`

	// Rootfs is the task dir given; empty for the default one, which
	// exists only in the task's mount namespace.
	Rootfs string `json:"rootfs"`
	// DefaultRootfs is true when the task runs on the default task dir.
	DefaultRootfs bool `json:"default_rootfs"`
	// HostMountRoot, for a task sharing the host's mount namespace, is its
	// task dir, whose mounts above the one with id HostMountBase are the
	// task's, taken off when it is deleted.
	HostMountRoot string `json:"host_mount_root,omitempty"`
	HostMountBase uint64 `json:"host_mount_base,omitempty"`

	Created  time.Time  `json:"created"`
	Finished *time.Time `json:"finished,omitempty"`

	// StopSignal and StopGrace are how Store.Stop stops the task unless
	// told otherwise.
	StopSignal string `json:"stop_signal,omitempty"`
	StopGrace  string `json:"stop_grace,omitempty"`

	SupervisorPid       int    `json:"supervisor_pid"`
	SupervisorStartTime uint64 `json:"supervisor_start_time"`
}

// procfs reads the host's /proc.
var procfs = proc.New("/proc")

// newState describes a task that has just started.
func newState(t *task, cfg *Config, cmd *Command) *State {
	st := &State{
		ID: t.id, Pid: t.pid, Status: StatusRunning,
		Cgroup: t.cg.Paths(), CgroupParent: cfg.CgroupParent, CgroupVersion: t.cg.Version(),
		CgroupV2Mount: cfg.CgroupV2Mount,
		Rootfs:        t.rootfs, DefaultRootfs: t.rootfs == "",
		Created:       t.created,
		SupervisorPid: os.Getpid(),
		StopSignal:    cmd.StopSignal,
	}
	// Recorded even when zero: a grace of 0s (kill at once) is a choice
	// Store.Stop must keep, not the default it falls back to.
	st.StopGrace = cmd.StopGrace.String()
	if cfg.CgroupPath != "" {
		// Where a relative path went, resolved against this process's
		// cgroup: a later verb runs elsewhere.
		st.CgroupPath = t.cg.Path()
	}
	st.HostMountRoot, st.HostMountBase = t.hostRoot, t.hostBase
	st.PidStartTime, _ = procfs.StartTime(t.pid)
	st.SupervisorStartTime = ownStartTime()
	return st
}

// ownStartTime is this process's start time, read once: it never changes,
// not even across an exec.
var ownStartTime = sync.OnceValue(func() uint64 {
	start, _ := procfs.StartTime(os.Getpid())
	return start
})

// writeState records st in dir atomically: a reader sees the old file or
// the new one, never half of one.
func writeState(dir string, st *State) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".state-*")
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	// No fsync: the state describes processes, which do not survive a
	// crash of the machine either (the default state dir is tmpfs); the
	// rename alone keeps readers from ever seeing half a file.
	_, err = tmp.Write(append(b, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, stateFile))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("state: %w", err)
	}
	return nil
}

// readState reads and checks dir/state.json. A truncated or corrupt file
// is an error naming the file, never a zero State.
func readState(dir string) (*State, error) {
	file := filepath.Join(dir, stateFile)
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("state %s: corrupt: %w", file, err)
	}
	switch {
	case st.ID == "" || st.ID != filepath.Base(dir):
		return nil, fmt.Errorf("state %s: corrupt: id %q does not match its directory", file, st.ID)
	case st.Pid <= 0:
		return nil, fmt.Errorf("state %s: corrupt: pid %d", file, st.Pid)
	case st.Status != StatusRunning && st.Status != StatusPaused && st.Status != StatusStopped:
		return nil, fmt.Errorf("state %s: corrupt: status %q", file, st.Status)
	case st.CgroupVersion != cgroup.V1 && st.CgroupVersion != cgroup.V2 && st.CgroupVersion != cgroup.Hybrid:
		return nil, fmt.Errorf("state %s: corrupt: cgroup version %d", file, st.CgroupVersion)
	}
	if err := checkCgroupPath(st.CgroupPath); err != nil {
		return nil, fmt.Errorf("state %s: corrupt: cgroup_path %q: %w", file, st.CgroupPath, err)
	}
	// Every pid check reads the task's cgroup under this mount: a file
	// that points it at a tree of its own making could have any host
	// process taken for the task, and signalled.
	if err := checkV2Mount(st.CgroupV2Mount); err != nil {
		return nil, fmt.Errorf("state %s: corrupt: cgroup_v2_mount %q: %w", file, st.CgroupV2Mount, err)
	}
	return &st, nil
}

// checkCgroupPath accepts "" (the task is under its cgroup parent) or a
// clean absolute path below the hierarchy roots, not the root itself.
func checkCgroupPath(p string) error {
	if p == "" {
		return nil
	}
	if !filepath.IsAbs(p) || filepath.Clean(p) != p || p == "/" {
		return errors.New("not a clean absolute path below the root")
	}
	return nil
}

// checkV2Mount accepts "" (the host's own) or the root of a cgroup2 mount:
// the filesystem's magic number and the mount root attribute, both from
// the kernel.
func checkV2Mount(p string) error {
	if p == "" {
		return nil
	}
	if !filepath.IsAbs(p) || filepath.Clean(p) != p {
		return errors.New("not a clean absolute path")
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(p, &sfs); err != nil {
		return err
	}
	if sfs.Type != unix.CGROUP2_SUPER_MAGIC {
		return errors.New("not a cgroup2 filesystem")
	}
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, p, unix.AT_SYMLINK_NOFOLLOW, 0, &stx); err != nil {
		return err
	}
	if stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT == 0 || stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT == 0 {
		return errors.New("not the root of its mount")
	}
	return nil
}

// removeState removes a task's state directory: state.json, stray temp
// files of an interrupted write, then the directory. The default task dir
// inside it must already be gone (removeTree).
func removeState(dir string) error {
	if err := logs.Unmount(dir); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	// The files berth writes first; a directory left with anything else
	// (a temp file of an interrupted write) is listed and emptied.
	for _, name := range []string{stateFile, execFile} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("state: %w", err)
		}
	}
	err := os.Remove(dir)
	if err == nil || errors.Is(err, os.ErrNotExist) {
		return nil
	}
	entries, rerr := os.ReadDir(dir)
	if rerr != nil {
		return fmt.Errorf("state: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue // rmdir below reports it
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("state: %w", err)
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("state: %w", err)
	}
	return nil
}

// alive reports whether pid is still the process that started at start and
// has not exited: a zombie (or a dying process) keeps its /proc entry and
// start time until its parent reaps it, but does nothing any more.
func alive(pid int, start uint64) bool {
	if pid <= 0 || start == 0 {
		return false
	}
	st, err := procfs.Stat(pid)
	return err == nil && st.StartTime == start && st.State != 'Z' && st.State != 'X'
}
