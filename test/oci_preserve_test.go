package test

import (
	"os"
	"path/filepath"
	"testing"
)

// ociRunFiles is ociRun with extra files as berth-oci's fds 3, 4, ...
func ociRunFiles(t *testing.T, root string, extra []*os.File, args ...string) result {
	t.Helper()
	full := append([]string{"--root", root, "--log", filepath.Join(root, "..", "oci.log"), "--log-format", "json"}, args...)
	return ociCall(t, berthOCIBin, extra, full)
}

// preserveFiles is a file to write (fd 3) and one holding "four" (fd 4).
func preserveFiles(t *testing.T) (w, r *os.File, wpath string) {
	t.Helper()
	dir := t.TempDir()
	wpath = filepath.Join(dir, "out")
	w, err := os.Create(wpath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	rpath := filepath.Join(dir, "in")
	if err := os.WriteFile(rpath, []byte("four\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r, err = os.Open(rpath); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return w, r, wpath
}

// preserveScript copies fd 4 to fd 3 and says whether the shell holds an
// fd 5 (it must not: only what was asked for is handed over).
const preserveScript = `cat <&4 >&3; readlink /proc/$$/fd/5 >/dev/null 2>&1 && echo LEAKED-FD5 >&3; true`

// TestOCIPreserveFDs: `create --preserve-fds N` (through run, held at the
// start gate and started) and `exec --preserve-fds N` hand berth-oci's fds
// 3 to 3+N-1 to the process as its own 3, 4, ..., and nothing else.
func TestOCIPreserveFDs(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	w, r, out := preserveFiles(t)
	b := atkBundle(t, tk, nil, "/bin/sh", "-c", preserveScript)
	mustSucceed(t, ociRunFiles(t, tk.stateDir, []*os.File{w, r}, "run", "--preserve-fds", "2", "--bundle", b, tk.id))
	if got, _ := os.ReadFile(out); string(got) != "four\n" {
		t.Errorf("container with --preserve-fds 2 wrote %q to its fd 3, want %q", got, "four\n")
	}

	tk2 := newTask(t)
	w2, r2, out2 := preserveFiles(t)
	b2 := atkBundle(t, tk2, nil, "/bin/sleep", "100")
	mustSucceed(t, ociRun(t, tk2.stateDir, "create", "--bundle", b2, tk2.id))
	defer ociRun(t, tk2.stateDir, "delete", "--force", tk2.id)
	mustSucceed(t, ociRun(t, tk2.stateDir, "start", tk2.id))
	mustSucceed(t, ociRunFiles(t, tk2.stateDir, []*os.File{w2, r2}, "exec", "--preserve-fds", "2", tk2.id, "/bin/sh", "-c", preserveScript))
	if got, _ := os.ReadFile(out2); string(got) != "four\n" {
		t.Errorf("exec with --preserve-fds 2 wrote %q to its fd 3, want %q", got, "four\n")
	}
	// Fds that are not open are named, and nothing is made.
	res := ociRun(t, tk2.stateDir, "exec", "--preserve-fds", "2", tk2.id, "/bin/true")
	mustFail(t, res, "--preserve-fds 2: fd 3 is not open")
	tk3 := newTask(t)
	mustFail(t, ociRun(t, tk3.stateDir, "create", "--preserve-fds", "-1", "--bundle", b, tk3.id), "--preserve-fds -1: want 0 to 1024")
	mustSucceed(t, ociRun(t, tk2.stateDir, "delete", "--force", tk2.id))
}
