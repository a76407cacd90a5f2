package test

import (
	"strings"
	"syscall"
	"testing"
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
