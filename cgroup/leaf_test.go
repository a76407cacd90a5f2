package cgroup

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestLeafKillsOnlyItself: a leaf below a task's cgroup holds an exec'd
// process and the daemon it starts; the task's Pids include them; the
// leaf's KillAll kills exactly them, not the task; the task's Delete
// removes a leaf left behind.
func TestLeafKillsOnlyItself(t *testing.T) {
	requireCgroupV2(t, unifiedMount)
	id := testID(t)
	m := newTestManager(t, Config{Version: Hybrid, Parent: testParent, ID: id})
	fd, ok := m.FD()
	if !ok {
		t.Fatal("FD() not ok on a hybrid cgroup")
	}
	task, taskDaemon := startDaemonChild(t, &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}, nil)

	leaf, err := m.NewLeaf("exec-1")
	if err != nil {
		t.Fatalf("NewLeaf: %v", err)
	}
	if want := filepath.Join(unifiedMount, testParent, id, "exec-1"); leaf.Dir() != want {
		t.Fatalf("leaf dir %s, want %s", leaf.Dir(), want)
	}
	lfd, ok := leaf.FD()
	if !ok {
		t.Fatal("leaf FD() not ok on the unified hierarchy")
	}
	execd, execDaemon := startDaemonChild(t, &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: lfd}, func(pid int) {
		if err := leaf.Adopt(pid); err != nil {
			t.Fatalf("Adopt: %v", err)
		}
	})
	if in := procCgroup(t, execd.cmd.Process.Pid); !strings.Contains(in, "0::/"+testParent+"/"+id+"/exec-1\n") {
		t.Fatalf("exec'd process not in the leaf:\n%s", in)
	}
	assertPids(t, m, task.cmd.Process.Pid, taskDaemon, execd.cmd.Process.Pid, execDaemon)
	lp, err := leaf.Pids()
	if err != nil || !slices.Contains(lp, execd.cmd.Process.Pid) || !slices.Contains(lp, execDaemon) || len(lp) != 2 {
		t.Fatalf("leaf Pids() = %v, %v; want the exec'd process and its daemon", lp, err)
	}

	if err := leaf.KillAll(); err != nil {
		t.Fatalf("leaf KillAll: %v", err)
	}
	execd.waitKilled(t)
	assertGone(t, execDaemon)
	assertPids(t, m, task.cmd.Process.Pid, taskDaemon)
	if err := leaf.Delete(); err != nil {
		t.Fatalf("leaf Delete: %v", err)
	}
	if _, err := os.Stat(leaf.Dir()); !os.IsNotExist(err) {
		t.Fatalf("leaf still there after Delete: %v", err)
	}
	// A leaf the exec left (its caller died) goes with the task's cgroup.
	if _, err := m.NewLeaf("exec-2"); err != nil {
		t.Fatalf("NewLeaf: %v", err)
	}
	if err := m.KillAll(); err != nil {
		t.Fatalf("KillAll: %v", err)
	}
	task.waitKilled(t)
	if err := m.Delete(); err != nil {
		t.Fatalf("Delete with a leaf below: %v", err)
	}
	assertRemoved(t, m.Paths())
}

// TestLeafBadName: a leaf name is one path element.
func TestLeafBadName(t *testing.T) {
	requireCgroupV2(t, unifiedMount)
	m := newTestManager(t, Config{Version: Hybrid, Parent: testParent, ID: testID(t)})
	for _, name := range []string{"", ".", "..", "a/b", "../x", "a\x00b"} {
		if l, err := m.NewLeaf(name); err == nil {
			l.Delete()
			t.Errorf("NewLeaf(%q) succeeded", name)
		}
	}
}

// TestProcsTreeVanishing: a cgroup below that disappears between the
// listing of its parent and its own read holds nothing; the rest is still
// listed, and a cgroup gone entirely lists nothing, without error.
func TestProcsTreeVanishing(t *testing.T) {
	root := t.TempDir()
	write := func(dir string, pids ...int) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, p := range pids {
			s = append(s, strconv.Itoa(p))
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strings.Join(s, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(root, 10, 11)
	write(filepath.Join(root, "exec-a"), 20)
	// A directory without cgroup.procs is one removed while it was read.
	if err := os.Mkdir(filepath.Join(root, "exec-gone"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(root, "exec-b"))
	write(filepath.Join(root, "exec-b", "deeper"), 30)
	got, err := procsTree(root)
	slices.Sort(got)
	if err != nil || !slices.Equal(got, []int{10, 11, 20, 30}) {
		t.Fatalf("procsTree = %v, %v; want [10 11 20 30]", got, err)
	}
	if got, err := procsTree(filepath.Join(root, "missing")); err != nil || len(got) != 0 {
		t.Fatalf("procsTree of a missing cgroup = %v, %v; want nothing", got, err)
	}
}

// TestLeavesFound: the leaves below a task's cgroup are listed by name and
// can be killed and removed by name by another process (a leaf whose exec
// died without removing it).
func TestLeavesFound(t *testing.T) {
	requireCgroupV2(t, unifiedMount)
	id := testID(t)
	m := newTestManager(t, Config{Version: Hybrid, Parent: testParent, ID: id})
	made, err := m.NewLeaf("exec-1-2-abc")
	if err != nil {
		t.Fatal(err)
	}
	lfd, _ := made.FD()
	c, daemon := startDaemonChild(t, &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: lfd}, nil)
	if got := m.Leaves(); !slices.Equal(got, []string{"exec-1-2-abc"}) {
		t.Fatalf("Leaves() = %v", got)
	}
	loaded, err := Load(Config{Version: Hybrid, Parent: testParent, ID: id}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	l := loaded.Leaf("exec-1-2-abc")
	if err := l.KillAll(); err != nil {
		t.Fatalf("KillAll: %v", err)
	}
	c.waitKilled(t)
	assertGone(t, daemon)
	if err := l.Delete(); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if got := m.Leaves(); len(got) != 0 {
		t.Fatalf("Leaves() after Delete = %v", got)
	}
	if err := made.Delete(); err != nil { // its fd; the directory is gone
		t.Fatalf("Delete of a removed leaf: %v", err)
	}
}
