package test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEmptyGlobalFlags: an empty --state-dir or --cgroup-parent, as a
// script's unset variable gives, is refused rather than taken for the
// shared defaults (/run/berth, berth), where it would act on every task.
func TestEmptyGlobalFlags(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	for _, flag := range []string{"--state-dir", "--cgroup-parent", "--log-level"} {
		res := tk.berth(flag, "", "list")
		lines := strings.Split(strings.TrimSpace(res.stderr), "\n")
		if res.code != 125 || !strings.HasPrefix(lines[0], "berth: "+flag+": must not be empty") {
			t.Errorf("%s '': want exit 125 naming the flag:\n%s", flag, res)
		}
	}
}

// TestStopGraceZeroRecorded: run -d --grace 0s is recorded as 0s, so a
// later stop kills at once instead of waiting the default 10s.
func TestStopGraceZeroRecorded(t *testing.T) {
	t.Parallel()
	d := newDetached(t)
	d.detach(append(probeMount(), "--grace", "0s"), append(hostProbe, "pause")...)
	b, err := os.ReadFile(filepath.Join(d.stateDir, d.id, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		StopGrace *string `json:"stop_grace"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	if st.StopGrace == nil || *st.StopGrace != "0s" {
		t.Errorf("stop_grace %v, want \"0s\":\n%s", st.StopGrace, b)
	}
	mustSucceed(t, d.verb("stop"))
	mustSucceed(t, d.verb("delete"))
}

// TestListCreating: a task whose launch has made its directory but not
// yet its state is listed as creating, not as unknown.
func TestListCreating(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	dir := filepath.Join(tk.stateDir, tk.id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	res := tk.berth("list", "--json")
	mustSucceed(t, res)
	var all []struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &all); err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].ID != tk.id || all[0].Status != "creating" {
		t.Errorf("list: %s, want %s creating", res.stdout, tk.id)
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
}

// TestRefusedRunLeavesNothing: a run refused for a bad flag creates no
// --stdout or --stderr file, and a --rootfs that is not a root file system
// (the host's /dev, say: here a directory with one file) gets no proc,
// dev or sys made in it.
func TestRefusedRunLeavesNothing(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	out := filepath.Join(t.TempDir(), "out")
	notRoot := t.TempDir()
	if err := os.WriteFile(filepath.Join(notRoot, "null"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--stdout", out, "--stderr", out + ".err", "--cap-add", "NOPE"}, "NOPE"},
		{[]string{"-d", "--stdout", out, "--cwd", "relative"}, "relative"},
		{[]string{"--rootfs", notRoot}, "not a root file system"},
	} {
		res := tk.run(c.flags, "/bin/true")
		if res.code != 125 || !strings.Contains(res.stderr, c.want) {
			t.Errorf("%v: want exit 125 naming %q:\n%s", c.flags, c.want, res)
		}
	}
	for _, f := range []string{out, out + ".err"} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s exists after the refused runs", f)
		}
	}
	if ents, _ := os.ReadDir(notRoot); len(ents) != 1 {
		t.Errorf("the refused --rootfs now holds %v", ents)
	}
}
