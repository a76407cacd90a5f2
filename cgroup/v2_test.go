package cgroup

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestSharesToWeight(t *testing.T) {
	for shares, want := range map[uint64]uint64{
		0:      0,
		2:      1,
		512:    20,
		1024:   39,
		262144: 10000,
	} {
		if got := sharesToWeight(shares); got != want {
			t.Errorf("sharesToWeight(%d) = %d, want %d", shares, got, want)
		}
	}
}

func TestSwapMax(t *testing.T) {
	for _, tc := range []struct {
		r    Resources
		want string
		ok   bool
	}{
		{Resources{}, "", false},
		{Resources{MemoryBytes: 64 << 20}, "0", true},
		{Resources{MemoryBytes: 64 << 20, MemorySwapBytes: 64 << 20}, "0", true},
		{Resources{MemoryBytes: 64 << 20, MemorySwapBytes: 96 << 20}, "33554432", true},
		{Resources{MemoryBytes: 64 << 20, MemorySwapBytes: -1}, "max", true},
	} {
		got, ok := swapMax(tc.r)
		if got != tc.want || ok != tc.ok {
			t.Errorf("swapMax(%+v) = %q, %v; want %q, %v", tc.r, got, ok, tc.want, tc.ok)
		}
	}
}

// fakeV2 builds a cgroup2 tree in a temporary directory: the mount and
// the parent "berth-test", each offering controllers. The kernel creates
// a cgroup's files itself; in the fake, writes create them.
func fakeV2(t *testing.T, controllers string) string {
	mount := t.TempDir()
	for _, dir := range []string{mount, filepath.Join(mount, "berth-test")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, content := range map[string]string{"cgroup.controllers": controllers + "\n", "cgroup.subtree_control": ""} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return mount
}

// readable makes the files cgroup2 created in a fake tree readable and
// writable again: it creates missing files with mode 0, which only root
// may use, and cgroupfs files always exist.
func readable(t *testing.T, dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Type().IsRegular() {
			if err := os.Chmod(filepath.Join(dir, e.Name()), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestV2FakeTree checks the v2 limit files and controller delegation
// against a fake tree: this host has no v2 controllers to test for real.
func TestV2FakeTree(t *testing.T) {
	mount := fakeV2(t, "cpuset cpu io memory hugetlb pids")
	cfg := Config{Version: 2, V2Mount: mount, Parent: "berth-test", ID: "t1", Resources: Resources{
		MemoryBytes: 64 << 20, MemorySwapBytes: 128 << 20, CPUShares: 1024, CPUs: 0.5, Cpuset: "0", PidsLimit: 100,
	}}
	m, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	dir := filepath.Join(mount, "berth-test", "t1")
	readable(t, dir)

	if m.Version() != 2 {
		t.Errorf("Version() = %d", m.Version())
	}
	if got := m.Paths(); len(got) != 1 || got["unified"] != dir {
		t.Errorf("Paths() = %v, want unified: %s", got, dir)
	}
	if fd, ok := m.FD(); !ok || fd < 0 {
		t.Errorf("FD() = %d, %v", fd, ok)
	}
	for _, level := range []string{mount, filepath.Join(mount, "berth-test")} {
		enabled, err := readFields(filepath.Join(level, "cgroup.subtree_control"))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []string{"memory", "cpu", "cpuset", "pids"} {
			if !enabled[c] {
				t.Errorf("%s/cgroup.subtree_control does not enable %s: %v", level, c, enabled)
			}
		}
		if enabled["io"] || enabled["hugetlb"] {
			t.Errorf("%s/cgroup.subtree_control enables controllers no limit needs: %v", level, enabled)
		}
	}
	assertFile(t, filepath.Join(dir, "memory.max"), "67108864")
	assertFile(t, filepath.Join(dir, "memory.swap.max"), "67108864")
	assertFile(t, filepath.Join(dir, "cpu.weight"), "39")
	assertFile(t, filepath.Join(dir, "cpu.max"), "50000 100000")
	assertFile(t, filepath.Join(dir, "cpuset.cpus"), "0")
	assertFile(t, filepath.Join(dir, "pids.max"), "100")

	if err := m.Update(Resources{MemoryBytes: 32 << 20}); err != nil {
		t.Fatalf("Update: %v", err)
	}
	readable(t, dir)
	assertFile(t, filepath.Join(dir, "memory.max"), "33554432")
	assertFile(t, filepath.Join(dir, "memory.swap.max"), "0")
	assertFile(t, filepath.Join(dir, "cpu.weight"), "39") // unset fields stay

	if err := m.Update(Resources{MemoryBytes: 32 << 20, MemorySwapBytes: -1, CPUShares: 2, CPUs: 2, PidsLimit: 7}); err != nil {
		t.Fatalf("Update: %v", err)
	}
	readable(t, dir)
	assertFile(t, filepath.Join(dir, "memory.swap.max"), "max")
	assertFile(t, filepath.Join(dir, "cpu.weight"), "1")
	assertFile(t, filepath.Join(dir, "cpu.max"), "200000 100000")
	assertFile(t, filepath.Join(dir, "pids.max"), "7")

	loaded, err := Load(cfg, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	defer loaded.Close()
	if got := loaded.Paths()["unified"]; got != dir {
		t.Errorf("Load().Paths() = %v", loaded.Paths())
	}
	cfg.ID = "t2"
	if _, err := Load(cfg, nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing cgroup = %v, want fs.ErrNotExist", err)
	}

	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.FD(); ok {
		t.Errorf("FD() ok after Close")
	}
}

// TestV2MissingController expects an error naming the flag and nothing
// created or enabled.
func TestV2MissingController(t *testing.T) {
	mount := fakeV2(t, "cpu memory")
	_, err := New(Config{Version: 2, V2Mount: mount, Parent: "berth-test", ID: "t1", Resources: Resources{MemoryBytes: 64 << 20, PidsLimit: 10}}, nil)
	wantErr(t, err, `--pids-limit: cgroup2 controller pids is not available in `+mount+` (cgroup.controllers: "cpu memory")`)
	if _, err := os.Stat(filepath.Join(mount, "berth-test", "t1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failed New left the cgroup (stat: %v)", err)
	}
	assertFile(t, filepath.Join(mount, "cgroup.subtree_control"), "")

	// The root offers pids but the parent does not pass it on.
	if err := os.WriteFile(filepath.Join(mount, "cgroup.controllers"), []byte("cpu memory pids"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = New(Config{Version: 2, V2Mount: mount, Parent: "berth-test", ID: "t1", Resources: Resources{PidsLimit: 10}}, nil)
	wantErr(t, err, `--pids-limit: cgroup2 controller pids is not available in `+filepath.Join(mount, "berth-test"))

	_, err = New(Config{Version: 2, V2Mount: t.TempDir(), ID: "t1"}, nil)
	wantErr(t, err, "cgroup2 mount ")
}

// TestV2Unified runs a task on this host's real cgroup2 hierarchy, which
// has no controllers but working procs, freeze, kill and events.
func TestV2Unified(t *testing.T) {
	requireCgroupV2(t, unifiedMount)
	id := testID(t)
	cfg := Config{Version: 2, V2Mount: unifiedMount, Parent: testParent, ID: id}
	m := newTestManager(t, cfg)
	dir := filepath.Join(unifiedMount, testParent, id)
	if got := m.Paths(); got["unified"] != dir {
		t.Fatalf("Paths() = %v, want unified: %s", got, dir)
	}
	fd, ok := m.FD()
	if !ok {
		t.Fatal("FD() not ok on v2")
	}

	// Started straight into the cgroup by clone3(CLONE_INTO_CGROUP).
	c, daemon := startDaemonChild(t, &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}, nil)
	pid := c.cmd.Process.Pid
	if in, want := procCgroup(t, pid), "0::/"+testParent+"/"+id+"\n"; !strings.Contains(in, want) {
		t.Fatalf("/proc/%d/cgroup has no %q:\n%s", pid, want, in)
	}
	// And one moved in by Join.
	joined := startChild(t, exec.Command("sleep", "100"))
	if err := m.Join(joined.cmd.Process.Pid); err != nil {
		t.Fatalf("Join: %v", err)
	}
	assertPids(t, m, pid, daemon, joined.cmd.Process.Pid)

	if err := m.Freeze(); err != nil {
		t.Fatalf("Freeze: %v", err)
	}
	assertFile(t, filepath.Join(dir, "cgroup.freeze"), "1")
	if v, _, _ := readKeyed(filepath.Join(dir, "cgroup.events"), "frozen"); v != "1" {
		t.Errorf("cgroup.events frozen = %q after Freeze", v)
	}
	assertPaused(t, m, true)
	if err := m.Thaw(); err != nil {
		t.Fatalf("Thaw: %v", err)
	}
	assertFile(t, filepath.Join(dir, "cgroup.freeze"), "0")
	assertPaused(t, m, false)

	// Another process opens the same cgroup.
	loaded, err := Load(cfg, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	defer loaded.Close()
	assertPids(t, loaded, pid, daemon)

	if err := m.Freeze(); err != nil {
		t.Fatalf("Freeze: %v", err)
	}
	if err := loaded.KillAll(); err != nil {
		t.Fatalf("KillAll: %v", err)
	}
	if v, _, _ := readKeyed(filepath.Join(dir, "cgroup.events"), "populated"); v != "0" {
		t.Errorf("cgroup.events populated = %q after KillAll", v)
	}
	assertNoPids(t, m)
	c.waitKilled(t)
	joined.waitKilled(t)
	assertGone(t, daemon)

	if oom, err := m.OOMKilled(); err != nil || oom {
		t.Errorf("OOMKilled() without memory controller = %v, %v; want false", oom, err)
	}
	if err := m.Delete(); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	assertRemoved(t, m.Paths())
	if _, ok := m.FD(); ok {
		t.Errorf("FD() ok after Delete")
	}
	if err := m.Delete(); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
}

// TestV2KillFallback runs KillAll's freeze, kill, thaw loop on v2, the
// path kernels before 5.14 (no cgroup.kill) take.
func TestV2KillFallback(t *testing.T) {
	requireCgroupV2(t, unifiedMount)
	m := newTestManager(t, Config{Version: 2, V2Mount: unifiedMount, Parent: testParent, ID: testID(t)})
	fd, _ := m.FD()
	c, daemon := startDaemonChild(t, &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}, nil)
	if err := m.killLoop(deadlineIn(killTimeout)); err != nil {
		t.Fatalf("killLoop: %v", err)
	}
	assertNoPids(t, m)
	c.waitKilled(t)
	assertGone(t, daemon)
}
