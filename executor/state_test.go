package executor

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// stoppedState is a recorded stopped task named id, as a supervisor would
// leave it. Times are without monotonic readings so that they survive JSON.
func stoppedState(id string) *State {
	created := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	finished := created.Add(90 * time.Second)
	return &State{
		ID: id, Pid: 4242, PidStartTime: 987654, Status: StatusStopped,
		ExitCode: 137, Signal: 9, OOMKilled: true,
		Cgroup:        map[string]string{"freezer": "/sys/fs/cgroup/freezer/berth/" + id, "memory": "/sys/fs/cgroup/memory/berth/" + id},
		CgroupParent:  "berth",
		CgroupVersion: 1,
		Rootfs:        "/srv/tasks/" + id,
		Created:       created, Finished: &finished,
		SupervisorPid: 4241, SupervisorStartTime: 987650,
	}
}

// taskDirOf makes <state-dir>/<id> and returns it.
func taskDirOf(t *testing.T, stateDir, id string) string {
	t.Helper()
	dir := filepath.Join(stateDir, id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

// names lists the entries of dir.
func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestStateRoundTrip(t *testing.T) {
	dir := taskDirOf(t, t.TempDir(), "task-1")
	want := stoppedState("task-1")
	if err := writeState(dir, want); err != nil {
		t.Fatal(err)
	}
	// Atomic write: only state.json, no temp file left over.
	if got := names(t, dir); !reflect.DeepEqual(got, []string{stateFile}) {
		t.Errorf("state dir holds %q after writeState, want only %s", got, stateFile)
	}
	got, err := readState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}

	// A second write replaces the first whole.
	running := stoppedState("task-1")
	running.Status, running.ExitCode, running.Signal, running.OOMKilled, running.Finished = StatusRunning, 0, 0, false, nil
	running.CgroupVersion, running.CgroupV2Mount = 2, "/sys/fs/cgroup/unified"
	running.Cgroup = map[string]string{"unified": "/sys/fs/cgroup/unified/berth/task-1"}
	if err := writeState(dir, running); err != nil {
		t.Fatal(err)
	}
	if got, err := readState(dir); err != nil || !reflect.DeepEqual(got, running) {
		t.Errorf("after rewrite: %+v, %v; want %+v", got, err, running)
	}
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), `"finished"`) {
		t.Errorf("a running task's state has a finish time:\n%s", b)
	}
}

func TestWriteStateMissingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gone")
	err := writeState(dir, stoppedState("gone"))
	if err == nil || !strings.Contains(err.Error(), "state") {
		t.Errorf("writeState into a missing dir: %v, want a state error", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("writeState created %s: %v", dir, err)
	}
}

func TestReadStateCorrupt(t *testing.T) {
	good := func(mod func(*State)) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			st := stoppedState(filepath.Base(dir))
			mod(st)
			if err := writeState(dir, st); err != nil {
				t.Fatal(err)
			}
		}
	}
	raw := func(data string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, stateFile), []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := []struct {
		name  string
		write func(t *testing.T, dir string)
		want  string
	}{
		{"empty", raw(""), "corrupt"},
		{"garbage", raw("\x00\x01 not json {{"), "corrupt"},
		{"truncated", func(t *testing.T, dir string) {
			good(func(*State) {})(t, dir)
			file := filepath.Join(dir, stateFile)
			fi, err := os.Stat(file)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(file, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		}, "corrupt"},
		{"json array", raw("[]"), "corrupt"},
		{"wrong type", raw(`{"id":"task-1","pid":"12"}`), "corrupt"},
		{"no id", good(func(s *State) { s.ID = "" }), `id ""`},
		{"wrong id", good(func(s *State) { s.ID = "other" }), `id "other" does not match`},
		{"pid 0", good(func(s *State) { s.Pid = 0 }), "pid 0"},
		{"negative pid", good(func(s *State) { s.Pid = -5 }), "pid -5"},
		{"bad status", good(func(s *State) { s.Status = "zombie" }), `status "zombie"`},
		{"no status", good(func(s *State) { s.Status = "" }), `status ""`},
		{"cgroup version 0", good(func(s *State) { s.CgroupVersion = 0 }), "cgroup version 0"},
		{"cgroup version 4", good(func(s *State) { s.CgroupVersion = 4 }), "cgroup version 4"},
		{"cgroup version -1", good(func(s *State) { s.CgroupVersion = -1 }), "cgroup version -1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := taskDirOf(t, t.TempDir(), "task-1")
			c.write(t, dir)
			st, err := readState(dir)
			if err == nil {
				t.Fatalf("readState = %+v, want an error", st)
			}
			file := filepath.Join(dir, stateFile)
			msg := err.Error()
			if !strings.Contains(msg, file) || !strings.Contains(msg, "corrupt") || !strings.Contains(msg, c.want) {
				t.Errorf("error %q, want it to name %s, say corrupt and mention %q", msg, file, c.want)
			}
			if st != nil {
				t.Errorf("readState returned a state with its error: %+v", st)
			}
			if errors.Is(err, os.ErrNotExist) {
				t.Errorf("a corrupt file reads as a missing one: %v", err)
			}
		})
	}
}

func TestReadStateMissing(t *testing.T) {
	dir := taskDirOf(t, t.TempDir(), "task-1")
	if _, err := readState(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("readState of a dir without state.json: %v, want ErrNotExist", err)
	}
}

func TestRemoveState(t *testing.T) {
	dir := taskDirOf(t, t.TempDir(), "task-1")
	if err := writeState(dir, stoppedState("task-1")); err != nil {
		t.Fatal(err)
	}
	// Temp files of writes cut short (a crash between create and rename).
	for _, n := range []string{".state-123", ".state-abc"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(`{"id":`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := removeState(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("removeState left %s: %v", dir, err)
	}
	// Already gone is done, not an error.
	if err := removeState(dir); err != nil {
		t.Errorf("removeState of a missing dir: %v", err)
	}
}

func TestRemoveStateKeepsSubdir(t *testing.T) {
	// removeState removes the files it knows of; a directory in the
	// state dir is not berth's to delete and stops it.
	dir := taskDirOf(t, t.TempDir(), "task-1")
	if err := writeState(dir, stoppedState("task-1")); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "rootfs")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(sub, "keep")
	if err := os.WriteFile(keep, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := removeState(dir); err == nil {
		t.Errorf("removeState removed a dir holding a task dir")
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("removeState touched the task dir: %v", err)
	}
}

func TestStoreGetNotFound(t *testing.T) {
	s := NewStore(t.TempDir(), "", nil)
	for _, id := range []string{"nosuch", "../etc", "a/b", "", ".hidden"} {
		st, err := s.Get(id)
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q) = %+v, %v; want ErrNotFound", id, st, err)
			continue
		}
		if id != "" && !strings.Contains(err.Error(), id) {
			t.Errorf("Get(%q): %q does not name the id", id, err)
		}
	}
	// A state dir that does not exist yet has no tasks either.
	s = NewStore(filepath.Join(t.TempDir(), "none"), "", nil)
	if _, err := s.Get("nosuch"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get in a missing state dir: %v, want ErrNotFound", err)
	}
	if l, err := s.List(); err != nil || len(l) != 0 {
		t.Errorf("List of a missing state dir = %v, %v; want nothing", l, err)
	}
}

func TestStoreGetStopped(t *testing.T) {
	stateDir := t.TempDir()
	want := stoppedState("task-1")
	if err := writeState(taskDirOf(t, stateDir, "task-1"), want); err != nil {
		t.Fatal(err)
	}
	got, err := NewStore(stateDir, "", nil).Get("task-1")
	if err != nil {
		t.Fatal(err)
	}
	// A stopped task is as recorded: nothing on the host is consulted.
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Get:\n got %+v\nwant %+v", got, want)
	}
}

func TestStoreGetCorrupt(t *testing.T) {
	stateDir := t.TempDir()
	dir := taskDirOf(t, stateDir, "task-1")
	if err := os.WriteFile(filepath.Join(dir, stateFile), []byte(`{"id":"task-1","pid":`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := NewStore(stateDir, "", nil).Get("task-1")
	if err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "corrupt") ||
		!strings.Contains(err.Error(), filepath.Join(dir, stateFile)) {
		t.Errorf("Get of a corrupt state: %v; want a corrupt error naming the file", err)
	}
}

func TestStoreGetPidReused(t *testing.T) {
	// The recorded pid is alive (it is this test) but started at another
	// time: another process holds it now, so the task is over, and with
	// no supervisor alive how it ended is unknown.
	stateDir := t.TempDir()
	st := stoppedState("task-1")
	st.Status, st.ExitCode, st.Signal, st.OOMKilled, st.Finished = StatusRunning, 0, 0, false, nil
	st.Pid, st.PidStartTime = os.Getpid(), 1
	st.SupervisorPid, st.SupervisorStartTime = os.Getpid(), 1
	// A parent no cgroup has: nothing on the host is touched.
	st.CgroupParent = "berth-test-no-such-parent-" + filepath.Base(stateDir)
	if err := writeState(taskDirOf(t, stateDir, "task-1"), st); err != nil {
		t.Fatal(err)
	}
	got, err := NewStore(stateDir, "", nil).Get("task-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != StatusStopped || got.ExitCode != -1 {
		t.Errorf("Get = status %q exit %d, want stopped with exit -1", got.Status, got.ExitCode)
	}
}

func TestStoreListCorrupt(t *testing.T) {
	stateDir := t.TempDir()
	for _, id := range []string{"alpha", "gamma"} {
		if err := writeState(taskDirOf(t, stateDir, id), stoppedState(id)); err != nil {
			t.Fatal(err)
		}
	}
	bad := taskDirOf(t, stateDir, "beta")
	if err := os.WriteFile(filepath.Join(bad, stateFile), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Not tasks: a file, and a dir whose name is no id.
	if err := os.WriteFile(filepath.Join(stateDir, "stray-file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	taskDirOf(t, stateDir, ".hidden")

	list, err := NewStore(stateDir, "", nil).List()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, st := range list {
		got = append(got, st.ID+":"+st.Status)
	}
	want := []string{"alpha:stopped", "beta:unknown", "gamma:stopped"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("List = %q, want %q", got, want)
	}
	if len(list) == 3 && !reflect.DeepEqual(list[0], stoppedState("alpha")) {
		t.Errorf("List[0] = %+v, want the recorded state", list[0])
	}
}

func TestStoreDeleteStopped(t *testing.T) {
	stateDir := t.TempDir()
	dir := taskDirOf(t, stateDir, "task-1")
	st := stoppedState("task-1")
	// No cgroup under this parent: only the state is removed.
	st.CgroupParent = "berth-test-no-such-parent-" + filepath.Base(stateDir)
	if err := writeState(dir, st); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".state-999"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s := NewStore(stateDir, st.CgroupParent, nil)
	if err := s.Delete("task-1", false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Delete left %s: %v", dir, err)
	}
	if err := s.Delete("task-1", false); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete: %v, want ErrNotFound", err)
	}
}

// TestDeleteForceWithoutState: a launch that died before it wrote its
// state leaves an empty task directory; delete --force removes it, a plain
// delete says there is no such task.
func TestDeleteForceWithoutState(t *testing.T) {
	dir := t.TempDir()
	id := "crashed-launch"
	if err := os.Mkdir(filepath.Join(dir, id), 0o700); err != nil {
		t.Fatal(err)
	}
	s := NewStore(dir, "berth-test-nostate", nil)
	if err := s.Delete(id, false); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Delete without --force: %v, want ErrNotFound", err)
	}
	if err := s.Delete(id, true); err != nil {
		t.Fatalf("Delete --force: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("task dir still there after delete --force: %v", err)
	}
}

// TestCheckV2Mount: a state file may name only the root of a cgroup2
// mount: not a directory of its own making, not a cgroup below the root.
func TestCheckV2Mount(t *testing.T) {
	root := ""
	for _, p := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		var sfs unix.Statfs_t
		if unix.Statfs(p, &sfs) == nil && sfs.Type == unix.CGROUP2_SUPER_MAGIC {
			root = p
			break
		}
	}
	if root == "" {
		t.Fatal("no cgroup2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified")
	}
	if err := checkV2Mount(""); err != nil {
		t.Errorf(`checkV2Mount("") = %v`, err)
	}
	if err := checkV2Mount(root); err != nil {
		t.Errorf("checkV2Mount(%s) = %v", root, err)
	}
	sub := ""
	if ents, err := os.ReadDir(root); err == nil {
		for _, e := range ents {
			if e.IsDir() {
				sub = filepath.Join(root, e.Name())
				break
			}
		}
	}
	for _, bad := range []string{t.TempDir(), "relative/dir", root + "/", root + "/../" + filepath.Base(root), sub} {
		if bad == "" {
			continue
		}
		if err := checkV2Mount(bad); err == nil {
			t.Errorf("checkV2Mount(%s) accepted it", bad)
		}
	}
}

// TestCheckCgroupPath: a state's cgroup_path is a clean absolute path
// below the hierarchy roots, or empty; anything else makes the file
// corrupt, so no verb acts on a cgroup a forged path names.
func TestCheckCgroupPath(t *testing.T) {
	for p, ok := range map[string]bool{
		"": true, "/a": true, "/a/b/c": true,
		"/": false, "a/b": false, "/a/../b": false, "/a/": false, "/a//b": false,
	} {
		if err := checkCgroupPath(p); (err == nil) != ok {
			t.Errorf("checkCgroupPath(%q) = %v, want ok %v", p, err, ok)
		}
	}
}
