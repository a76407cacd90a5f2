package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"testing"
)

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

// fakeT records what a helper reported instead of failing the real test.
// Run helpers that may call Fatalf or Skipf through outcome: those end the
// goroutine, as the real ones do.
type fakeT struct {
	testing.TB
	errors int
	msgs   []string
	// ended is "fatal" or "skip" once Fatalf or Skipf was called.
	ended string
}

func (f *fakeT) Errorf(format string, args ...any) {
	f.errors++
	f.msgs = append(f.msgs, fmt.Sprintf(format, args...))
}

func (f *fakeT) Fatalf(format string, args ...any) {
	f.ended = "fatal"
	f.msgs = append(f.msgs, fmt.Sprintf(format, args...))
	runtime.Goexit()
}

func (f *fakeT) Skipf(format string, args ...any) {
	f.ended = "skip"
	f.msgs = append(f.msgs, fmt.Sprintf(format, args...))
	runtime.Goexit()
}

func (f *fakeT) Helper() {}

// outcome runs fn with a fakeT in a goroutine of its own (Fatalf and
// Skipf end it) and returns the fakeT.
func outcome(t *testing.T, fn func(testing.TB)) *fakeT {
	ft := &fakeT{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(ft)
	}()
	<-done
	return ft
}
