package test

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthrun/berth/executor"
	"golang.org/x/sys/unix"
)

// TestKillWithParentSurvivesExecThreads: the parent-death signal fires when
// the thread that forked a task exits, not the process. An exec runs on a
// thread the runtime ends afterwards; a task launched from that thread
// earlier was SIGKILLed with it (the soak found 1-2 of 20 tasks killed by
// 20 execs). Tasks are now forked on a thread that never ends.
func TestKillWithParentSurvivesExecThreads(t *testing.T) {
	t.Parallel()
	const n = 12
	var execs []*executor.Executor
	for i := 0; i < n; i++ {
		tk := newTask(t)
		e := executor.New(executor.Config{StateDir: tk.stateDir, CgroupParent: cgroupParent, KillWithParent: true})
		t.Cleanup(func() { _ = e.Shutdown("", 0) })
		if _, err := e.Launch(probeCommand(tk, "pause")); err != nil {
			t.Fatalf("Launch %d: %v", i, err)
		}
		execs = append(execs, e)
		// Execs on throwaway threads between the launches, so that later
		// launches may be forked on threads an exec ends.
		var wg sync.WaitGroup
		for _, x := range execs {
			wg.Go(func() {
				if _, code, err := x.Exec(time.Now().Add(runTimeout), "/bin/true", nil); err != nil || code != 0 {
					t.Errorf("exec: %d %v", code, err)
				}
			})
		}
		wg.Wait()
	}
	for i, e := range execs {
		if _, code, err := e.Exec(time.Now().Add(runTimeout), "/bin/true", nil); err != nil || code != 0 {
			t.Errorf("task %d after the execs: exec %d %v (killed with an exec's thread?)", i, code, err)
		}
	}
}

// TestStoreHoldsNoFDs: every Store call that opens a task's cgroup closes
// it (Get leaked one fd per call, so a scheduler polling its tasks ran out
// of fds: found by the soak).
func TestStoreHoldsNoFDs(t *testing.T) {
	t.Parallel()
	d := newDetached(t)
	d.detach(nil, "/bin/sleep", "1000")
	d.waitStatus("running")
	store := executor.NewStore(d.stateDir, cgroupParent, nil)
	for range 20 {
		if _, err := store.Get(d.id); err != nil {
			t.Fatal(err)
		}
		if _, err := store.Pids(d.id); err != nil {
			t.Fatal(err)
		}
		if err := store.Kill(d.id, unix.SIGCONT, true); err != nil {
			t.Fatal(err)
		}
		if err := store.Pause(d.id); err != nil {
			t.Fatal(err)
		}
		if err := store.Resume(d.id); err != nil {
			t.Fatal(err)
		}
	}
	if held := fdsNaming(t, d.id); len(held) > 0 {
		t.Errorf("the test process holds %d fds of the task's cgroup after the Store calls, such as %v", len(held), held[:min(3, len(held))])
	}
	if err := store.Stop(d.id, "SIGKILL", 0); err != nil {
		t.Fatal(err)
	}
	if err := store.Delete(d.id, false); err != nil {
		t.Fatal(err)
	}
	if held := fdsNaming(t, d.id); len(held) > 0 {
		t.Errorf("after stop and delete, %d fds such as %v", len(held), held[:min(3, len(held))])
	}
}

// fdsNaming lists this process's fds whose target names s.
func fdsNaming(t *testing.T, s string) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err == nil && strings.Contains(target, s) {
			out = append(out, strconv.Quote(e.Name()+" -> "+target))
		}
	}
	return out
}
