package testutil

import (
	"os"
	"os/exec"
	"slices"
	"testing"
)

func TestDiff(t *testing.T) {
	a := []string{"a", "b", "b", "d"}
	b := []string{"b", "c", "d", "e"}
	added, removed := diff(a, b)
	if !slices.Equal(added, []string{"c", "e"}) || !slices.Equal(removed, []string{"a", "b"}) {
		t.Errorf("diff = added %q removed %q, want added [c e] removed [a b]", added, removed)
	}
	if added, removed := diff(a, a); added != nil || removed != nil {
		t.Errorf("diff of equal tables = %q %q, want nothing", added, removed)
	}
}

func TestProcessesWithMarker(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skipf("needs sleep(1) on PATH: %v", err)
	}
	marker := NewMarker(t)
	c := exec.Command(sleep, "60")
	c.Env = append(os.Environ(), marker)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })

	pids, err := ProcessesWithMarker(marker)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pids, []int{c.Process.Pid}) {
		t.Errorf("ProcessesWithMarker = %v, want [%d]", pids, c.Process.Pid)
	}
	// A prefix of the marker is another marker: it must not match.
	if pids, _ := ProcessesWithMarker(marker[:len(marker)-1]); len(pids) != 0 {
		t.Errorf("prefix of the marker matched %v", pids)
	}
	if got := KillMarked(marker); !slices.Equal(got, []int{c.Process.Pid}) {
		t.Errorf("KillMarked = %v, want [%d]", got, c.Process.Pid)
	}
	_ = c.Wait()
	if pids, _ := ProcessesWithMarker(marker); len(pids) != 0 {
		t.Errorf("after kill and wait, marked processes remain: %v", pids)
	}
}

func TestHasCgroupUnknown(t *testing.T) {
	ok, err := HasCgroup("no-such-controller")
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		t.Error(`HasCgroup("no-such-controller") = true`)
	}
}

func TestStateAndEmptyDir(t *testing.T) {
	dir := t.TempDir()
	AssertNoState(t, dir, "x")
	AssertEmptyDir(t, dir)
	if err := os.Mkdir(dir+"/x", 0o700); err != nil {
		t.Fatal(err)
	}
	ft := &fakeT{TB: t}
	AssertNoState(ft, dir, "x")
	AssertEmptyDir(ft, dir)
	if ft.errors != 2 {
		t.Errorf("with %s/x present: %d errors reported, want 2", dir, ft.errors)
	}
}

// fakeT counts Errorf calls instead of failing the real test.
type fakeT struct {
	testing.TB
	errors int
}

func (f *fakeT) Errorf(string, ...any) { f.errors++ }
func (f *fakeT) Helper()               {}
