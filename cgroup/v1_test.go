package cgroup

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestV1Spec(t *testing.T) {
	r := Resources{MemoryBytes: 64 << 20, CPUShares: 512, CPUs: 0.5, Cpuset: "0-1", PidsLimit: 50}
	spec := v1Spec(r, true)
	if got := *spec.Memory.Limit; got != 64<<20 {
		t.Errorf("memory limit = %d", got)
	}
	if got := *spec.Memory.Swap; got != 64<<20 {
		t.Errorf("memsw with no swap = %d, want the memory limit", got)
	}
	if spec.Memory.Swappiness != nil {
		t.Errorf("swappiness set with swap accounting")
	}
	if *spec.CPU.Shares != 512 || *spec.CPU.Period != 100000 || *spec.CPU.Quota != 50000 || spec.CPU.Cpus != "0-1" || spec.CPU.Mems != "" {
		t.Errorf("cpu = %+v", spec.CPU)
	}
	if *spec.Pids.Limit != 50 {
		t.Errorf("pids = %d", *spec.Pids.Limit)
	}

	for _, tc := range []struct {
		swap, want int64
	}{{-1, -1}, {128 << 20, 128 << 20}, {64 << 20, 64 << 20}} {
		spec := v1Spec(Resources{MemoryBytes: 64 << 20, MemorySwapBytes: tc.swap}, true)
		if got := *spec.Memory.Swap; got != tc.want {
			t.Errorf("--memory-swap %d: memsw = %d, want %d", tc.swap, got, tc.want)
		}
	}

	// Without swap accounting "no swap" becomes swappiness 0; a swap
	// limit cannot be expressed at all.
	spec = v1Spec(Resources{MemoryBytes: 64 << 20}, false)
	if spec.Memory.Swap != nil || spec.Memory.Swappiness == nil || *spec.Memory.Swappiness != 0 {
		t.Errorf("no swap accounting, no swap: %+v", spec.Memory)
	}
	spec = v1Spec(Resources{MemoryBytes: 64 << 20, MemorySwapBytes: -1}, false)
	if spec.Memory.Swap != nil || spec.Memory.Swappiness != nil {
		t.Errorf("no swap accounting, unlimited swap: %+v", spec.Memory)
	}

	if spec := v1Spec(Resources{}, true); spec.Memory != nil || spec.CPU != nil || spec.Pids != nil {
		t.Errorf("empty resources map to %+v", spec)
	}
}

// TestV1NotMounted points V1Root at a plain directory: every controller is
// missing, and the error names the flag that needs it.
func TestV1NotMounted(t *testing.T) {
	root := t.TempDir()
	_, err := New(Config{Version: 1, V1Root: root, ID: "x", Resources: Resources{PidsLimit: 10}}, nil)
	wantErr(t, err, "--pids-limit: cgroup v1 controller pids is not mounted at "+filepath.Join(root, "pids"))
	_, err = New(Config{Version: 1, V1Root: root, ID: "x"}, nil)
	wantErr(t, err, "cgroup v1 freezer is not mounted at "+filepath.Join(root, "freezer"))
	_, err = Load(Config{Version: 1, V1Root: root, ID: "x"}, nil)
	wantErr(t, err, "no cgroup v1 hierarchy is mounted at "+root)
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("New left %v in %s", entries, root)
	}
}

func TestV1Limits(t *testing.T) {
	requireCgroupV1(t, "freezer", "memory", "cpu", "cpuset", "pids")
	id := testID(t)
	m := newTestManager(t, Config{Version: 1, Parent: testParent, ID: id, Resources: Resources{
		MemoryBytes: 64 << 20, CPUShares: 512, CPUs: 0.5, Cpuset: "0", PidsLimit: 50,
	}})
	if m.Version() != 1 {
		t.Fatalf("Version() = %d", m.Version())
	}
	if _, ok := m.FD(); ok {
		t.Errorf("FD() ok on v1")
	}
	paths := m.Paths()
	// Every controller with a limit, and the freezer and devices: not
	// cpuacct or blkio, which only V1Controllers joins.
	for _, name := range []string{"freezer", "devices", "memory", "cpu", "cpuset", "pids"} {
		if want := filepath.Join(defaultRoot, name, testParent, id); paths[name] != want {
			t.Errorf("Paths()[%s] = %q, want %q", name, paths[name], want)
		}
	}
	mem, cpu, cpuset, pids := paths["memory"], paths["cpu"], paths["cpuset"], paths["pids"]
	swapAccounting := v1SwapAccounting(defaultRoot)

	assertFile(t, filepath.Join(mem, "memory.limit_in_bytes"), strconv.Itoa(64<<20))
	if swapAccounting {
		assertFile(t, filepath.Join(mem, "memory.memsw.limit_in_bytes"), strconv.Itoa(64<<20))
	} else {
		assertFile(t, filepath.Join(mem, "memory.swappiness"), "0")
	}
	assertFile(t, filepath.Join(cpu, "cpu.shares"), "512")
	assertFile(t, filepath.Join(cpu, "cpu.cfs_period_us"), "100000")
	assertFile(t, filepath.Join(cpu, "cpu.cfs_quota_us"), "50000")
	assertFile(t, filepath.Join(cpuset, "cpuset.cpus"), "0")
	assertFile(t, filepath.Join(cpuset, "cpuset.mems"), readTrim(t, filepath.Join(defaultRoot, "cpuset", "cpuset.mems")))
	assertFile(t, filepath.Join(pids, "pids.max"), "50")

	cpus := "0"
	if runtime.NumCPU() > 1 {
		cpus = "0-1"
	}
	if err := m.Update(Resources{MemoryBytes: 128 << 20, MemorySwapBytes: 256 << 20, CPUShares: 1024, CPUs: 1.5, Cpuset: cpus, PidsLimit: 100}); err != nil {
		t.Fatalf("Update: %v", err)
	}
	assertFile(t, filepath.Join(mem, "memory.limit_in_bytes"), strconv.Itoa(128<<20))
	if swapAccounting {
		assertFile(t, filepath.Join(mem, "memory.memsw.limit_in_bytes"), strconv.Itoa(256<<20))
	}
	assertFile(t, filepath.Join(cpu, "cpu.shares"), "1024")
	assertFile(t, filepath.Join(cpu, "cpu.cfs_quota_us"), "150000")
	assertFile(t, filepath.Join(cpuset, "cpuset.cpus"), cpus)
	assertFile(t, filepath.Join(pids, "pids.max"), "100")

	// Unlimited swap with a higher limit: memsw must be lifted first.
	if err := m.Update(Resources{MemoryBytes: 512 << 20, MemorySwapBytes: -1}); err != nil {
		t.Fatalf("Update unlimited swap: %v", err)
	}
	assertFile(t, filepath.Join(mem, "memory.limit_in_bytes"), strconv.Itoa(512<<20))
	if swapAccounting {
		if v, _ := strconv.ParseInt(readTrim(t, filepath.Join(mem, "memory.memsw.limit_in_bytes")), 10, 64); v < 1<<60 {
			t.Errorf("memsw after --memory-swap -1 = %d, want unlimited", v)
		}
	}
	// Back to no swap, lower: memsw follows the limit down.
	if err := m.Update(Resources{MemoryBytes: 32 << 20}); err != nil {
		t.Fatalf("Update lower: %v", err)
	}
	assertFile(t, filepath.Join(mem, "memory.limit_in_bytes"), strconv.Itoa(32<<20))
	if swapAccounting {
		assertFile(t, filepath.Join(mem, "memory.memsw.limit_in_bytes"), strconv.Itoa(32<<20))
	}
	// Fields left zero are left alone.
	assertFile(t, filepath.Join(cpu, "cpu.shares"), "1024")
	assertFile(t, filepath.Join(pids, "pids.max"), "100")

	wantErr(t, m.Update(Resources{CPUShares: 1}), "--cpu-shares: 1 is below the minimum of 2")

	if err := m.Delete(); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	assertRemoved(t, paths)
	if err := m.Delete(); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
}

// TestV1Errors checks the errors that name a flag and leave nothing behind.
func TestV1Errors(t *testing.T) {
	requireCgroupV1(t, "freezer", "cpuset", "pids")
	id := testID(t)
	bad := strconv.Itoa(maxCPU)
	_, err := New(Config{Version: 1, Parent: testParent, ID: id, Resources: Resources{Cpuset: bad}}, nil)
	wantErr(t, err, "--cpuset: cpu "+bad+" is not available")
	for _, name := range v1Names {
		if _, err := os.Stat(filepath.Join(defaultRoot, name, testParent, id)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("failed New left a %s cgroup (stat: %v)", name, err)
		}
	}

	// Only the freezer and devices without limits.
	m := newTestManager(t, Config{Version: 1, Parent: testParent, ID: id})
	if got := m.Paths(); len(got) != 2 || got["freezer"] == "" || got["devices"] == "" {
		t.Fatalf("Paths() without limits = %v, want only the freezer and devices", got)
	}
	if oom, err := m.OOMKilled(); err != nil || oom {
		t.Errorf("OOMKilled() without memory cgroup = %v, %v; want false", oom, err)
	}
}

// TestV1UpdateAddsController: a limit the task did not start with is added
// live: the task's processes (a setsid'd grandchild too) move into the new
// hierarchy, the limit is written, the task is thawed again, and Delete
// removes the added directory as well, even from a Manager loaded before.
func TestV1UpdateAddsController(t *testing.T) {
	requireCgroupV1(t, "freezer", "pids")
	id := testID(t)
	m := newTestManager(t, Config{Version: 1, Parent: testParent, ID: id})
	before, err := Load(Config{Version: 1, Parent: testParent, ID: id}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	c, grandchild := startDaemonChild(t, nil, func(pid int) {
		if err := m.Join(pid); err != nil {
			t.Fatal(err)
		}
	})
	if err := m.Update(Resources{PidsLimit: 5}); err != nil {
		t.Fatalf("Update adding pids: %v", err)
	}
	pidsDir := filepath.Join(defaultRoot, "pids", testParent, id)
	if got := m.Paths()["pids"]; got != pidsDir {
		t.Fatalf("Paths()[pids] = %q, want %q", got, pidsDir)
	}
	assertFile(t, filepath.Join(pidsDir, "pids.max"), "5")
	procs := readTrim(t, filepath.Join(pidsDir, "cgroup.procs"))
	for _, pid := range []int{c.cmd.Process.Pid, grandchild} {
		if !slices.Contains(strings.Fields(procs), strconv.Itoa(pid)) {
			t.Errorf("pid %d not moved into %s (cgroup.procs %q)", pid, pidsDir, procs)
		}
	}
	assertPaused(t, m, false)
	if err := m.KillAll(); err != nil {
		t.Fatal(err)
	}
	c.waitKilled(t)
	// A Manager loaded before the update still removes every directory.
	if err := before.Delete(); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := os.Stat(pidsDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Delete left %s (stat: %v)", pidsDir, err)
	}
}

// TestV1Lifecycle joins a process that double-forks into a new session,
// then lists, freezes, thaws, kills and deletes.
func TestV1Lifecycle(t *testing.T) {
	requireCgroupV1(t, "freezer", "memory", "pids")
	id := testID(t)
	m := newTestManager(t, Config{Version: 1, Parent: testParent, ID: id, Resources: Resources{MemoryBytes: 256 << 20, PidsLimit: 100}})
	paths := m.Paths()

	c, daemon := startDaemonChild(t, nil, func(pid int) {
		if err := m.Join(pid); err != nil {
			t.Fatalf("Join: %v", err)
		}
		in := procCgroup(t, pid)
		for _, name := range []string{"freezer", "memory", "pids"} {
			if want := ":" + name + ":/" + testParent + "/" + id + "\n"; !strings.Contains(in, want) {
				t.Errorf("/proc/%d/cgroup has no %q:\n%s", pid, want, in)
			}
		}
	})
	pid := c.cmd.Process.Pid
	if sid, _ := unix.Getsid(daemon); sid == pid || sid != daemon {
		t.Fatalf("grandchild %d is in session %d, want its own", daemon, sid)
	}
	assertPids(t, m, pid, daemon)

	freezer := filepath.Join(paths["freezer"], "freezer.state")
	if err := m.Freeze(); err != nil {
		t.Fatalf("Freeze: %v", err)
	}
	assertFile(t, freezer, "FROZEN")
	assertPaused(t, m, true)
	if err := m.Thaw(); err != nil {
		t.Fatalf("Thaw: %v", err)
	}
	assertFile(t, freezer, "THAWED")
	assertPaused(t, m, false)

	// Kill a paused task: frozen v1 tasks take SIGKILL only once thawed.
	if err := m.Freeze(); err != nil {
		t.Fatalf("Freeze: %v", err)
	}
	if err := m.KillAll(); err != nil {
		t.Fatalf("KillAll: %v", err)
	}
	assertNoPids(t, m)
	c.waitKilled(t)
	assertGone(t, daemon)

	if err := m.Delete(); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	assertRemoved(t, paths)
}

// TestV1Leftover: a leftover cgroup with a process in it (a live task of
// the same id, perhaps from another state dir) is refused, the process
// untouched; once empty (a crashed run's), New reclaims it and starts
// clean.
func TestV1Leftover(t *testing.T) {
	requireCgroupV1(t, "freezer", "memory")
	id := testID(t)
	cfg := Config{Version: 1, Parent: testParent, ID: id, Resources: Resources{MemoryBytes: 64 << 20}}
	old := newTestManager(t, cfg)
	c := startChild(t, exec.Command("sleep", "100"))
	if err := old.Join(c.cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}

	cfg.Resources = Resources{}
	if m, err := New(cfg, testLogger(t)); !errors.Is(err, ErrInUse) {
		if m != nil {
			m.Delete()
		}
		t.Fatalf("New over a cgroup with a process: %v, want ErrInUse", err)
	}
	if err := c.cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the leftover's process was signalled: %v", err)
	}
	if err := old.KillAll(); err != nil {
		t.Fatal(err)
	}
	c.waitKilled(t)
	m := newTestManager(t, cfg)
	assertNoPids(t, m)
	if got := m.Paths(); len(got) != 2 || got["devices"] == "" {
		t.Errorf("Paths() = %v, want only the freezer and devices", got)
	}
	if _, err := os.Stat(old.Paths()["memory"]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("leftover memory cgroup still there (stat: %v)", err)
	}

	loaded, err := Load(cfg, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got := loaded.Paths(); got["freezer"] != m.Paths()["freezer"] || got["devices"] != m.Paths()["devices"] || len(got) != 2 {
		t.Errorf("Load().Paths() = %v, want %v", got, m.Paths())
	}
}

// TestV1Controllers: a task joins the v1 controllers it is told to even
// without a limit there (berth-oci, for containerd's runc shim), on a
// hybrid host too, and Delete removes them.
func TestV1Controllers(t *testing.T) {
	requireCgroupV2(t, unifiedMount)
	requireCgroupV1(t, "memory", "cpuacct", "pids", "blkio")
	id := testID(t)
	m := newTestManager(t, Config{Version: Hybrid, Parent: testParent, ID: id, V2Mount: unifiedMount,
		V1Controllers: []string{"memory", "cpuacct", "pids", "blkio", "nosuch"}})
	paths := m.Paths()
	for _, name := range []string{"memory", "cpuacct", "pids", "blkio"} {
		if want := filepath.Join(defaultRoot, name, testParent, id); paths[name] != want {
			t.Errorf("Paths()[%s] = %q, want %q", name, paths[name], want)
		}
	}
	if _, ok := paths["nosuch"]; ok {
		t.Error("an unmounted controller was joined")
	}
	if err := m.Delete(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"memory", "cpuacct", "pids", "blkio"} {
		if _, err := os.Stat(filepath.Join(defaultRoot, name, testParent, id)); !os.IsNotExist(err) {
			t.Errorf("%s cgroup left after Delete: %v", name, err)
		}
	}
}
