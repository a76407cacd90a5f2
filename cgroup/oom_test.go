package cgroup

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestReadOOMKills(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"memory.events":      "low 0\nhigh 0\nmax 7\noom 2\noom_kill 2\noom_group_kill 0\n",
		"memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
		"old.oom_control":    "oom_kill_disable 0\nunder_oom 0\n",
		"bad.events":         "oom_kill x\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]uint64{
		"memory.events":      2,
		"memory.oom_control": 1,
		"old.oom_control":    0, // kernel before 4.13
		"missing":            0, // no memory controller
	} {
		got, err := readOOMKills(filepath.Join(dir, name))
		if err != nil || got != want {
			t.Errorf("readOOMKills(%s) = %d, %v; want %d", name, got, err, want)
		}
	}
	_, err := readOOMKills(filepath.Join(dir, "bad.events"))
	wantErr(t, err, "parse oom_kill in "+filepath.Join(dir, "bad.events"))
}

// TestOOMKilledV1 runs a memory hog under a 16M limit and expects the
// kernel's OOM kill to show in OOMKilled.
func TestOOMKilledV1(t *testing.T) {
	requireCgroupV1(t, "freezer", "memory")
	m := newTestManager(t, Config{Version: 1, Parent: testParent, ID: testID(t), Resources: Resources{MemoryBytes: 16 << 20}})
	if oom, err := m.OOMKilled(); err != nil || oom {
		t.Fatalf("OOMKilled() before the hog = %v, %v; want false", oom, err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), memhogEnv+"=1")
	c := startChild(t, cmd)
	if err := m.Join(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	c.release(t)
	c.waitKilled(t)
	oom, err := m.OOMKilled()
	if err != nil || !oom {
		t.Fatalf("OOMKilled() = %v, %v; want true", oom, err)
	}
}
