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
// cgroup's cgroup.procs, the command after start, with no thread of it
// left elsewhere, and a process exec'd into it.
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
	// An exec'd process joins them the same way.
	mustSucceed(t, ociRun(t, root, "start", tk.id))
	res := ociRun(t, root, "exec", tk.id, "/bin/sh", "-c", "cat /proc/$$/task/*/cgroup")
	mustSucceed(t, res)
	assertInV1Cgroups(t, "exec", strings.Split(strings.TrimSpace(res.stdout), "\n"), ctrls, want+tk.id)
	mustSucceed(t, ociRun(t, root, "delete", "--force", tk.id))

	tk2 := newTask(t)
	bundle = atkBundle(t, tk2, nil, "/bin/sh", "-c", "ls /proc/$$/task | wc -l; cat /proc/$$/task/*/cgroup")
	res = ociRun(t, filepath.Join(t.TempDir(), "root"), "run", "--bundle", bundle, tk2.id)
	mustSucceed(t, res)
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if len(lines) < 2 || strings.TrimSpace(lines[0]) != "1" {
		t.Fatalf("want one thread, then its cgroups:\n%s", res)
	}
	assertInV1Cgroups(t, "running", lines[1:], ctrls, want+tk2.id)
}

// hostCgroup2Options are the host's cgroup2 root mount's super options
// (the hierarchy's own: nsdelegate, memory_recursiveprot...).
func hostCgroup2Options(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		before, after, ok := strings.Cut(l, " - ")
		f, a := strings.Fields(before), strings.Fields(after)
		if ok && len(f) >= 5 && len(a) >= 3 && a[0] == "cgroup2" && f[3] == "/" {
			return a[2]
		}
	}
	t.Fatal("no cgroup2 mount of the hierarchy's root")
	return ""
}

// TestOCICgroupMountIsTheHostsHierarchy: a bundle's cgroup mount, for a
// container in the host's cgroup namespace, is the whole cgroup2
// hierarchy read-only (its own cgroup visible at its path) and leaves the
// hierarchy's options as they were; in a cgroup namespace of its own it
// is rooted at its own cgroup.
func TestOCICgroupMountIsTheHostsHierarchy(t *testing.T) {
	t.Parallel()
	cgroup2Root(t)
	for _, ns := range []bool{false, true} {
		tk := newTask(t)
		script := `grep " /sys/fs/cgroup " /proc/self/mountinfo; test -d /sys/fs/cgroup/` + cgroupParent + `/` + tk.id + ` && echo own-cgroup-at-its-path; true`
		bundle := atkBundle(t, tk, func(cfg map[string]any, _ string) {
			addMount(cfg, map[string]any{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
				"options": []string{"nosuid", "noexec", "nodev", "relatime", "ro"}})
			if ns {
				l := cfg["linux"].(map[string]any)
				l["namespaces"] = append(l["namespaces"].([]any), map[string]any{"type": "cgroup"})
			}
		}, "/bin/sh", "-c", script)
		before := hostCgroup2Options(t)
		res := ociRun(t, filepath.Join(t.TempDir(), "root"), "run", "--bundle", bundle, tk.id)
		mustSucceed(t, res)
		if after := hostCgroup2Options(t); after != before {
			t.Errorf("cgroup namespace %v: the host's cgroup2 options went from %q to %q", ns, before, after)
		}
		lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
		if len(lines) == 0 {
			t.Fatalf("no output:\n%s", res)
		}
		before, after, _ := strings.Cut(lines[0], " - ")
		f, a := strings.Fields(before), strings.Fields(after)
		if len(f) < 6 || len(a) < 1 || a[0] != "cgroup2" || f[3] != "/" {
			t.Fatalf("cgroup namespace %v: /sys/fs/cgroup is %q, want the cgroup2 hierarchy's root", ns, lines[0])
		}
		for _, o := range []string{"ro", "nosuid", "nodev", "noexec"} {
			if !slices.Contains(strings.Split(f[5], ","), o) {
				t.Errorf("cgroup namespace %v: /sys/fs/cgroup options %q lack %s", ns, f[5], o)
			}
		}
		visible := slices.Contains(lines, "own-cgroup-at-its-path")
		if visible == ns {
			t.Errorf("cgroup namespace %v: its own cgroup at /sys/fs/cgroup/%s/%s: %v, want %v", ns, cgroupParent, tk.id, visible, !ns)
		}
	}
}
