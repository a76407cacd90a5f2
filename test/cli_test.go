package test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestVersion: `berth version` prints one version line.
func TestVersion(t *testing.T) {
	t.Parallel()
	res := newTask(t).berth("version")
	if res.code != 0 || res.stderr != "" {
		t.Fatalf("want exit 0 and nothing on stderr:\n%s", res)
	}
	out := strings.TrimSuffix(res.stdout, "\n")
	if out == "" || strings.Contains(out, "\n") || !strings.ContainsAny(out, "0123456789") {
		t.Errorf("want one version line:\n%s", res)
	}
}

// finalState is what `run --json` prints on stderr.
type finalState struct {
	ID        *string `json:"id"`
	Pid       *int    `json:"pid"`
	ExitCode  *int    `json:"exit_code"`
	Signal    *int    `json:"signal"`
	OOMKilled *bool   `json:"oom_killed"`
}

// TestRunJSON: --json prints the final state as one JSON object on stderr.
func TestRunJSON(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		flags  []string
		args   []string
		code   int
		signal int
	}{
		{"exit", nil, []string{"exit", "3"}, 3, 0},
		{"killed", []string{"--pid", "host"}, []string{"kill-self", "KILL"}, 137, int(syscall.SIGKILL)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tk := newTask(t)
			res := tk.run(rootfsFlags(t, append(c.flags, "--json")...), append(rootfsProbe, c.args...)...)
			if res.code != c.code {
				t.Fatalf("want exit %d:\n%s", c.code, res)
			}
			var st finalState
			dec := json.NewDecoder(strings.NewReader(res.stderr))
			if err := dec.Decode(&st); err != nil || dec.More() {
				t.Fatalf("stderr is not one JSON object (%v):\n%s", err, res)
			}
			if st.ID == nil || st.Pid == nil || st.ExitCode == nil || st.Signal == nil || st.OOMKilled == nil {
				t.Fatalf("final state lacks one of id, pid, exit_code, signal, oom_killed:\n%s", res)
			}
			if *st.ID != tk.id || *st.Pid <= 0 || *st.ExitCode != c.code || *st.Signal != c.signal || *st.OOMKilled {
				t.Errorf("final state %s, want id %q, a pid, exit_code %d, signal %d, oom_killed false", res.stderr, tk.id, c.code, c.signal)
			}
			// The pid is the host's view of the task, never the namespace's 1.
			if *st.Pid == 1 {
				t.Errorf("final state pid 1: want the task's pid on the host")
			}
		})
	}
}

// TestStdoutStderrFiles: --stdout and --stderr send the task's streams to
// files instead of berth's own.
func TestStdoutStderrFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, errf := filepath.Join(dir, "out"), filepath.Join(dir, "err")

	tk := newTask(t)
	res := tk.run(rootfsFlags(t, "--stdout", out, "--stderr", errf), append(rootfsProbe, "read", "/etc/group")...)
	if res.code != 0 || res.stdout != "" || res.stderr != "" {
		t.Errorf("want exit 0 and nothing on berth's own streams:\n%s", res)
	}
	b, err := os.ReadFile(out)
	if err != nil || !strings.Contains(string(b), `"ok":true`) || !strings.Contains(string(b), "wheel") {
		t.Errorf("--stdout file: %q, %v; want the probe's output", b, err)
	}

	tk = newTask(t)
	res = tk.run(rootfsFlags(t, "--stdout", out, "--stderr", errf), append(rootfsProbe, "no-such-probe-command")...)
	if res.code != 2 || res.stdout != "" || res.stderr != "" {
		t.Errorf("want exit 2 (the probe's usage error) and nothing on berth's own streams:\n%s", res)
	}
	b, err = os.ReadFile(errf)
	if err != nil || !strings.Contains(string(b), `probe: unknown command "no-such-probe-command"`) {
		t.Errorf("--stderr file: %q, %v; want the probe's error", b, err)
	}
}

// TestStderrPassthrough: without --stderr the task's stderr is berth's.
func TestStderrPassthrough(t *testing.T) {
	t.Parallel()
	res := newTask(t).run(rootfsFlags(t), append(rootfsProbe, "no-such-probe-command")...)
	if res.code != 2 || res.stdout != "" || res.stderr != "probe: unknown command \"no-such-probe-command\"\n" {
		t.Errorf("want exit 2 and exactly the probe's error on stderr:\n%s", res)
	}
}

// TestLogLevel: --log-level debug is accepted and the task's own output
// still comes through unchanged on stdout.
func TestLogLevel(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	tk.global = []string{"--log-level", "debug"}
	res := tk.run(rootfsFlags(t), append(rootfsProbe, "read", "/etc/group")...)
	if res.code != 0 {
		t.Fatalf("want exit 0:\n%s", res)
	}
	var rd IOResult
	decodeOne(t, res, &rd)
	if !rd.OK {
		t.Errorf("probe read /etc/group: %+v", rd)
	}
}

// TestHelp: --help and -h print the usage with every flag and exit 0, for
// berth itself and for each verb.
func TestHelp(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	verbs := map[string][]string{
		"":        {"--state-dir", "--cgroup-parent", "--log-level", "run", "exec", "kill", "delete"},
		"run":     {"--id", "--rootfs", "--cwd", "--user", "--env", "--hostname", "--pid", "--ipc", "--net", "--mount", "--cap-add", "--cap-drop", "--memory", "--memory-swap", "--cpu-shares", "--cpus", "--cpuset", "--pids-limit", "--stop-signal", "--grace", "--stdout", "--stderr", "--json", "-d"},
		"exec":    {"ID", "CMD"},
		"kill":    {"--all", "SIGNAL"},
		"stop":    {"--signal", "--grace"},
		"update":  {"--memory", "--memory-swap", "--cpu-shares", "--cpus", "--cpuset", "--pids-limit"},
		"delete":  {"--force"},
		"list":    {"--json"},
		"ps":      {"--json"},
		"stats":   {"--json", "--watch"},
		"state":   {"ID"},
		"pause":   {"ID"},
		"resume":  {"ID"},
		"version": {"version"},
	}
	for verb, wants := range verbs {
		for _, h := range []string{"--help", "-h"} {
			args := []string{h}
			if verb != "" {
				args = []string{verb, h}
			}
			res := tk.berth(args...)
			if res.code != 0 || res.stderr != "" {
				t.Errorf("berth %v: want exit 0 and nothing on stderr:\n%s", args, res)
				continue
			}
			for _, w := range wants {
				if !strings.Contains(res.stdout, w) {
					t.Errorf("berth %v: usage does not mention %q:\n%s", args, w, res)
				}
			}
		}
	}
}

// TestUsageErrors: a bad command line is one "berth: " line naming the
// problem, a hint to --help, and exit 125; the task's own arguments after
// the command are left alone.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	cases := []struct {
		args  []string
		wants []string
		help  string
	}{
		{nil, []string{"no verb given"}, "berth --help"},
		{[]string{"frobnicate"}, []string{"unknown verb", "frobnicate"}, "berth --help"},
		{[]string{"run", "--bogus", "--", "/bin/true"}, []string{"run:", "--bogus"}, "berth run --help"},
		{[]string{"run", "--memory"}, []string{"--memory"}, "berth run --help"},
		{[]string{"run", "--pid", "shared", "--", "/bin/true"}, []string{"--pid", "private or host"}, "berth run --help"},
		{[]string{"kill"}, []string{"kill:", "no task id"}, "berth kill --help"},
		{[]string{"kill", "a", "TERM", "extra"}, []string{"unexpected argument", "extra"}, "berth kill --help"},
		{[]string{"kill", "a", "NOSIG"}, []string{"NOSIG"}, "berth kill --help"},
		{[]string{"update", "a"}, []string{"no limit given"}, "berth update --help"},
	}
	for _, c := range cases {
		res := tk.berth(c.args...)
		lines := strings.Split(strings.TrimSuffix(res.stderr, "\n"), "\n")
		if res.code != 125 || len(lines) != 2 || !strings.HasPrefix(lines[0], "berth: ") || lines[1] != "See '"+c.help+"'." {
			t.Errorf("berth %v: want exit 125, one berth: line and the hint %q:\n%s", c.args, c.help, res)
			continue
		}
		for _, w := range c.wants {
			if !strings.Contains(lines[0], w) {
				t.Errorf("berth %v: error does not mention %q:\n%s", c.args, w, res)
			}
		}
	}
	// Flags after the command belong to the task, with or without "--".
	res := tk.run(nil, "/bin/echo", "--memory", "-d", "--", "x")
	if res.code != 0 || res.stdout != "--memory -d -- x\n" {
		t.Errorf("want the task's arguments passed untouched:\n%s", res)
	}
}
