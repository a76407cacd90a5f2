package test

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/berthrun/berth/internal/testutil"
)

// cgroupLine splits a /proc/PID/cgroup line into its controllers and path.
func cgroupLine(l string) (controllers []string, path string) {
	parts := strings.SplitN(l, ":", 3)
	if len(parts) != 3 {
		return nil, ""
	}
	return strings.Split(parts[1], ","), parts[2]
}

// trackingHierarchy is the hierarchy berth tracks a task's processes in:
// the unified one ("" in /proc/self/cgroup's "0::" line) on cgroup v2 and
// on hybrid hosts (where the task is cloned straight into it), the freezer
// on a v1-only host.
func trackingHierarchy() string {
	for _, f := range []string{"/sys/fs/cgroup/cgroup.controllers", "/sys/fs/cgroup/unified/cgroup.controllers"} {
		if _, err := os.Stat(f); err == nil {
			return ""
		}
	}
	return "freezer"
}

// assertInCgroup checks that the task's /proc/self/cgroup puts it in
// <parent>/<id> in the hierarchy berth tracks it in.
func assertInCgroup(t *testing.T, lines []string, parent, id string) {
	t.Helper()
	suffix := "/" + parent + "/" + id
	want := trackingHierarchy()
	found := false
	for _, l := range lines {
		ctrls, path := cgroupLine(l)
		tracked := (want == "" && len(ctrls) == 1 && ctrls[0] == "") || slices.Contains(ctrls, want)
		if !tracked {
			continue
		}
		found = true
		if !strings.HasSuffix(path, suffix) {
			t.Errorf("cgroup %q of hierarchy %q, want a path ending in %s", path, want, suffix)
		}
	}
	if !found {
		t.Errorf("task cgroups %q: no line for hierarchy %q", lines, want)
	}
}

// TestCgroupPath: the task runs in its own cgroup under the parent; the
// cgroup is gone after the task (checked for every task on cleanup).
func TestCgroupPath(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	r := tk.report(rootfsFlags(t), rootfsProbe...)
	assertInCgroup(t, r.Cgroup, cgroupParent, tk.id)
	testutil.AssertNoCgroup(t, cgroupParent, tk.id)
}

// TestCgroupParentFlag: --cgroup-parent puts the task's cgroup elsewhere.
func TestCgroupParentFlag(t *testing.T) {
	t.Parallel()
	parent := "berth-test-" + strconv.Itoa(os.Getpid())
	// Registered before the task so that it runs after the task's own
	// leftover check: the parent is ours to remove.
	t.Cleanup(func() {
		dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", parent))
		for _, d := range dirs {
			_ = syscall.Rmdir(d)
		}
	})
	tk := newTask(t)
	tk.global = []string{"--cgroup-parent", parent}
	tk.cgParent = parent
	r := tk.report(rootfsFlags(t), rootfsProbe...)
	assertInCgroup(t, r.Cgroup, parent, tk.id)
}

// TestCgroupHoldsTask: while the task runs, its cgroup holds exactly its
// processes.
func TestCgroupHoldsTask(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	p := tk.start(nil, tk.runArgs(rootfsFlags(t), append(rootfsProbe, "trap", "30")...)...)
	p.waitLine(`"ready":true`)

	marked, err := testutil.ProcessesWithMarker(tk.marker)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(marked)
	dirs, err := testutil.CgroupDirs(cgroupParent, tk.id)
	if err != nil {
		t.Fatal(err)
	}
	holding := 0
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if err != nil {
			t.Errorf("read %s/cgroup.procs: %v", d, err)
			continue
		}
		var pids []int
		for _, f := range strings.Fields(string(b)) {
			n, _ := strconv.Atoi(f)
			pids = append(pids, n)
		}
		slices.Sort(pids)
		if slices.Equal(pids, marked) {
			holding++
			continue
		}
		for _, pid := range pids {
			if !slices.Contains(marked, pid) {
				t.Errorf("%s holds pid %d, which is not the task's (%s)", d, pid, testutil.Describe([]int{pid}))
			}
		}
	}
	if len(marked) == 0 || holding == 0 {
		t.Errorf("task processes %v; cgroup dirs %q: none holds exactly them", marked, dirs)
	}

	p.signal(syscall.SIGTERM)
	if res := p.wait(); res.code != 0 {
		t.Errorf("want exit 0 (the task trapped its stop signal):\n%s", res)
	}
}

// TestDaemonLeftovers: a process the task leaves behind in its own session
// is killed when the task's main process exits, with a private pid
// namespace and with the host's.
func TestDaemonLeftovers(t *testing.T) {
	t.Parallel()
	for _, pidMode := range []string{"private", "host"} {
		t.Run(pidMode, func(t *testing.T) {
			t.Parallel()
			tk := newTask(t)
			res := tk.run(rootfsFlags(t, "--pid", pidMode), append(rootfsProbe, "daemon", "100")...)
			if res.code != 0 || !strings.Contains(res.stdout, `"daemon_pid"`) {
				t.Fatalf("want exit 0 and the daemon's pid:\n%s", res)
			}
			testutil.AssertNoProcess(t, tk.marker)
			testutil.AssertNoCgroup(t, cgroupParent, tk.id)
		})
	}
}
