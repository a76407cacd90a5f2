package test

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestOrphanedProcessesStayVisible is issue 9's hole 7 (status from the
// cgroup): a foreground berth SIGKILLed with --pid host takes the task's
// main process with it (parent-death signal), but a process the task
// started lives on in the task's cgroup. The task must not be reported as
// stopped while it runs there: state and list say running, ps lists it,
// stop ends it, delete cleans up.
func TestOrphanedProcessesStayVisible(t *testing.T) {
	tk := newTask(t)
	p := tk.start(nil, tk.runArgs([]string{"--pid", "host"},
		"/bin/sh", "-c", "sleep 1000 </dev/null >/dev/null 2>&1 & echo ready; exec sleep 1000")...)
	p.waitLine("ready")
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.waitDn

	// The main process dies of its parent-death signal a moment later.
	var st struct{ Status string }
	deadline := time.Now().Add(5 * time.Second)
	for {
		res := tk.berth("ps", tk.id, "--json")
		mustSucceed(t, res)
		var ps []struct {
			Pid  int
			Args []string `json:"args"`
			Cmd  string   `json:"cmd"`
		}
		if err := json.Unmarshal([]byte(res.stdout), &ps); err != nil {
			t.Fatalf("ps --json: %v: %s", err, res)
		}
		if len(ps) == 1 || time.Now().After(deadline) {
			if len(ps) != 1 {
				t.Fatalf("ps lists %d processes, want the one sleep left: %s", len(ps), res.stdout)
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	res := tk.berth("state", tk.id)
	mustSucceed(t, res)
	if err := json.Unmarshal([]byte(res.stdout), &st); err != nil {
		t.Fatal(err)
	}
	if st.Status != "running" {
		t.Errorf("state says %q while a process of the task runs, want running", st.Status)
	}
	res = tk.berth("list")
	if !strings.Contains(res.stdout, tk.id) || !strings.Contains(res.stdout, "running") {
		t.Errorf("list does not show the task running:\n%s", res)
	}
	// Signalling the main process cannot work; the error says what can.
	res = tk.berth("kill", tk.id, "SIGTERM")
	if res.code == 0 || !strings.Contains(res.stderr, "--all") {
		t.Errorf("kill of a task whose main process is gone: want an error pointing at --all:\n%s", res)
	}
	mustSucceed(t, tk.berth("stop", tk.id, "--grace", "0s"))
	res = tk.berth("state", tk.id)
	mustSucceed(t, res)
	if err := json.Unmarshal([]byte(res.stdout), &st); err != nil {
		t.Fatal(err)
	}
	if st.Status != "stopped" {
		t.Errorf("after stop, state says %q", st.Status)
	}
	mustSucceed(t, tk.berth("delete", tk.id))
}
