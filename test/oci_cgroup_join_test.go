package test

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// ociV1Controllers are the v1 controllers berth-oci puts every container
// in (containerd's shim reads them) that this host mounts as v1
// hierarchies.
func ociV1Controllers() []string {
	var out []string
	for _, c := range []string{"memory", "cpu", "cpuacct", "pids", "blkio"} {
		var st unix.Statfs_t
		if unix.Statfs(filepath.Join("/sys/fs/cgroup", c), &st) == nil && st.Type == unix.CGROUP_SUPER_MAGIC {
			out = append(out, c)
		}
	}
	return out
}

// assertInV1Cgroups checks /proc/PID/cgroup lines: in every controller
// of ctrls the process is in cgroup want.
func assertInV1Cgroups(t *testing.T, what string, lines []string, ctrls []string, want string) {
	t.Helper()
	for _, c := range ctrls {
		found := false
		for _, l := range lines {
			cs, path := cgroupLine(l)
			if slices.Contains(cs, c) {
				found = true
				if path != want {
					t.Errorf("%s: %s cgroup %q, want %q", what, c, path, want)
				}
			}
		}
		if !found {
			t.Errorf("%s: no %s line in %q", what, c, lines)
		}
	}
}

// TestOCIContainerInItsV1Cgroups: the container's process is in each of
// its v1 cgroups from create on (its init stage's exec thread moves
// itself there, the thread that becomes the command): the created
// process as containerd's shim finds it through /proc/PID/cgroup and the
// cgroup's cgroup.procs, and the command after start, with no thread of
// it left elsewhere.
func TestOCIContainerInItsV1Cgroups(t *testing.T) {
	t.Parallel()
	ctrls := ociV1Controllers()
	if len(ctrls) == 0 {
		t.Skip("no cgroup v1 controller is mounted: berth-oci joins none")
	}
	want := "/" + cgroupParent + "/"

	tk := newTask(t)
	root := filepath.Join(t.TempDir(), "root")
	bundle := atkBundle(t, tk, nil, "/bin/sleep", "100")
	pidFile := filepath.Join(t.TempDir(), "pid")
	mustSucceed(t, ociRun(t, root, "create", "--bundle", bundle, "--pid-file", pidFile, tk.id))
	defer ociRun(t, root, "delete", "--force", tk.id)
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	cg, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	assertInV1Cgroups(t, "created", strings.Split(strings.TrimSpace(string(cg)), "\n"), ctrls, want+tk.id)
	for _, c := range ctrls {
		procs, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", c, cgroupParent, tk.id, "cgroup.procs"))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(strings.Fields(string(procs)), strconv.Itoa(pid)) {
			t.Errorf("created: %s cgroup.procs %q lacks the container's pid %d", c, procs, pid)
		}
	}
	mustSucceed(t, ociRun(t, root, "delete", "--force", tk.id))

	tk2 := newTask(t)
	bundle = atkBundle(t, tk2, nil, "/bin/sh", "-c", "ls /proc/$$/task | wc -l; cat /proc/$$/task/*/cgroup")
	res := ociRun(t, filepath.Join(t.TempDir(), "root"), "run", "--bundle", bundle, tk2.id)
	mustSucceed(t, res)
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if len(lines) < 2 || strings.TrimSpace(lines[0]) != "1" {
		t.Fatalf("want one thread, then its cgroups:\n%s", res)
	}
	assertInV1Cgroups(t, "running", lines[1:], ctrls, want+tk2.id)
}
