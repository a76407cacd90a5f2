package cgroup

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestCheckUnifiedKey(t *testing.T) {
	for _, ok := range []string{"memory.high", "memory.oom.group", "hugetlb.2MB.max", "hugetlb.1GB.rsvd.max", "io.bfq.weight", "cgroup.max.depth", "cpu.uclamp.min", "misc.max"} {
		if err := checkUnifiedKey(ok); err != nil {
			t.Errorf("checkUnifiedKey(%q): %v", ok, err)
		}
	}
	for bad, want := range map[string]string{
		"../memory.max":      "not a path",
		"memory.max/x":       "not a path",
		"/memory.max":        "not a path",
		"memory..max":        "not a path",
		"memory":             "want controller.file",
		".max":               "want controller.file",
		"memory.":            "want controller.file",
		"memory.max.":        "want controller.file",
		"Memory.max":         `controller "Memory"`,
		"memory.max\n":       `file "max\n"`,
		"memory.max =1":      `file "max =1"`,
		"memory.high\x00x":   `file "high\x00x"`,
		"mem ory.max":        `controller "mem ory"`,
		"memory.swap.max\tx": `file "swap.max\tx"`,
	} {
		wantErr(t, checkUnifiedKey(bad), want)
	}
}

// TestUnifiedValidate: the keys through which berth holds the task are
// refused, naming the key.
func TestUnifiedValidate(t *testing.T) {
	for _, k := range []string{"cgroup.procs", "cgroup.threads", "cgroup.freeze", "cgroup.kill", "cgroup.type", "cgroup.subtree_control"} {
		wantErr(t, Resources{Unified: map[string]string{k: "1"}}.Validate(), "Resources.Unified["+k+"]: refused: ")
	}
	wantErr(t, Resources{Unified: map[string]string{"cgroup.max.descendants": " 0\n"}}.Validate(), "Resources.Unified[cgroup.max.descendants]: refused: 0 leaves no room")
	wantErr(t, Resources{Unified: map[string]string{"memory.high": "1\x00"}}.Validate(), "Resources.Unified[memory.high]: the value contains a NUL byte")
	if err := (Resources{Unified: map[string]string{"cgroup.max.depth": "1", "memory.high": "64M", "memory.max": "max"}}).Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

// TestV2FakeUnified: Unified's keys enable the controllers they name that
// the hierarchy offers, are written after the fields (so a key wins over a
// field writing the same file), and a key the cgroup has no file for is
// an error naming it that removes the cgroup.
func TestV2FakeUnified(t *testing.T) {
	mount := fakeV2(t, "memory pids io")
	u := map[string]string{"memory.high": "64M", "memory.max": "128M", "cgroup.max.depth": "2", "cpu.pressure": "x"}
	needs := Resources{Unified: u, PidsLimit: 5}.v2Needs(mount)
	if len(needs) != 2 || needs[0] != (need{"pids", "--pids-limit"}) || needs[1] != (need{"memory", "Resources.Unified[memory.high]"}) {
		t.Errorf("v2Needs = %v: want pids, then memory for the first memory key (cpu is not offered, cgroup.* is no controller)", needs)
	}

	dir := t.TempDir()
	touch(t, dir, "memory.high", "memory.max", "cgroup.max.depth", "cpu.pressure")
	settings, err := v2Settings(Resources{MemoryBytes: 64 << 20, Unified: u}, dir, mount)
	if err != nil {
		t.Fatal(err)
	}
	assertSettings(t, settings, dir, "cgroup.max.depth=2", "cpu.pressure=x", "memory.high=64M", "memory.max=128M")
	if err := applySettings(settings); err != nil {
		t.Fatal(err)
	}
	assertFile(t, filepath.Join(dir, "memory.max"), "128M")

	_, err = New(Config{Version: V2, V2Mount: mount, Parent: "berth-test", ID: "u1",
		Resources: Resources{Unified: map[string]string{"memory.high": "64M"}}}, testLogger(t))
	wantErr(t, err, "Resources.Unified[memory.high]: no such file in "+filepath.Join(mount, "berth-test", "u1")+" (the controllers of "+mount+`: "memory pids io")`)
	if _, err := os.Stat(filepath.Join(mount, "berth-test", "u1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refused New left the cgroup (stat: %v)", err)
	}
	if enabled, _ := readFields(filepath.Join(mount, "berth-test", "cgroup.subtree_control")); !enabled["memory"] {
		t.Errorf("memory.high did not enable memory: %v", enabled)
	}
}

// TestEnableControllersHostRoot: with hostRoot, the root's
// cgroup.subtree_control is only read: a need it does not enable is an
// error naming the field; one it enables is enabled below as usual.
func TestEnableControllersHostRoot(t *testing.T) {
	mount := fakeV2(t, "hugetlb")
	needs := []need{{"hugetlb", "Resources.HugepageLimits"}}
	err := enableControllers(mount, "berth-test", needs, false, true)
	wantErr(t, err, "Resources.HugepageLimits: cgroup2 controller hugetlb is not enabled in "+filepath.Join(mount, "cgroup.subtree_control")+", which belongs to the host")
	assertFile(t, filepath.Join(mount, "cgroup.subtree_control"), "")

	if err := os.WriteFile(filepath.Join(mount, "cgroup.subtree_control"), []byte("hugetlb"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := enableControllers(mount, "berth-test", needs, false, true); err != nil {
		t.Fatal(err)
	}
	assertFile(t, filepath.Join(mount, "cgroup.subtree_control"), "hugetlb")
	assertFile(t, filepath.Join(mount, "berth-test", "cgroup.subtree_control"), "+hugetlb")
}

// TestV1Unified: a v1-only host has no cgroup v2 files to write; refused
// before any cgroup is made.
func TestV1Unified(t *testing.T) {
	id := testID(t)
	_, err := New(Config{Version: V1, V1Root: t.TempDir(), Parent: testParent, ID: id,
		Resources: Resources{Unified: map[string]string{"memory.high": "1G"}}}, testLogger(t))
	wantErr(t, err, "Resources.Unified: cgroup v2 files, and this host has cgroup v1 only")
}

// TestHybridUnified: on a hybrid host Unified goes to the task's cgroup on
// the unified hierarchy, at New and by Update, without joining any v1
// hierarchy; a key for a controller that is on v1 is an error naming it,
// and leaves nothing behind.
func TestHybridUnified(t *testing.T) {
	requireCgroupV2(t, unifiedMount)
	id := testID(t)
	m := newTestManager(t, Config{Version: Hybrid, Parent: testParent, ID: id,
		Resources: Resources{Unified: map[string]string{"cgroup.max.descendants": "3", "cgroup.max.depth": "2"}}})
	dir := filepath.Join(unifiedMount, testParent, id)
	if got := m.Paths(); len(got) != 1 || got["unified"] != dir {
		t.Fatalf("Paths() = %v, want only unified", got)
	}
	assertFile(t, filepath.Join(dir, "cgroup.max.descendants"), "3")
	assertFile(t, filepath.Join(dir, "cgroup.max.depth"), "2")
	if err := m.Update(Resources{Unified: map[string]string{"cgroup.max.descendants": "5"}}); err != nil {
		t.Fatalf("Update: %v", err)
	}
	assertFile(t, filepath.Join(dir, "cgroup.max.descendants"), "5")
	if got := m.Paths(); len(got) != 1 {
		t.Errorf("Paths() after Update = %v, want only unified", got)
	}

	// A hybrid host's memory controller is on v1: no memory.high here.
	if controllers, _ := readFields(filepath.Join(unifiedMount, "cgroup.controllers")); !controllers["memory"] {
		refused := id + "-refused"
		_, err := New(Config{Version: Hybrid, Parent: testParent, ID: refused,
			Resources: Resources{Unified: map[string]string{"memory.high": "64M"}}}, testLogger(t))
		wantErr(t, err, "Resources.Unified[memory.high]: no such file in "+filepath.Join(unifiedMount, testParent, refused))
		if _, err := os.Stat(filepath.Join(unifiedMount, testParent, refused)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("refused New left the unified cgroup (stat: %v)", err)
		}
	}
}
