package executor

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/berthrun/berth/cgroup"
)

// FuzzReadState feeds state.json text to readState. The state dir is
// root's, but a state file must not be trusted blindly: a forged one must
// not turn berth's signals on a stranger (TestForgedStateCannotSteerSignals).
//
// Properties: an accepted state names its directory, a positive pid, a
// known status and cgroup version, and a cgroup2 mount that is "" or a
// real one; written back it reads back the same.
func FuzzReadState(f *testing.F) {
	root := f.TempDir()
	const id = "task-1"
	dir := filepath.Join(root, "in", id)
	back := filepath.Join(root, "out", id)
	for _, d := range []string{dir, back} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			f.Fatal(err)
		}
	}
	for _, st := range []*State{stoppedState(id), func() *State {
		st := stoppedState(id)
		st.Status, st.Finished, st.CgroupVersion, st.CgroupV2Mount = StatusRunning, nil, cgroup.Hybrid, "/sys/fs/cgroup/unified"
		st.StopSignal, st.StopGrace = "SIGTERM", "1m30s"
		return st
	}()} {
		b, err := json.Marshal(st)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"id":"task-1","pid":1,"status":"running","cgroup_version":2,"cgroup_v2_mount":"/tmp"}`))
	f.Add([]byte(`{"ID":"task-1","Pid":1,"status":"paused","cgroup_version":1,"id":"task-1","created":"2025-01-01T00:00:00+14:00"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, stateFile), data, 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := readState(dir)
		if err != nil {
			if !strings.Contains(err.Error(), filepath.Join(dir, stateFile)) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		switch {
		case st.ID != id:
			t.Fatalf("id %q in the directory of %q", st.ID, id)
		case st.Pid <= 0:
			t.Fatalf("pid %d", st.Pid)
		case st.Status != StatusRunning && st.Status != StatusPaused && st.Status != StatusStopped:
			t.Fatalf("status %q", st.Status)
		case st.CgroupVersion != cgroup.V1 && st.CgroupVersion != cgroup.V2 && st.CgroupVersion != cgroup.Hybrid:
			t.Fatalf("cgroup version %d", st.CgroupVersion)
		case checkV2Mount(st.CgroupV2Mount) != nil:
			t.Fatalf("cgroup_v2_mount %q", st.CgroupV2Mount)
		}
		if err := writeState(back, st); err != nil {
			t.Fatalf("writeState of an accepted state: %v", err)
		}
		again, err := readState(back)
		if err != nil || !reflect.DeepEqual(again, st) {
			t.Fatalf("written back:\n got %+v, %v\nwant %+v", again, err, st)
		}
	})
}

// FuzzReadExecSettings feeds exec.json text to readExecSettings.
//
// Properties: accepted settings name a user whose ids and groups are
// 0..userMaxID, an absolute cwd and KEY=VALUE env entries without NULs;
// written back they read back the same.
func FuzzReadExecSettings(f *testing.F) {
	root := f.TempDir()
	dir := filepath.Join(root, "in")
	back := filepath.Join(root, "out")
	for _, d := range []string{dir, back} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			f.Fatal(err)
		}
	}
	f.Add([]byte(`{"user":{"uid":1000,"gid":1000,"groups":[4,27],"home":"/home/app"},"caps":["CAP_KILL"],"env":["PATH=/bin","HOME=/"],"cwd":"/"}`))
	f.Add([]byte(`{"user":{"uid":4294967294,"gid":0},"caps":null,"env":["A=\u0000"],"cwd":"/x"}`))
	f.Add([]byte(`{"user":{"uid":0,"gid":0},"cwd":"rel","extra":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, execFile), data, 0o600); err != nil {
			t.Fatal(err)
		}
		x, err := readExecSettings(dir)
		if err != nil {
			return
		}
		u := x.User
		if u == nil || u.UID < 0 || u.UID > userMaxID || u.GID < 0 || u.GID > userMaxID {
			t.Fatalf("user %+v", u)
		}
		for _, g := range u.Groups {
			if g < 0 || g > userMaxID {
				t.Fatalf("group %d", g)
			}
		}
		if !filepath.IsAbs(x.Cwd) {
			t.Fatalf("cwd %q", x.Cwd)
		}
		for _, kv := range x.Env {
			if k, _, ok := strings.Cut(kv, "="); !ok || k == "" || strings.IndexByte(kv, 0) >= 0 {
				t.Fatalf("env %q", kv)
			}
		}
		if err := x.write(back); err != nil {
			t.Fatalf("write accepted settings: %v", err)
		}
		again, err := readExecSettings(back)
		if len(x.User.Groups) == 0 {
			x.User.Groups = nil // "groups" is omitted when empty: [] reads back as none
		}
		if err != nil || !reflect.DeepEqual(again, x) {
			t.Fatalf("written back:\n got %+v, %v\nwant %+v", again, err, x)
		}
	})
}
