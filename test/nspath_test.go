package test

// Joining a pid or mount namespace by path: the namespaces of a process
// made by unshare(1), as runtime-tools' linux_ns_path does.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthrun/berth/executor"
)

// unshared starts `unshare <flags> --fork sleep 1000` and returns the path
// of its child's namespace of kind (the pid namespace's child is the one
// in it), killed when the test ends.
func unshared(t *testing.T, flags ...string) (nsDir string, pid int) {
	t.Helper()
	cmd := exec.Command("unshare", append(flags, "--fork", "sleep", "1000")...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	// The forked child, once unshare made it.
	deadline := time.Now().Add(runTimeout)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
		if f := strings.Fields(string(b)); len(f) == 1 {
			var child int
			fmt.Sscan(f[0], &child)
			return fmt.Sprintf("/proc/%d/ns", child), child
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("unshare did not fork")
	return "", 0
}

// TestOCIJoinPIDAndMountNamespaces: a container joins a pid and a mount
// namespace by path; it is in both (not pid 1 of the pid namespace), and a
// path that is not a namespace of its kind is refused naming it.
func TestOCIJoinPIDAndMountNamespaces(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	ns, _ := unshared(t, "--pid", "--mount")
	bundle := ociBundle(t, tk.id, false, "/bin/sh", "-c", "readlink /proc/self/ns/pid; readlink /proc/self/ns/mnt; echo $$")
	p := filepath.Join(bundle, "config.json")
	var cfg map[string]any
	b, _ := os.ReadFile(p)
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	write := func(namespaces ...map[string]any) {
		cfgLinux(cfg)["namespaces"] = namespaces
		b, _ := json.Marshal(cfg)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(map[string]any{"type": "pid", "path": ns + "/pid"}, map[string]any{"type": "mount", "path": ns + "/mnt"},
		map[string]any{"type": "uts"}, map[string]any{"type": "ipc"}, map[string]any{"type": "network"})
	res := ociRun(t, tk.stateDir, "run", "--bundle", bundle, tk.id)
	mustSucceed(t, res)
	var want []string
	for _, k := range []string{"pid", "mnt"} {
		l, err := os.Readlink(ns + "/" + k)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, l)
	}
	got := strings.Fields(res.stdout)
	if len(got) != 3 || strings.Join(got[:2], " ") != strings.Join(want, " ") || got[2] == "1" {
		t.Errorf("the container's pid and mount namespaces and pid = %q, want %q and not pid 1", got, want)
	}

	for _, c := range []struct{ kind, path, want string }{
		{"pid", ns + "/mnt", "pid namespace path"},
		{"mount", ns + "/pid", "mount namespace path"},
		{"pid", "/etc/hostname", "not a namespace"},
	} {
		nss := []map[string]any{{"type": "mount"}, {"type": c.kind, "path": c.path}, {"type": "uts"}}
		if c.kind == "mount" {
			nss = nss[1:]
		}
		write(nss...)
		mustFail(t, ociRun(t, tk.stateDir, "run", "--bundle", bundle, tk.id), c.want)
	}
}

// TestJoinPIDNamespaceKillWithParent: a task joined to a pid namespace by
// an executor that kills its tasks with it lives on after the thread that
// started it would have been given back: that thread is held until the
// task ends, as the parent-death signal fires when it ends.
func TestJoinPIDNamespaceKillWithParent(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	ns, _ := unshared(t, "--pid")
	e := executor.New(executor.Config{StateDir: tk.stateDir, CgroupParent: cgroupParent, KillWithParent: true})
	t.Cleanup(func() { _ = e.Shutdown("", 0) })
	var out bytes.Buffer
	_, err := e.Launch(&executor.Command{
		ID: tk.id, Cmd: "/bin/sh", Args: []string{"-c", "sleep 0.3; readlink /proc/self/ns/pid"},
		Env: []string{tk.marker}, Stdout: &out,
		Isolation: executor.Isolation{PIDPath: ns + "/pid"},
	})
	if err != nil {
		t.Fatal(err)
	}
	st := waitExit(t, e)
	want, err := os.Readlink(ns + "/pid")
	if err != nil {
		t.Fatal(err)
	}
	if st.ExitCode != 0 || strings.TrimSpace(out.String()) != want {
		t.Errorf("exit %d (signal %d), output %q: want exit 0 and %q", st.ExitCode, st.Signal, out.String(), want)
	}
}
