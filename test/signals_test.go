package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestExitStatus: berth exits with the task's own status, and with 128+N
// when signal N killed it.
func TestExitStatus(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		flags []string
		args  []string
		want  int
	}{
		{"exit 0", nil, []string{"exit", "0"}, 0},
		{"exit 3", nil, []string{"exit", "3"}, 3},
		{"exit 124", nil, []string{"exit", "124"}, 124},
		// A pid namespace's init cannot kill itself (the kernel drops
		// signals from inside the namespace that init does not handle),
		// so these use the host's pid namespace.
		{"sigkill", []string{"--pid", "host"}, []string{"kill-self", "KILL"}, 128 + int(syscall.SIGKILL)},
		{"sigterm", []string{"--pid", "host"}, []string{"kill-self", "TERM"}, 128 + int(syscall.SIGTERM)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			res := newTask(t).run(rootfsFlags(t, c.flags...), append(rootfsProbe, c.args...)...)
			if res.code != c.want {
				t.Errorf("want exit %d:\n%s", c.want, res)
			}
			if res.stderr != "" {
				t.Errorf("berth wrote to stderr:\n%s", res)
			}
		})
	}
}

// TestSignalToBerth: SIGTERM or SIGINT to a foreground `berth run` stops the
// task with its stop signal; berth exits with the task's status.
func TestSignalToBerth(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		flags   []string
		toBerth syscall.Signal
		// saw lists what the trapping task may report having received.
		saw []string
	}{
		{"sigterm default stop signal", nil, syscall.SIGTERM, []string{"terminated", "interrupt"}},
		{"sigint default stop signal", nil, syscall.SIGINT, []string{"terminated", "interrupt"}},
		{"stop signal sigterm", []string{"--stop-signal", "SIGTERM"}, syscall.SIGTERM, []string{"terminated"}},
		{"stop signal int", []string{"--stop-signal", "INT"}, syscall.SIGTERM, []string{"interrupt"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tk := newTask(t)
			p := tk.start(nil, tk.runArgs(rootfsFlags(t, c.flags...), append(rootfsProbe, "trap", "30")...)...)
			p.waitLine(`"ready":true`)
			p.signal(c.toBerth)
			res := p.wait()
			if res.code != 0 {
				t.Errorf("want exit 0 (the task trapped the signal and exited 0):\n%s", res)
			}
			ok := false
			for _, s := range c.saw {
				if strings.Contains(res.stdout, `{"signal":"`+s+`"}`) {
					ok = true
				}
			}
			if !ok {
				t.Errorf("task did not report receiving one of %q:\n%s", c.saw, res)
			}
		})
	}
}

// TestGraceThenKill: a task that ignores its stop signal is killed once the
// grace period is over.
func TestGraceThenKill(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	p := tk.start(nil, tk.runArgs(rootfsFlags(t, "--grace", "1s"), append(rootfsProbe, "ignore-term", "100")...)...)
	p.waitLine(`"ready":true`)
	p.signal(syscall.SIGTERM)
	res := p.wait()
	if res.code != 128+int(syscall.SIGKILL) {
		t.Errorf("want exit 137 (killed after the grace):\n%s", res)
	}
}

// TestSignalsReset: a berth started with signals ignored (a shell's
// background job, nohup) hands the task default signal handling, with
// nothing blocked: an ignored signal would survive execve and the task
// could neither act on its stop signal nor trap it. Both for a foreground
// run and for the supervisor of a detached one.
func TestSignalsReset(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	tk.ignoreSignals = true
	r := tk.report(rootfsFlags(t), rootfsProbe...)
	if r.Status["SigIgn"] != "0000000000000000" || r.Status["SigBlk"] != "0000000000000000" {
		t.Errorf("task SigIgn %q SigBlk %q, want none ignored or blocked", r.Status["SigIgn"], r.Status["SigBlk"])
	}

	// A shell task that traps the stop signal: detached, then stopped.
	d := newTask(t)
	d.ignoreSignals = true
	startTrapShell(t, d, nil, `trap "exit 3" INT; while :; do sleep 0.05; done`)
	if res := d.berth("stop", d.id, "--grace", "20s"); res.code != 0 {
		t.Fatalf("stop: %s", res)
	}
	res := d.berth("state", d.id)
	mustSucceed(t, res)
	var st struct {
		ExitCode int `json:"exit_code"`
		Signal   int `json:"signal"`
	}
	decodeOne(t, res, &st)
	if st.ExitCode != 3 || st.Signal != 0 {
		t.Errorf("trapped SIGINT: exit %d signal %d, want exit 3 from the trap", st.ExitCode, st.Signal)
	}
}

// TestStopUsesTaskDefaults: `berth stop ID` without --signal and --grace
// stops a detached task with its own --stop-signal and --grace, recorded in
// its state.
func TestStopUsesTaskDefaults(t *testing.T) {
	t.Parallel()
	d := newTask(t)
	startTrapShell(t, d, []string{"--stop-signal", "SIGTERM", "--grace", "60s"}, `trap "exit 4" TERM; while :; do sleep 0.05; done`)
	if res := d.berth("stop", d.id); res.code != 0 {
		t.Fatalf("stop: %s", res)
	}
	res := d.berth("state", d.id)
	mustSucceed(t, res)
	var st struct {
		ExitCode   int    `json:"exit_code"`
		StopSignal string `json:"stop_signal"`
		StopGrace  string `json:"stop_grace"`
	}
	decodeOne(t, res, &st)
	if st.ExitCode != 4 || st.StopSignal != "SIGTERM" || st.StopGrace != "1m0s" {
		t.Errorf("stop without flags: %+v, want exit 4 from the SIGTERM trap, stop_signal SIGTERM, stop_grace 1m0s", st)
	}
}

// startTrapShell starts a detached shell task running script (which sets
// its traps), and returns once the traps are set: the script is prefixed
// with the line that tells the test so. The task is deleted at cleanup.
func startTrapShell(t *testing.T, d *task, flags []string, script string) {
	t.Helper()
	dir := t.TempDir()
	trap, loop, _ := strings.Cut(script, "; ")
	args := append([]string{"-d", "--mount", dir + ":/sig"}, flags...)
	res := d.berth(d.runArgs(args, "/bin/sh", "-c", trap+"; touch /sig/ready; "+loop)...)
	mustSucceed(t, res)
	t.Cleanup(func() { d.berth("delete", "--force", d.id) })
	waitReady(t, filepath.Join(dir, "ready"))
}

// waitReady waits for a task to create the file that says it is ready.
func waitReady(t *testing.T, file string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !hostHas(file) {
		if time.Now().After(deadline) {
			t.Fatalf("the task never created %s", file)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSupervisorSIGTERM: SIGTERM to a detached task's supervisor stops the
// task the way `berth stop` would (its stop signal, then its grace), and
// the supervisor records how it ended.
func TestSupervisorSIGTERM(t *testing.T) {
	t.Parallel()
	d := newTask(t)
	startTrapShell(t, d, []string{"--stop-signal", "SIGTERM", "--grace", "60s"}, `trap "exit 5" TERM; while :; do sleep 0.05; done`)
	var st struct {
		Status        string `json:"status"`
		ExitCode      int    `json:"exit_code"`
		SupervisorPid int    `json:"supervisor_pid"`
	}
	res := d.berth("state", d.id)
	mustSucceed(t, res)
	decodeOne(t, res, &st)
	// Once the supervisor has become the reaper and handles SIGTERM, it
	// names itself so.
	waitComm(t, st.SupervisorPid, "berth-reaper")
	if err := syscall.Kill(st.SupervisorPid, syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM to the supervisor %d: %v", st.SupervisorPid, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for st.Status != "stopped" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		res = d.berth("state", d.id)
		mustSucceed(t, res)
		decodeOne(t, res, &st)
	}
	if st.Status != "stopped" || st.ExitCode != 5 {
		t.Errorf("after SIGTERM to the supervisor: status %s exit %d, want stopped with exit 5 from the task's TERM trap", st.Status, st.ExitCode)
	}
}

// waitComm waits for process pid to take the name comm.
func waitComm(t *testing.T, pid int, comm string) {
	t.Helper()
	file := fmt.Sprintf("/proc/%d/comm", pid)
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(file)
		if err == nil && strings.TrimSpace(string(b)) == comm {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is %q (%v), want %q", file, b, err, comm)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
