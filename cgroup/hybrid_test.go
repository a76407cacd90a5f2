package cgroup

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestHybridNoLimits: without limits a hybrid task has only its unified
// cgroup, is cloned into it, and is frozen and killed there.
func TestHybridNoLimits(t *testing.T) {
	requireCgroupV2(t, unifiedMount)
	requireCgroupV1(t, "memory", "pids")
	id := testID(t)
	cfg := Config{Version: Hybrid, Parent: testParent, ID: id}
	m := newTestManager(t, cfg)
	dir := filepath.Join(unifiedMount, testParent, id)
	if got := m.Paths(); len(got) != 1 || got["unified"] != dir {
		t.Fatalf("Paths() = %v, want only unified: %s", got, dir)
	}
	if m.Version() != Hybrid {
		t.Fatalf("Version() = %d, want Hybrid", m.Version())
	}
	fd, ok := m.FD()
	if !ok {
		t.Fatal("FD() not ok on a hybrid cgroup")
	}
	c, daemon := startDaemonChild(t, &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}, func(pid int) {
		if err := m.Adopt(pid); err != nil {
			t.Fatalf("Adopt: %v", err)
		}
	})
	pid := c.cmd.Process.Pid
	if in := procCgroup(t, pid); !strings.Contains(in, "0::/"+testParent+"/"+id+"\n") {
		t.Fatalf("/proc/%d/cgroup:\n%s", pid, in)
	}
	assertPids(t, m, pid, daemon)
	if err := m.Freeze(); err != nil {
		t.Fatalf("Freeze: %v", err)
	}
	assertPaused(t, m, true)
	if err := m.KillAll(); err != nil {
		t.Fatalf("KillAll: %v", err)
	}
	c.waitKilled(t)
	assertGone(t, daemon)
}

// TestHybridLimits: limits put the task in v1 controller cgroups too (by
// Adopt, after the clone), an update adds a controller it started without
// while it is frozen on the unified hierarchy, and Delete removes all.
func TestHybridLimits(t *testing.T) {
	requireCgroupV2(t, unifiedMount)
	requireCgroupV1(t, "memory", "pids")
	id := testID(t)
	cfg := Config{Version: Hybrid, Parent: testParent, ID: id, Resources: Resources{MemoryBytes: 64 << 20}}
	m := newTestManager(t, cfg)
	mem := filepath.Join(defaultRoot, "memory", testParent, id)
	pids := filepath.Join(defaultRoot, "pids", testParent, id)
	if got := m.Paths(); got["memory"] != mem || got["unified"] == "" || got["freezer"] != "" {
		t.Fatalf("Paths() = %v, want unified and memory (no freezer)", got)
	}
	assertFile(t, filepath.Join(mem, "memory.limit_in_bytes"), strconv.Itoa(64<<20))
	fd, _ := m.FD()
	c, daemon := startDaemonChild(t, &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}, func(pid int) {
		if err := m.Adopt(pid); err != nil {
			t.Fatalf("Adopt: %v", err)
		}
	})
	pid := c.cmd.Process.Pid
	for _, p := range []int{pid, daemon} {
		if !slices.Contains(strings.Fields(readTrim(t, filepath.Join(mem, "cgroup.procs"))), strconv.Itoa(p)) {
			t.Errorf("pid %d not in %s", p, mem)
		}
	}
	// Another process (the CLI's update) adds a pids limit.
	loaded, err := Load(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer loaded.Close()
	if err := loaded.Update(Resources{PidsLimit: 7}); err != nil {
		t.Fatalf("Update adding pids: %v", err)
	}
	assertFile(t, filepath.Join(pids, "pids.max"), "7")
	for _, p := range []int{pid, daemon} {
		if !slices.Contains(strings.Fields(readTrim(t, filepath.Join(pids, "cgroup.procs"))), strconv.Itoa(p)) {
			t.Errorf("pid %d not moved into %s", p, pids)
		}
	}
	assertPaused(t, m, false)
	if err := m.KillAll(); err != nil {
		t.Fatalf("KillAll: %v", err)
	}
	c.waitKilled(t)
	// m was made before the pids cgroup existed: Delete still removes it.
	if err := m.Delete(); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	for _, d := range []string{mem, pids, filepath.Join(unifiedMount, testParent, id)} {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Delete left %s", d)
		}
	}
}

// TestHybridUpdateKeepsPaused: an update that adds a v1 controller to a
// paused task leaves it paused.
func TestHybridUpdateKeepsPaused(t *testing.T) {
	requireCgroupV2(t, unifiedMount)
	requireCgroupV1(t, "pids")
	id := testID(t)
	m := newTestManager(t, Config{Version: Hybrid, Parent: testParent, ID: id})
	fd, _ := m.FD()
	c, _ := startDaemonChild(t, &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}, nil)
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if err := m.Update(Resources{PidsLimit: 9}); err != nil {
		t.Fatalf("Update: %v", err)
	}
	assertPaused(t, m, true)
	if err := m.KillAll(); err != nil {
		t.Fatal(err)
	}
	c.waitKilled(t)
}
