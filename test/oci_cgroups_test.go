package test

import (
	"bufio"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// cgroupRoots lists the root of every cgroup hierarchy mounted at
// /sys/fs/cgroup: the v2 mount itself, or one directory per v1 controller
// (and the unified one of a hybrid host).
func cgroupRoots(t *testing.T) []string {
	t.Helper()
	var roots []string
	isCgroup := func(dir string) bool {
		var st unix.Statfs_t
		return unix.Statfs(dir, &st) == nil && (st.Type == unix.CGROUP_SUPER_MAGIC || st.Type == unix.CGROUP2_SUPER_MAGIC)
	}
	if isCgroup("/sys/fs/cgroup") {
		return []string{"/sys/fs/cgroup"}
	}
	entries, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if dir := filepath.Join("/sys/fs/cgroup", e.Name()); e.IsDir() && isCgroup(dir) {
			roots = append(roots, dir)
		}
	}
	return roots
}

// assertNoCgroupNamed fails if top exists below any hierarchy's root.
func assertNoCgroupNamed(t *testing.T, top string) {
	t.Helper()
	for _, root := range cgroupRoots(t) {
		if _, err := os.Stat(filepath.Join(root, top)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("cgroup %s left behind (%v)", filepath.Join(root, top), err)
		}
	}
}

// ownTrackingCgroup is this process's cgroup on the hierarchy berth tracks
// tasks on: the v1 freezer's, or the v2 one's.
func ownTrackingCgroup(t *testing.T) (path string, v2 bool) {
	t.Helper()
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var unified string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		switch {
		case len(parts) != 3:
		case strings.Contains(","+parts[1]+",", ",freezer,"):
			return parts[2], false
		case parts[0] == "0":
			unified = parts[2]
		}
	}
	return unified, true
}

// TestOCICgroupsPathAsGiven: a container whose cgroupsPath does not end in
// its id, with parents that do not exist, absolute or relative to the
// runtime's cgroup: it is placed there in every hierarchy it joins; state,
// ps, pause, resume, update, exec and kill find it there; delete removes
// it and the parents berth made, and no cgroup of it is left in any
// hierarchy.
func TestOCICgroupsPathAsGiven(t *testing.T) {
	t.Parallel()
	for _, relative := range []bool{false, true} {
		name := "absolute"
		if relative {
			name = "relative"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tk := newTask(t)
			top := "berth-test-ocipath-" + tk.id
			given := "/" + top + "/pod/not-the-id"
			want := given
			if relative {
				given = strings.TrimPrefix(given, "/")
				own, v2 := ownTrackingCgroup(t)
				if v2 {
					// runc's reading on v2: the parent of its own cgroup.
					own = filepath.Dir(own)
				}
				want = filepath.Join(own, given)
				top = strings.TrimPrefix(filepath.Join(own, top), "/")
			}
			root := filepath.Join(t.TempDir(), "root")
			bundle := atkBundle(t, tk, func(cfg map[string]any, _ string) {
				cfgLinux(cfg)["cgroupsPath"] = given
			}, "/probe", "pause")
			pidFile := filepath.Join(t.TempDir(), "pid")
			mustSucceed(t, ociRun(t, root, "create", "--bundle", bundle, "--pid-file", pidFile, tk.id))
			deleted := false
			defer func() {
				if !deleted {
					ociRun(t, root, "delete", "--force", tk.id)
				}
			}()
			b, err := os.ReadFile(pidFile)
			if err != nil {
				t.Fatal(err)
			}
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			if st := ociStateOf(t, root, tk.id); st.Status != "created" || st.Pid != pid {
				t.Errorf("state after create: %+v, want created with pid %d", st, pid)
			}
			mustSucceed(t, ociRun(t, root, "start", tk.id))
			if st := ociStateOf(t, root, tk.id); st.Status != "running" {
				t.Errorf("state after start: %+v", st)
			}

			// Every hierarchy it is in, it is in at the path (the v1
			// controllers berth-oci joins, and the tracking one).
			in, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
			if err != nil {
				t.Fatal(err)
			}
			at := 0
			for _, line := range strings.Split(strings.TrimSpace(string(in)), "\n") {
				parts := strings.SplitN(line, ":", 3)
				if len(parts) == 3 && parts[2] == want {
					at++
				}
			}
			if at < 2 && len(cgroupRoots(t)) > 1 || at < 1 {
				t.Errorf("/proc/%d/cgroup: the container is at %s in %d hierarchies:\n%s", pid, want, at, in)
			}

			res := ociRun(t, root, "ps", "--format", "json", tk.id)
			mustSucceed(t, res)
			var pids []int
			if err := json.Unmarshal([]byte(res.stdout), &pids); err != nil || len(pids) != 1 || pids[0] != pid {
				t.Errorf("ps --format json = %q, want [%d]", res.stdout, pid)
			}
			mustSucceed(t, ociRun(t, root, "pause", tk.id))
			if st := ociStateOf(t, root, tk.id); st.Status != "paused" {
				t.Errorf("state after pause: %+v", st)
			}
			mustSucceed(t, ociRun(t, root, "resume", tk.id))
			f := filepath.Join(t.TempDir(), "r.json")
			if err := os.WriteFile(f, []byte(`{"pids":{"limit":42}}`), 0o600); err != nil {
				t.Fatal(err)
			}
			mustSucceed(t, ociRun(t, root, "update", "--resources", f, tk.id))
			pidsMax := ""
			for _, r := range cgroupRoots(t) {
				if b, err := os.ReadFile(filepath.Join(r, want, "pids.max")); err == nil {
					pidsMax = strings.TrimSpace(string(b))
				}
			}
			if pidsMax != "42" {
				t.Errorf("pids.max at %s after update = %q, want 42", want, pidsMax)
			}
			res = ociRun(t, root, "exec", tk.id, "/bin/sh", "-c", "exit 4")
			if res.code != 4 {
				t.Errorf("exec: want exit 4:\n%s", res)
			}
			mustSucceed(t, ociRun(t, root, "kill", tk.id, "KILL"))
			waitGone(t, pid)
			if st := ociStateOf(t, root, tk.id); st.Status != "stopped" {
				t.Errorf("state after kill: %+v", st)
			}
			mustSucceed(t, ociRun(t, root, "delete", tk.id))
			deleted = true
			assertNoCgroupNamed(t, top)
		})
	}
}

// TestOCICgroupSettingsRefusedLeaveNothing: cgroup settings berth cannot
// apply are refused naming the field, and nothing of the container is
// left: no cgroup in any hierarchy, no state.
func TestOCICgroupSettingsRefusedLeaveNothing(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, want string
		res        map[string]any
	}{
		{"mems not a list", "linux.resources: Resources.CpusetMems", map[string]any{"cpu": map[string]any{"mems": "0-x"}}},
		{"mems not the host's", "Resources.CpusetMems: memory node 8000 is not available", map[string]any{"cpu": map[string]any{"mems": "8000"}}},
		{"swappiness", "linux.resources.memory.swappiness: 101", map[string]any{"memory": map[string]any{"swappiness": 101}}},
		{"reservation above limit", "Resources.MemoryReservationBytes", map[string]any{"memory": map[string]any{"limit": 64 << 20, "reservation": 128 << 20}}},
		{"cpu period", "Resources.CPUPeriod", map[string]any{"cpu": map[string]any{"period": 10, "quota": 5}}},
		{"realtime", "linux.resources.cpu: realtimeRuntime", map[string]any{"cpu": map[string]any{"realtimeRuntime": 1000}}},
	} {
		t.Run(c.name, func(t *testing.T) { refusedLeavesNothing(t, "berth-test-ocibad-", c.res, c.want) })
	}
}

// refusedLeavesNothing creates a container with resources res under a
// cgroupsPath of its own (below top+id) and wants the create refused
// saying want, with no cgroup in any hierarchy and no state left.
func refusedLeavesNothing(t *testing.T, top string, res map[string]any, want string) {
	t.Parallel()
	tk := newTask(t)
	top += tk.id
	bundle := atkBundle(t, tk, func(cfg map[string]any, _ string) {
		cfgLinux(cfg)["cgroupsPath"] = "/" + top + "/a/b"
		cfgLinux(cfg)["resources"] = res
	}, "/bin/true")
	mustFail(t, ociRun(t, tk.stateDir, "create", "--bundle", bundle, tk.id), want)
	assertNoCgroupNamed(t, top)
	if _, err := os.Stat(filepath.Join(tk.stateDir, tk.id)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("state of the refused container left (%v)", err)
	}
}
