package cgroup

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestResolvePath: an absolute Path is below the roots as is; a relative
// one below the caller's cgroup, as runc takes it: on v2 the parent of its
// cgroup, on v1 and hybrid hosts its freezer cgroup.
func TestResolvePath(t *testing.T) {
	self := filepath.Join(t.TempDir(), "cgroup")
	content := "9:name=systemd:/user.slice/s.scope\n6:freezer:/runner\n4:memory:/other\n1:cpu,cpuacct:/\n0::/user.slice/s.scope\n"
	if err := os.WriteFile(self, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path    string
		version int
		want    string
	}{
		{"/a/b", V2, "a/b"},
		{"/a//b/", V1, "a/b"},
		{"/x", Hybrid, "x"},
		{"testdir/c", V2, "user.slice/testdir/c"},
		{"testdir/c", V1, "runner/testdir/c"},
		{"./testdir/c", Hybrid, "runner/testdir/c"},
	} {
		got, err := resolvePath(c.path, c.version, self)
		if err != nil || got != c.want {
			t.Errorf("resolvePath(%q, %d) = %q, %v; want %q", c.path, c.version, got, err, c.want)
		}
	}
	noFreezer := filepath.Join(t.TempDir(), "cgroup")
	if err := os.WriteFile(noFreezer, []byte("0::/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := resolvePath("a", V1, noFreezer)
	wantErr(t, err, `cgroup path "a": relative to this process's cgroup: `+noFreezer+`: no freezer entry`)
}

// TestPathRefused: a Path that climbs or names the root is refused before
// anything is created.
func TestPathRefused(t *testing.T) {
	mount := fakeV2(t, "cpu memory")
	for p, want := range map[string]string{
		"/a/../../etc": `cgroup path "/a/../../etc": must not contain ".."`,
		"..":           `cgroup path "..": must not contain ".."`,
		"/":            `cgroup path "/": names the hierarchy's root`,
		"./":           `cgroup path "./": names the hierarchy's root`,
		"a\x00":        `cgroup path "a\x00": contains a NUL byte`,
	} {
		_, err := New(Config{Version: V2, V2Mount: mount, ID: "t1", Path: p}, nil)
		wantErr(t, err, want)
	}
	entries, err := os.ReadDir(mount)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() && e.Name() != "berth-test" {
			t.Errorf("refused paths left %s behind", e.Name())
		}
	}
}

// TestV2FakeTreeSettings: memory nodes, memory.low and a CFS period of
// the caller's reach their v2 files; what v2 has no file for is refused
// before the cgroup exists.
func TestV2FakeTreeSettings(t *testing.T) {
	mount := fakeV2(t, "cpuset cpu memory")
	for _, f := range []string{"cpuset.cpus.effective", "cpuset.mems.effective"} {
		if err := os.WriteFile(filepath.Join(mount, "berth-test", f), []byte("0-1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := Config{Version: V2, V2Mount: mount, Parent: "berth-test", ID: "t1", Resources: Resources{
		MemoryBytes: 64 << 20, MemoryReservationBytes: 32 << 20, CPUs: 0.1, CPUPeriod: 500000, Cpuset: "0-1", CpusetMems: "0",
	}}
	m, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	dir := filepath.Join(mount, "berth-test", "t1")
	assertFile(t, filepath.Join(dir, "cpuset.cpus"), "0-1")
	assertFile(t, filepath.Join(dir, "cpuset.mems"), "0")
	assertFile(t, filepath.Join(dir, "memory.low"), strconv.Itoa(32<<20))
	assertFile(t, filepath.Join(dir, "cpu.max"), "50000 500000")

	if err := m.Update(Resources{CpusetMems: "1", CPUPeriod: 200000}); err != nil {
		t.Fatalf("Update: %v", err)
	}
	assertFile(t, filepath.Join(dir, "cpuset.mems"), "1")
	assertFile(t, filepath.Join(dir, "cpu.max"), "max 200000")
	wantErr(t, m.Update(Resources{CpusetMems: "2"}), "Resources.CpusetMems: memory node 2 is not available ("+
		filepath.Join(mount, "berth-test", "cpuset.mems.effective")+" is 0-1)")
	wantErr(t, m.Update(Resources{MemorySwappiness: ptr(uint64(10))}), "Resources.MemorySwappiness: cgroup v2 has no memory.swappiness")

	for _, c := range []struct {
		r    Resources
		want string
	}{
		{Resources{MemoryBytes: 64 << 20, MemorySwappiness: ptr(uint64(0))}, "Resources.MemorySwappiness: cgroup v2 has no memory.swappiness"},
		{Resources{MemoryBytes: 64 << 20, DisableOOMKiller: true}, "Resources.DisableOOMKiller: cgroup v2 cannot turn off the OOM killer"},
		{Resources{CpusetMems: "3"}, "Resources.CpusetMems: memory node 3 is not available"},
		{Resources{CPUs: 0.5, CPUPeriod: 100}, "Resources.CPUPeriod: 100µs is outside the kernel's range of 1000 to 1000000"},
		{Resources{CPUs: 0.001, CPUPeriod: 500000}, "--cpus: 0.001 of a 500000µs period is a quota below the kernel's minimum of 1000µs"},
	} {
		_, err := New(Config{Version: V2, V2Mount: mount, Parent: "berth-test", ID: "t2", Resources: c.r}, nil)
		wantErr(t, err, c.want)
		if _, err := os.Stat(filepath.Join(mount, "berth-test", "t2")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%+v: refused, but the cgroup exists (%v)", c.r, err)
		}
	}
}

// TestV1Settings: cpuset.mems, the soft limit, swappiness, the OOM killer
// switch and the CFS period on real v1 hierarchies.
func TestV1Settings(t *testing.T) {
	requireCgroupV1(t, "freezer", "memory", "cpu", "cpuset")
	id := testID(t)
	mems := readTrim(t, filepath.Join(defaultRoot, "cpuset", "cpuset.mems"))
	first := mems
	if i := len(mems); i > 0 {
		first = string(mems[0]) // node lists start with their lowest node
	}
	swappiness := uint64(7)
	m := newTestManager(t, Config{Version: V1, Parent: testParent, ID: id, Resources: Resources{
		MemoryBytes: 64 << 20, MemoryReservationBytes: 32 << 20, MemorySwappiness: &swappiness, DisableOOMKiller: true,
		CPUs: 0.1, CPUPeriod: 500000, CpusetMems: first,
	}})
	paths := m.Paths()
	mem, cpu, cpuset := paths["memory"], paths["cpu"], paths["cpuset"]
	assertFile(t, filepath.Join(mem, "memory.soft_limit_in_bytes"), strconv.Itoa(32<<20))
	assertFile(t, filepath.Join(mem, "memory.swappiness"), "7")
	if v, _, err := readKeyed(filepath.Join(mem, "memory.oom_control"), "oom_kill_disable"); err != nil || v != "1" {
		t.Errorf("memory.oom_control oom_kill_disable = %q, %v; want 1", v, err)
	}
	assertFile(t, filepath.Join(cpu, "cpu.cfs_period_us"), "500000")
	assertFile(t, filepath.Join(cpu, "cpu.cfs_quota_us"), "50000")
	assertFile(t, filepath.Join(cpuset, "cpuset.mems"), first)
	// No cpus given: inherited from the parent, or v1 would admit no task.
	assertFile(t, filepath.Join(cpuset, "cpuset.cpus"), readTrim(t, filepath.Join(defaultRoot, "cpuset", testParent, "cpuset.cpus")))

	if err := m.Update(Resources{MemoryReservationBytes: 16 << 20, MemorySwappiness: ptr(uint64(30))}); err != nil {
		t.Fatalf("Update: %v", err)
	}
	assertFile(t, filepath.Join(mem, "memory.soft_limit_in_bytes"), strconv.Itoa(16<<20))
	assertFile(t, filepath.Join(mem, "memory.swappiness"), "30")
	wantErr(t, m.Update(Resources{CpusetMems: "8000"}), "Resources.CpusetMems: memory node 8000 is not available")
}

// TestExactPath: a cgroup at a path of the caller's, not <Parent>/<ID>:
// Load finds it by Manager.Path from another process, Delete removes it
// and the parents New made, and leaves a parent that existed before.
func TestExactPath(t *testing.T) {
	for _, c := range []struct {
		name    string
		version int
		mount   string
	}{
		{"v1", V1, ""},
		{"hybrid", Hybrid, ""},
		{"v2", V2, unifiedMount},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.version == V2 || c.version == Hybrid {
				requireCgroupV2(t, unifiedMount)
			}
			if c.version == V1 || c.version == Hybrid {
				requireCgroupV1(t, "freezer", "cpu", "cpuset")
			}
			id := testID(t)
			// <testParent>/<id>-old exists before; <id>-new/deep does not.
			old := filepath.Join(testParent, id+"-old")
			p := "/" + old + "/" + id + "-new/deep/leaf"
			var hier []string
			if c.version != V1 {
				hier = append(hier, unifiedMount)
			}
			if c.version != V2 {
				hier = append(hier, filepath.Join(defaultRoot, "freezer"), filepath.Join(defaultRoot, "cpu"), filepath.Join(defaultRoot, "cpuset"))
			}
			for _, h := range hier {
				if err := os.MkdirAll(filepath.Join(h, old), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			t.Cleanup(func() {
				for _, h := range hier {
					if err := unix.Rmdir(filepath.Join(h, old)); err != nil && !errors.Is(err, unix.ENOENT) {
						t.Errorf("cleanup: %v", err)
					}
				}
			})
			cfg := Config{Version: c.version, V2Mount: c.mount, ID: "ignored-for-the-path", Path: p}
			if c.version != V2 {
				// v1 cpuset: the new parents get cpus and mems first.
				cfg.Resources = Resources{CPUShares: 512, CpusetMems: "0"}
			}
			m := newTestManager(t, cfg)
			if m.Path() != p {
				t.Errorf("Path() = %q, want %q", m.Path(), p)
			}
			for k, dir := range m.Paths() {
				if !strings.HasSuffix(dir, p) {
					t.Errorf("Paths()[%s] = %s, not at %s", k, dir, p)
				}
			}
			loaded, err := Load(Config{Version: c.version, V2Mount: c.mount, ID: "x", Path: m.Path()}, nil)
			if err != nil {
				t.Fatalf("Load by Path: %v", err)
			}
			if got, want := loaded.Paths(), m.Paths(); len(got) != len(want) {
				t.Errorf("Load().Paths() = %v, want %v", got, want)
			}
			if c.version != V1 {
				// Not under a parent of berth's: its own device program.
				if ids, _ := attached(t, m.Paths()["unified"]); len(ids) != 1 {
					t.Errorf("task at an exact path: programs %v, want its own", ids)
				}
			}
			if err := loaded.Delete(); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			for _, h := range hier {
				if _, err := os.Stat(filepath.Join(h, old, id+"-new")); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s: the parents New made are still there (%v)", h, err)
				}
				if _, err := os.Stat(filepath.Join(h, old)); err != nil {
					t.Errorf("%s: the parent that existed before is gone: %v", h, err)
				}
			}
		})
	}
}

// TestExactPathParentKeptWhileUsed: a parent berth made stays while
// another task's cgroup is in it, and goes with the last.
func TestExactPathParentKeptWhileUsed(t *testing.T) {
	requireCgroupV2(t, unifiedMount)
	id := testID(t)
	shared := filepath.Join(testParent, id)
	a := newTestManager(t, Config{Version: V2, V2Mount: unifiedMount, ID: "a", Path: "/" + shared + "/a"})
	b := newTestManager(t, Config{Version: V2, V2Mount: unifiedMount, ID: "b", Path: "/" + shared + "/b"})
	if err := a.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(unifiedMount, shared)); err != nil {
		t.Fatalf("parent removed while b is in it: %v", err)
	}
	if err := b.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(unifiedMount, shared)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("parent left after the last task: %v", err)
	}
}
