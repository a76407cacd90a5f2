package testutil

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// MarkerKey is the environment variable that tags every process of a test's
// task, so that leftovers can be found by reading /proc/PID/environ.
const MarkerKey = "BERTH_TEST_MARKER"

// NewMarker returns a fresh "BERTH_TEST_MARKER=<unique>" entry, to be passed
// with --env (or Command.Env) to every task a test starts.
func NewMarker(t testing.TB) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("marker: %v", err)
	}
	return MarkerKey + "=" + hex.EncodeToString(b)
}

// CgroupDirs returns the cgroup directories of task id under parent that
// exist now, in every v1 hierarchy, the hybrid unified one and a pure v2
// root.
func CgroupDirs(parent, id string) ([]string, error) {
	var found []string
	for _, pat := range []string{
		filepath.Join("/sys/fs/cgroup", "*", parent, id),
		filepath.Join("/sys/fs/cgroup", parent, id),
	} {
		m, err := filepath.Glob(pat)
		if err != nil {
			return nil, err
		}
		for _, d := range m {
			if st, err := os.Stat(d); err == nil && st.IsDir() {
				found = append(found, d)
			}
		}
	}
	return found, nil
}

// AssertNoCgroup fails t when a cgroup directory of task id under parent
// remains.
func AssertNoCgroup(t testing.TB, parent, id string) {
	t.Helper()
	dirs, err := CgroupDirs(parent, id)
	if err != nil {
		t.Errorf("look for cgroups of %q: %v", id, err)
	}
	if len(dirs) > 0 {
		t.Errorf("cgroup of task %q left behind: %s", id, strings.Join(dirs, ", "))
	}
}

// ProcessesWithMarker returns the pids (other than the caller's) whose
// environment holds marker as a whole entry.
func ProcessesWithMarker(marker string) ([]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	want := []byte(marker)
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			// Gone meanwhile, or a kernel thread: neither is a leftover.
			continue
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if bytes.Equal(kv, want) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids, nil
}

// Describe returns "PID (cmdline)" for each pid, for error messages.
func Describe(pids []int) string {
	var parts []string
	for _, p := range pids {
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		parts = append(parts, fmt.Sprintf("%d (%s)", p, strings.TrimSpace(string(bytes.ReplaceAll(cmd, []byte{0}, []byte{' '})))))
	}
	return strings.Join(parts, ", ")
}

// AssertNoProcess fails t when a process tagged with marker is still alive.
func AssertNoProcess(t testing.TB, marker string) {
	t.Helper()
	pids, err := ProcessesWithMarker(marker)
	if err != nil {
		t.Errorf("scan processes: %v", err)
	}
	if len(pids) > 0 {
		t.Errorf("processes of the task left behind: %s", Describe(pids))
	}
}

// KillMarked kills (SIGKILL, by pid) the processes tagged with marker, so
// that a failing test does not leave them to the next one. It reports what
// it killed.
func KillMarked(marker string) []int {
	pids, _ := ProcessesWithMarker(marker)
	for _, p := range pids {
		if proc, err := os.FindProcess(p); err == nil {
			_ = proc.Kill()
		}
	}
	return pids
}

// AssertNoState fails t when the state of task id remains in stateDir.
func AssertNoState(t testing.TB, stateDir, id string) {
	t.Helper()
	p := filepath.Join(stateDir, id)
	_, err := os.Lstat(p)
	switch {
	case err == nil:
		t.Errorf("state of task %q left behind: %s exists", id, p)
	case !errors.Is(err, fs.ErrNotExist):
		t.Errorf("stat task state %s: %v", p, err)
	}
}

// AssertEmptyDir fails t when dir holds anything.
func AssertEmptyDir(t testing.TB, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Errorf("read %s: %v", dir, err)
		return
	}
	if len(ents) > 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("%s not empty: %s", dir, strings.Join(names, ", "))
	}
}

// Leftovers says what a task may have left behind.
type Leftovers struct {
	StateDir     string
	CgroupParent string
	ID           string
	Marker       string
	// Mounts is the mount table from before the task ran. The task's
	// mounts in it are compared with now: those in the scope of StateDir,
	// Dirs and ID (see MountScope); a mount elsewhere on the host that
	// came or went meanwhile is not the task's.
	Mounts MountTable
	// Dirs are the task's directories besides StateDir, for the mount
	// check: its TMPDIR, its rootfs, or the test's directory holding them
	// (TempDirRoot).
	Dirs []string
}

// AssertNothingLeft fails t for each kind of leftover of the task: a process
// tagged with its marker, a cgroup, its state dir entry, a mount of the
// task's that appeared or went away. Empty fields are not checked.
func AssertNothingLeft(t testing.TB, l Leftovers) {
	t.Helper()
	if l.Marker != "" {
		AssertNoProcess(t, l.Marker)
	}
	if l.ID != "" && l.CgroupParent != "" {
		AssertNoCgroup(t, l.CgroupParent, l.ID)
	}
	if l.ID != "" && l.StateDir != "" {
		AssertNoState(t, l.StateDir, l.ID)
	}
	if l.Mounts != nil {
		dirs := l.Dirs
		if l.StateDir != "" {
			dirs = append([]string{l.StateDir}, dirs...)
		}
		AssertMountsUnchanged(t, l.Mounts, MountScope{Dirs: dirs, ID: l.ID})
	}
}
