package test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/berthrun/berth/internal/testutil"
)

// TestForgedStateCannotSteerSignals: a state file whose cgroup_v2_mount
// points at a tree of the forger's making (a cgroup.procs that lists a
// host process, with that process's pid and start time as the task's)
// must not have berth kill, stop or delete signal that process.
func TestForgedStateCannotSteerSignals(t *testing.T) {
	t.Parallel()
	d, _ := startPause(t)
	victim := exec.Command("/bin/sleep", "1000")
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = victim.Process.Kill()
		_ = victim.Wait()
	})
	ps, err := testutil.ReadProcStat(victim.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	start := ps.StartTime

	fake := t.TempDir()
	group := filepath.Join(fake, cgroupParent, d.id)
	if err := os.MkdirAll(group, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"cgroup.procs":  strconv.Itoa(victim.Process.Pid) + "\n",
		"cgroup.events": "populated 1\nfrozen 0\n",
		"cgroup.freeze": "0\n",
		"cgroup.kill":   "",
	} {
		if err := os.WriteFile(filepath.Join(group, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(d.stateDir, d.id, "state.json")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	orig := b
	var st map[string]any
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	st["pid"], st["pid_start_time"], st["cgroup_v2_mount"] = victim.Process.Pid, start, fake
	if b, err = json.Marshal(st); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}

	for _, verb := range [][]string{{"kill", "KILL"}, {"kill", "--all"}, {"stop", "--grace", "0s"}} {
		res := d.verb(verb[0], verb[1:]...)
		if res.code != 125 {
			t.Errorf("%v on a forged state: want exit 125:\n%s", verb, res)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if err := victim.Process.Signal(syscall.Signal(0)); err != nil || !testutil.Running(victim.Process.Pid, start) {
		t.Fatalf("the host process named by the forged state was signalled")
	}
	// The real task is still there: put its state back and remove it.
	if err := os.WriteFile(file, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, d.verb("delete", "--force"))
}

// TestReusedIDCannotKillLiveTask: a run with the id and cgroup parent of a
// live task but another state dir finds the task's cgroup in use: it is
// refused with a clear error, and the live task runs on.
func TestReusedIDCannotKillLiveTask(t *testing.T) {
	t.Parallel()
	// The other run's task is made first: its leftover check must not see
	// the live task's own mounts come and go.
	other := newTask(t)
	d, st := startPause(t)
	other.id = d.id
	res := other.run(nil, "/bin/true")
	assertBerthError(t, res, 125, "already in use", d.id)
	if !testutil.Running(st.Pid, st.PidStartTime) {
		t.Fatalf("the live task %d was killed by a run of its id from another state dir", st.Pid)
	}
	if s := d.state(); s.Status != "running" {
		t.Errorf("the live task is %s", s.Status)
	}
	mustSucceed(t, d.verb("delete", "--force"))
}
