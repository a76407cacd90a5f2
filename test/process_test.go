package test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestOnlyStdioFDs: the task holds fds 0, 1 and 2 and nothing else, even
// when berth itself was started with more open (and inheritable) fds.
func TestOnlyStdioFDs(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	f1, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f1.Close()
	f2, err := os.Create(filepath.Join(t.TempDir(), "inherited"))
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()

	res := tk.start([]*os.File{f1, f2}, tk.runArgs(rootfsFlags(t), append(rootfsProbe, "report")...)...).wait()
	mustSucceed(t, res)
	var r Report
	decodeOne(t, res, &r)
	if !slices.Equal(r.FDs, []int{0, 1, 2}) {
		t.Errorf("task fds %v (%v), want exactly [0 1 2]", r.FDs, r.FDTargets)
	}
}

// TestEnv: the task gets the given variables, a PATH when none is given,
// and nothing of berth's own environment.
func TestEnv(t *testing.T) {
	t.Parallel()
	t.Run("given", func(t *testing.T) {
		t.Parallel()
		tk := newTask(t)
		r := tk.report(rootfsFlags(t, "--env", "FOO=bar baz", "--env", "EMPTY="), rootfsProbe...)
		for _, kv := range []string{"FOO=bar baz", "EMPTY=", tk.marker} {
			if !slices.Contains(r.Env, kv) {
				t.Errorf("env %q lacks %q", r.Env, kv)
			}
		}
		var paths []string
		for _, kv := range r.Env {
			if strings.HasPrefix(kv, "PATH=") {
				paths = append(paths, kv)
			}
			if strings.HasPrefix(kv, "BERTH_TEST_HOST_ONLY=") || strings.HasPrefix(kv, "TMPDIR=") {
				t.Errorf("berth's own environment leaked into the task: %q", kv)
			}
		}
		if len(paths) != 1 || paths[0] == "PATH=" {
			t.Errorf("PATH entries %q, want exactly one non-empty PATH when none is given", paths)
		}
	})
	t.Run("path given", func(t *testing.T) {
		t.Parallel()
		tk := newTask(t)
		r := tk.report(rootfsFlags(t, "--env", "PATH=/custom/bin"), rootfsProbe...)
		var paths []string
		for _, kv := range r.Env {
			if strings.HasPrefix(kv, "PATH=") {
				paths = append(paths, kv)
			}
		}
		if !slices.Equal(paths, []string{"PATH=/custom/bin"}) {
			t.Errorf("PATH entries %q, want only the given PATH=/custom/bin", paths)
		}
	})
}

// TestCwd: the task starts in --cwd, "/" by default.
func TestCwd(t *testing.T) {
	t.Parallel()
	t.Run("default", func(t *testing.T) {
		t.Parallel()
		r := newTask(t).report(rootfsFlags(t), rootfsProbe...)
		if r.Cwd != "/" {
			t.Errorf("cwd %q, want /", r.Cwd)
		}
	})
	t.Run("given", func(t *testing.T) {
		t.Parallel()
		r := newTask(t).report(rootfsFlags(t, "--cwd", "/etc"), rootfsProbe...)
		if r.Cwd != "/etc" {
			t.Errorf("cwd %q, want /etc", r.Cwd)
		}
	})
}
