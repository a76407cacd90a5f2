package test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/berthrun/berth/internal/testutil"
)

// assertBerthError checks a failed run: the exit status, nothing on stdout,
// and exactly one stderr line that starts with "berth: " and holds each of
// wants.
func assertBerthError(t *testing.T, res result, code int, wants ...string) {
	t.Helper()
	if res.code != code {
		t.Errorf("want exit %d:\n%s", code, res)
	}
	line := strings.TrimSuffix(res.stderr, "\n")
	// A command-line error may add one hint line pointing at --help.
	if i := strings.Index(line, "\nSee 'berth "); i >= 0 && strings.HasSuffix(line, " --help'.") {
		line = line[:i]
	}
	if line == "" || strings.Contains(line, "\n") || !strings.HasPrefix(line, "berth: ") {
		t.Errorf("want exactly one stderr line starting %q (and at most a hint to --help):\n%s", "berth: ", res)
	}
	for _, w := range wants {
		if !strings.Contains(line, w) {
			t.Errorf("error does not mention %q:\n%s", w, res)
		}
	}
	if res.stdout != "" {
		t.Errorf("want nothing on stdout:\n%s", res)
	}
}

// TestBadInput: every bad input gives a clear one-line error and the right
// exit status, and leaves no process, cgroup, mount or state behind (the
// last checked by each task's cleanup).
func TestBadInput(t *testing.T) {
	t.Parallel()
	// symlinked replaces dir in root by a symlink to a directory elsewhere.
	symlinked := func(dir string) func(t *testing.T, root string) []string {
		return func(t *testing.T, root string) []string {
			p := filepath.Join(root, dir)
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(t.TempDir(), p); err != nil {
				t.Fatal(err)
			}
			return nil
		}
	}
	cases := []struct {
		name string
		// setup prepares the rootfs and returns extra run flags.
		setup func(t *testing.T, root string) []string
		flags []string
		cmd   []string
		code  int
		wants []string
		// after checks the host once berth has exited.
		after func(t *testing.T)
	}{
		{name: "missing command path", cmd: []string{"/nosuch"}, code: 127,
			wants: []string{"no such file or directory", "/nosuch"}},
		{name: "missing command name", cmd: []string{"nosuch"}, code: 127,
			wants: []string{"not found", "nosuch"}},
		{name: "not executable", cmd: []string{"/noexec"}, code: 126,
			setup: func(t *testing.T, root string) []string {
				if err := os.WriteFile(filepath.Join(root, "noexec"), []byte("data"), 0o644); err != nil {
					t.Fatal(err)
				}
				return nil
			},
			wants: []string{"permission denied", "/noexec"}},
		{name: "command is a directory", cmd: []string{"/etc"}, code: 126,
			wants: []string{"permission denied", "/etc"}},
		{name: "rootfs missing", code: 125,
			setup: func(t *testing.T, root string) []string {
				return []string{"--rootfs", filepath.Join(root, "missing")}
			},
			wants: []string{"no such file or directory", "/missing"}},
		{name: "rootfs a file", code: 125,
			setup: func(t *testing.T, root string) []string {
				return []string{"--rootfs", filepath.Join(root, "probe")}
			},
			wants: []string{"not a directory", "/probe"}},
		{name: "proc symlink", setup: symlinked("proc"), code: 125, wants: []string{"symlink", "/proc"}},
		{name: "dev symlink", setup: symlinked("dev"), code: 125, wants: []string{"symlink", "/dev"}},
		{name: "sys symlink", setup: symlinked("sys"), code: 125, wants: []string{"symlink", "/sys"}},
		{name: "mount dest symlink out of root", code: 125,
			setup: func(t *testing.T, root string) []string {
				if err := os.Symlink("/etc", filepath.Join(root, "evil")); err != nil {
					t.Fatal(err)
				}
				return []string{"--mount", plantedDir(t) + ":/evil"}
			},
			wants: []string{"symlink", "/evil"},
			after: assertNotPlanted},
		{name: "mount dest climbs out", code: 125,
			setup: func(t *testing.T, root string) []string {
				return []string{"--mount", plantedDir(t) + ":/x/../../../etc"}
			},
			wants: []string{".."},
			after: assertNotPlanted},
		{name: "mount source missing", code: 125,
			flags: []string{"--mount", "/nonexistent-berth-test-src:/data"},
			wants: []string{"/nonexistent-berth-test-src"}},
		{name: "unknown capability", flags: []string{"--cap-add", "FOO"}, code: 125,
			wants: []string{`unknown capability "FOO"`}},
		{name: "unknown user", flags: []string{"--user", "bob"}, code: 125,
			wants: []string{"no such user", "bob"}},
		{name: "unknown group", flags: []string{"--user", "alice:nogroup"}, code: 125,
			wants: []string{"no such group", "nogroup"}},
		{name: "unknown signal", flags: []string{"--stop-signal", "FOO"}, code: 125,
			wants: []string{`unknown signal "FOO"`}},
		{name: "bad pid mode", flags: []string{"--pid", "bogus"}, code: 125, wants: []string{"--pid"}},
		{name: "bad ipc mode", flags: []string{"--ipc", "bogus"}, code: 125, wants: []string{"--ipc"}},
		{name: "bad net mode", flags: []string{"--net", "bogus"}, code: 125, wants: []string{"--net"}},
		{name: "unknown flag", flags: []string{"--no-such-flag"}, code: 125, wants: []string{"no-such-flag"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tk := newTask(t)
			root := newRootfs(t)
			flags := []string{"--rootfs", root}
			if c.setup != nil {
				if extra := c.setup(t, root); extra != nil {
					if extra[0] == "--rootfs" {
						flags = extra
					} else {
						flags = append(flags, extra...)
					}
				}
			}
			flags = append(flags, c.flags...)
			cmd := c.cmd
			if cmd == nil {
				cmd = append(rootfsProbe, "exit", "0")
			}
			res := tk.run(flags, cmd...)
			assertBerthError(t, res, c.code, c.wants...)
			testutil.AssertNoProcess(t, tk.marker)
			testutil.AssertNoCgroup(t, cgroupParent, tk.id)
			if c.after != nil {
				c.after(t)
			}
		})
	}

	t.Run("empty command", func(t *testing.T) {
		t.Parallel()
		tk := newTask(t)
		res := tk.berth("run", "--id", tk.id, "--rootfs", newRootfs(t), "--")
		assertBerthError(t, res, 125, "command")
	})
}

// plantedName is the file a bad mount would bring onto the host's /etc.
const plantedName = "berth-test-planted"

// plantedDir is a mount source holding plantedName.
func plantedDir(t *testing.T) string {
	d := t.TempDir()
	if err := os.WriteFile(filepath.Join(d, plantedName), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

// assertNotPlanted checks that nothing was mounted on the host's /etc.
func assertNotPlanted(t *testing.T) {
	t.Helper()
	if hostHas(filepath.Join("/etc", plantedName)) {
		t.Errorf("the mount source reached the host's /etc")
	}
	for _, m := range hostMountinfo(t) {
		if m.MountPoint == "/etc" || strings.HasPrefix(m.MountPoint, "/etc/") {
			t.Errorf("host has a mount at %s", m.MountPoint)
		}
	}
}

// TestDuplicateID: a second task with the id of a running one is refused,
// and the refusal touches nothing of the running task.
func TestDuplicateID(t *testing.T) {
	t.Parallel()
	first := newTask(t)
	p := first.start(nil, first.runArgs(rootfsFlags(t), append(rootfsProbe, "trap", "30")...)...)
	p.waitLine(`"ready":true`)

	second := first.sibling()
	res := second.run(rootfsFlags(t), append(rootfsProbe, "exit", "0")...)
	assertBerthError(t, res, 125, "already exists", first.id)
	testutil.AssertNoProcess(t, second.marker)

	// The first task is untouched: still running, in its cgroup, with
	// its state.
	if pids, _ := testutil.ProcessesWithMarker(first.marker); len(pids) == 0 {
		t.Errorf("the running task is gone after the duplicate was refused")
	}
	if dirs, _ := testutil.CgroupDirs(cgroupParent, first.id); len(dirs) == 0 {
		t.Errorf("the running task's cgroup is gone after the duplicate was refused")
	}
	if !hostHas(filepath.Join(first.stateDir, first.id)) {
		t.Errorf("the running task's state %s is gone after the duplicate was refused", filepath.Join(first.stateDir, first.id))
	}

	p.signal(syscall.SIGTERM)
	if res := p.wait(); res.code != 0 || !strings.Contains(res.stdout, `"signal":"`) {
		t.Errorf("first task: want exit 0 after trapping its stop signal:\n%s", res)
	}
}
