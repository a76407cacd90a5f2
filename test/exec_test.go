package test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berthrun/berth/internal/testutil"
)

// ProbeIDs is what `probe ids` prints.
type ProbeIDs struct {
	Pid            int               `json:"pid"`
	Ppid           int               `json:"ppid"`
	Sid            int               `json:"sid"`
	Pgid           int               `json:"pgid"`
	TTYNr          int               `json:"tty_nr"`
	UID            int               `json:"uid"`
	GID            int               `json:"gid"`
	EUID           int               `json:"euid"`
	EGID           int               `json:"egid"`
	Groups         []int             `json:"groups"`
	Status         map[string]string `json:"status"`
	Namespaces     map[string]string `json:"namespaces"`
	Cgroup         []string          `json:"cgroup"`
	Cwd            string            `json:"cwd"`
	CwdLink        string            `json:"cwd_link"`
	CwdInRoot      bool              `json:"cwd_in_root"`
	Env            []string          `json:"env"`
	SessionKeyring int               `json:"session_keyring"`
	Exe            string            `json:"exe"`
	FDTargets      map[string]string `json:"fd_targets"`
	Errors         []string          `json:"errors"`
}

// unifiedCgroup is the path on the "0::" line of /proc/PID/cgroup lines.
func unifiedCgroup(lines []string) string {
	for _, l := range lines {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			return p
		}
	}
	return ""
}

// hostView is what the host's /proc says of a task process.
type hostView struct {
	uid, gid   string // real ids
	groups     []int
	capEff     string
	noNewPrivs string
	ns         map[string]string
	cgroup     string // on the unified hierarchy
}

func viewFromHost(t *testing.T, pid int) hostView {
	t.Helper()
	v := hostView{ns: map[string]string{}}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("task process %d: %v", pid, err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		k, val, _ := strings.Cut(l, ":")
		f := strings.Fields(val)
		switch k {
		case "Uid":
			v.uid = f[0]
		case "Gid":
			v.gid = f[0]
		case "Groups":
			for _, g := range f {
				n, _ := strconv.Atoi(g)
				v.groups = append(v.groups, n)
			}
		case "CapEff":
			v.capEff = f[0]
		case "NoNewPrivs":
			v.noNewPrivs = f[0]
		}
	}
	for _, n := range []string{"mnt", "pid", "ipc", "uts", "net", "cgroup", "user"} {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, n))
		if err != nil {
			t.Fatal(err)
		}
		v.ns[n] = l
	}
	b, err = os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	v.cgroup = unifiedCgroup(strings.Split(strings.TrimSpace(string(b)), "\n"))
	return v
}

// runBerth runs berth with the task's global flags and args, stdin read
// from stdin (nil: /dev/null). Unlike task.berth it never fails t, so
// goroutines may call it: a berth still running after runTimeout is killed
// and the result says so (exit -1).
func (tk *task) runBerth(stdin io.Reader, args ...string) result {
	full := append([]string{"--state-dir", tk.stateDir}, tk.global...)
	full = append(full, args...)
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	c := exec.CommandContext(ctx, berthBin, full...)
	var stdout, stderr bytes.Buffer
	c.Stdin, c.Stdout, c.Stderr = stdin, &stdout, &stderr
	c.Env = append(os.Environ(), "TMPDIR="+tk.tmpDir, "BERTH_TEST_HOST_ONLY=1")
	// A task process left holding berth's stdout must not hang the test.
	c.WaitDelay = 10 * time.Second
	err := c.Run()
	res := result{args: full, code: -1, stdout: stdout.String(), stderr: stderr.String()}
	if c.ProcessState != nil {
		res.code = c.ProcessState.ExitCode()
	}
	switch {
	case ctx.Err() != nil:
		res.stderr += fmt.Sprintf("[test: berth killed after %v]", runTimeout)
	case errors.Is(err, exec.ErrWaitDelay):
		res.stderr += "[test: berth's stdout or stderr still held open 10s after it exited]"
	case c.ProcessState == nil && err != nil:
		res.stderr += "[test: " + err.Error() + "]"
	}
	return res
}

// execArgs is `exec FLAGS... ID -- CMD...`.
func execArgs(id string, flags []string, cmd ...string) []string {
	args := append([]string{"exec"}, flags...)
	args = append(args, id, "--")
	return append(args, cmd...)
}

// exec runs `berth exec FLAGS... ID -- CMD...` into the task.
func (d *dtask) exec(flags []string, cmd ...string) result {
	d.t.Helper()
	return d.berth(execArgs(d.id, flags, cmd...)...)
}

// execIDs runs `probe ids` in the task through exec (PROBE is the probe's
// path in the task) and returns what it saw.
func (d *dtask) execIDs(flags []string, probe string) ProbeIDs {
	t := d.t
	t.Helper()
	res := d.exec(flags, probe, "ids")
	mustSucceed(t, res)
	var ids ProbeIDs
	decodeOne(t, res, &ids)
	if len(ids.Errors) > 0 {
		t.Errorf("probe ids could not read everything: %q", ids.Errors)
	}
	return ids
}

// startPause starts a detached probe `pause` on the default task dir with
// the probe at /probe/probe, and returns it once ready with its state.
func startPause(t *testing.T, flags ...string) (*dtask, *taskState) {
	t.Helper()
	d := newDetached(t)
	d.detach(append(probeMount(), flags...), append(hostProbe, "pause")...)
	d.waitOut(`"ready":true`)
	return d, d.state()
}

// startPauseRootfs starts a detached probe `pause` in root (the probe at
// /probe).
func startPauseRootfs(t *testing.T, root string, flags ...string) (*dtask, *taskState) {
	t.Helper()
	d := newDetached(t)
	d.detach(append([]string{"--rootfs", root}, flags...), append(rootfsProbe, "pause")...)
	d.waitOut(`"ready":true`)
	return d, d.state()
}

// assertOnlyMain checks that of the task's processes only its main one is
// alive: nothing an exec started is left. A process killed just before
// may still be on its way out, so this waits a little for it.
func (d *dtask) assertOnlyMain(st *taskState, after string) {
	t := d.t
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	var pids []int
	for {
		pids = d.markedPids()
		if slices.Equal(pids, []int{st.Pid}) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !slices.Equal(pids, []int{st.Pid}) {
		t.Errorf("%s: the task's processes are %s, want only its main process %d", after, testutil.Describe(pids), st.Pid)
	}
	if !testutil.Running(st.Pid, st.PidStartTime) {
		t.Errorf("%s: the task's main process %d is gone", after, st.Pid)
	}
}

// assertNoExecCgroups checks that no cgroup is left below the task's own
// (an exec's leaf goes with the exec).
func assertNoExecCgroups(t *testing.T, st *taskState, after string) {
	t.Helper()
	for ctrl, dir := range st.Cgroup {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Errorf("%s: read the task's %s cgroup: %v", after, ctrl, err)
			continue
		}
		for _, e := range ents {
			if e.IsDir() {
				t.Errorf("%s: cgroup %s left below the task's %s cgroup", after, filepath.Join(dir, e.Name()), ctrl)
			}
		}
	}
}

// hasEnv reports whether env holds kv as a whole entry.
func hasEnv(env []string, kv string) bool { return slices.Contains(env, kv) }

// TestExecJoinsTask: an exec'd process is inside the task: the task's mount,
// pid, ipc and uts namespaces, its cgroup (or a leaf below it), its
// capabilities, ids and no_new_privs, its root (a file the task wrote in
// its /tmp, no host file); in a session and process group of its own,
// with no controlling terminal, fds 0-2 only and default signals.
func TestExecJoinsTask(t *testing.T) {
	t.Parallel()
	d := newDetached(t)
	d.detach(probeMount(), "/bin/sh", "-c", "echo written-inside > /tmp/seen && exec /probe/probe pause")
	d.waitOut(`"ready":true`)
	st := d.state()
	main := viewFromHost(t, st.Pid)

	ids := d.execIDs(nil, "/probe/probe")
	for _, n := range []string{"mnt", "pid", "ipc", "uts", "net"} {
		if ids.Namespaces[n] != main.ns[n] {
			t.Errorf("exec'd process is in %s, the task's main process in %s", ids.Namespaces[n], main.ns[n])
		}
	}
	cg := unifiedCgroup(ids.Cgroup)
	if !strings.HasSuffix(main.cgroup, "/"+cgroupParent+"/"+d.id) {
		t.Errorf("the task's main process is in cgroup %q, want .../%s/%s", main.cgroup, cgroupParent, d.id)
	}
	if cg != main.cgroup && !strings.HasPrefix(cg, main.cgroup+"/") {
		t.Errorf("exec'd process is in cgroup %q (%q), want the task's %q or a cgroup below it", cg, ids.Cgroup, main.cgroup)
	}
	if ids.Status["CapEff"] != main.capEff || ids.Status["NoNewPrivs"] != main.noNewPrivs {
		t.Errorf("exec'd process CapEff %s NoNewPrivs %s, the task's %s %s", ids.Status["CapEff"], ids.Status["NoNewPrivs"], main.capEff, main.noNewPrivs)
	}
	if strconv.Itoa(ids.UID) != main.uid || strconv.Itoa(ids.GID) != main.gid || ids.EUID != ids.UID || ids.EGID != ids.GID {
		t.Errorf("exec'd process uid %d euid %d gid %d egid %d, the task's uid %s gid %s", ids.UID, ids.EUID, ids.GID, ids.EGID, main.uid, main.gid)
	}
	if ids.Pid <= 1 {
		t.Errorf("exec'd process has pid %d in the task's pid namespace", ids.Pid)
	}
	if ids.Sid != ids.Pid || ids.Pgid != ids.Pid || ids.TTYNr != 0 {
		t.Errorf("exec'd process %d: session %d, process group %d, tty %d; want a session and group of its own and no terminal", ids.Pid, ids.Sid, ids.Pgid, ids.TTYNr)
	}
	if fds := slices.Sorted(maps.Keys(ids.FDTargets)); !slices.Equal(fds, []string{"0", "1", "2"}) {
		t.Errorf("exec'd process has fds %v, want 0, 1, 2 only", ids.FDTargets)
	}
	if ids.Status["SigIgn"] != "0000000000000000" || ids.Status["SigBlk"] != "0000000000000000" {
		t.Errorf("exec'd process SigIgn %s SigBlk %s, want nothing ignored or blocked", ids.Status["SigIgn"], ids.Status["SigBlk"])
	}
	if ids.Exe != "/probe/probe" {
		t.Errorf("exec'd process runs %q, want /probe/probe", ids.Exe)
	}
	// A berth exec started with signals ignored (a shell's background
	// job, nohup) does not pass the ignore on.
	d.ignoreSignals = true
	if bg := d.execIDs(nil, "/probe/probe"); bg.Status["SigIgn"] != "0000000000000000" || bg.Status["SigBlk"] != "0000000000000000" {
		t.Errorf("exec'd process of a berth with SIGINT, SIGHUP, SIGQUIT ignored: SigIgn %s SigBlk %s, want nothing ignored or blocked", bg.Status["SigIgn"], bg.Status["SigBlk"])
	}
	d.ignoreSignals = false

	// The task's root, not the host's.
	res := d.exec(nil, "/probe/probe", "read", "/tmp/seen")
	mustSucceed(t, res)
	var rd IOResult
	decodeOne(t, res, &rd)
	if !rd.OK || rd.Content != "written-inside\n" {
		t.Errorf("exec'd process reads /tmp/seen as %+v, want what the task wrote there", rd)
	}
	hostOnly := filepath.Join(t.TempDir(), "host-only")
	if err := os.WriteFile(hostOnly, []byte("host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res = d.exec(nil, "/probe/probe", "stat", hostOnly)
	mustSucceed(t, res)
	var sr StatResult
	decodeOne(t, res, &sr)
	if sr.Exists {
		t.Errorf("exec'd process sees the host's %s: %+v", hostOnly, sr)
	}
	d.assertOnlyMain(st, "after the execs")
	assertNoExecCgroups(t, st, "after the execs")
}

// TestExecJoinsPrivateNetAndUTS: an exec into a task with its own network
// namespace (--net none) and hostname is in them too.
func TestExecJoinsPrivateNetAndUTS(t *testing.T) {
	t.Parallel()
	d, st := startPause(t, "--net", "none", "--hostname", "exec-inside")
	main := viewFromHost(t, st.Pid)
	ids := d.execIDs(nil, "/probe/probe")
	for _, n := range []string{"net", "uts", "mnt", "pid"} {
		if ids.Namespaces[n] != main.ns[n] {
			t.Errorf("exec'd process is in %s, the task's main process in %s", ids.Namespaces[n], main.ns[n])
		}
	}
	if host := hostNS(t); ids.Namespaces["net"] == host["net"] {
		t.Errorf("exec'd process is in the host's network namespace %s", host["net"])
	}
	res := d.exec(nil, "/bin/cat", "/proc/sys/kernel/hostname")
	if res.code != 0 || res.stdout != "exec-inside\n" {
		t.Errorf("exec'd process's hostname, want exec-inside:\n%s", res)
	}
}

// TestExecUserEnvCwd: an exec runs as the task's user with its environment
// and working directory; --user, --env and --cwd override them, and a user
// name is resolved in the task's root.
func TestExecUserEnvCwd(t *testing.T) {
	t.Parallel()
	t.Run("default task dir", func(t *testing.T) {
		t.Parallel()
		d, st := startPause(t, "--user", "1000", "--env", "FOO=bar", "--env", "KEEP=1", "--cwd", "/tmp")
		main := viewFromHost(t, st.Pid)

		ids := d.execIDs(nil, "/probe/probe")
		if ids.UID != 1000 || ids.EUID != 1000 || strconv.Itoa(ids.GID) != main.gid || !slices.Equal(ids.Groups, main.groups) {
			t.Errorf("exec'd process uid %d euid %d gid %d groups %v; the task's uid 1000 gid %s groups %v", ids.UID, ids.EUID, ids.GID, ids.Groups, main.gid, main.groups)
		}
		if ids.Status["CapEff"] != main.capEff {
			t.Errorf("exec'd process CapEff %s, the task's %s", ids.Status["CapEff"], main.capEff)
		}
		for _, kv := range []string{"FOO=bar", "KEEP=1", d.marker} {
			if !hasEnv(ids.Env, kv) {
				t.Errorf("exec'd process env %q lacks the task's %s", ids.Env, kv)
			}
		}
		// Exactly the task's environment: nothing of berth's own.
		environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", st.Pid))
		if err != nil {
			t.Fatal(err)
		}
		mainEnv := strings.Split(strings.TrimSuffix(string(environ), "\x00"), "\x00")
		if got := slices.Sorted(slices.Values(ids.Env)); !slices.Equal(got, slices.Sorted(slices.Values(mainEnv))) {
			t.Errorf("exec'd process env %q, want the task's main process's %q", ids.Env, mainEnv)
		}
		if ids.Cwd != "/tmp" {
			t.Errorf("exec'd process cwd %q, want the task's /tmp", ids.Cwd)
		}

		ids = d.execIDs([]string{"--user", "0:0", "--env", "FOO=baz", "--env", "NEW=1", "--cwd", "/"}, "/probe/probe")
		if ids.UID != 0 || ids.GID != 0 {
			t.Errorf("exec --user 0:0: uid %d gid %d", ids.UID, ids.GID)
		}
		if !hasEnv(ids.Env, "FOO=baz") || hasEnv(ids.Env, "FOO=bar") || !hasEnv(ids.Env, "NEW=1") || !hasEnv(ids.Env, "KEEP=1") {
			t.Errorf("exec --env FOO=baz --env NEW=1: env %q, want FOO=baz (not bar), NEW=1 and the task's KEEP=1", ids.Env)
		}
		if ids.Cwd != "/" {
			t.Errorf("exec --cwd /: cwd %q", ids.Cwd)
		}
	})
	t.Run("rootfs user names", func(t *testing.T) {
		t.Parallel()
		d, st := startPauseRootfs(t, newRootfs(t), "--user", "alice")
		main := viewFromHost(t, st.Pid)
		ids := d.execIDs(nil, "/probe")
		if ids.UID != 1000 || ids.GID != 1000 || !slices.Equal(ids.Groups, main.groups) {
			t.Errorf("exec'd process uid %d gid %d groups %v, want the task's alice 1000:1000 groups %v", ids.UID, ids.GID, ids.Groups, main.groups)
		}
		if !slices.Contains(ids.Groups, 10) || !slices.Contains(ids.Groups, 50) {
			t.Errorf("exec'd process groups %v, want alice's wheel (10) and staff (50) from the task's /etc/group", ids.Groups)
		}
		ids = d.execIDs([]string{"--user", "nobody"}, "/probe")
		if ids.UID != 65534 || ids.GID != 65534 {
			t.Errorf("exec --user nobody: uid %d gid %d, want 65534 from the task's /etc/passwd", ids.UID, ids.GID)
		}
		ids = d.execIDs([]string{"--user", "alice:wheel"}, "/probe")
		if ids.UID != 1000 || ids.GID != 10 {
			t.Errorf("exec --user alice:wheel: uid %d gid %d, want 1000:10", ids.UID, ids.GID)
		}
		res := d.exec([]string{"--user", "bob"}, "/probe", "ids")
		assertBerthError(t, res, 125, "bob")
	})
}

// TestExecExitStatus: exec exits with the command's status, 128+N for a
// signal, 126 for a file that cannot be executed and 127 for one that is
// not there, each failure on one stderr line naming the path.
func TestExecExitStatus(t *testing.T) {
	t.Parallel()
	root := newRootfs(t)
	if err := os.WriteFile(filepath.Join(root, "noexec"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, st := startPauseRootfs(t, root)
	for _, c := range []struct {
		cmd  []string
		code int
	}{
		{[]string{"/probe", "exit", "0"}, 0},
		{[]string{"/probe", "exit", "3"}, 3},
		{[]string{"/probe", "kill-self", "TERM"}, 128 + int(syscall.SIGTERM)},
		{[]string{"/probe", "kill-self", "KILL"}, 128 + int(syscall.SIGKILL)},
	} {
		res := d.exec(nil, c.cmd...)
		if res.code != c.code || res.stderr != "" {
			t.Errorf("want exit %d and nothing on stderr:\n%s", c.code, res)
		}
	}
	assertBerthError(t, d.exec(nil, "/noexec"), 126, "/noexec")
	assertBerthError(t, d.exec(nil, "/etc"), 126, "/etc")
	assertBerthError(t, d.exec(nil, "/nosuch"), 127, "/nosuch")
	assertBerthError(t, d.exec(nil, "nosuch"), 127, "nosuch")
	d.assertOnlyMain(st, "after the execs")
}

// TestExecTimeout: past --timeout exec fails (125) within a bound, saying
// the deadline passed and the command's processes were killed; none of them
// is left, also a background child that held stdout open, while the task
// runs on.
func TestExecTimeout(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		cmd  []string
	}{
		{"shell and background child", []string{"/bin/sh", "-c", "sleep 1000 & sleep 1000"}},
		{"probe and background probe", []string{"/bin/sh", "-c", "/probe/probe sleep 1000 & exec /probe/probe sleep 1000"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d, st := startPause(t)
			start := time.Now()
			res := d.exec([]string{"--timeout", "1s"}, c.cmd...)
			took := time.Since(start)
			if res.code != 125 {
				t.Errorf("want exit 125 past the deadline:\n%s", res)
			}
			line := strings.TrimSuffix(res.stderr, "\n")
			if !strings.HasPrefix(line, "berth: ") || strings.Contains(line, "\n") ||
				!strings.Contains(strings.ToLower(line), "deadline") || !strings.Contains(strings.ToLower(line), "killed") {
				t.Errorf("want one stderr line saying the deadline passed and the processes were killed:\n%s", res)
			}
			if took < time.Second || took > 15*time.Second {
				t.Errorf("exec --timeout 1s returned after %v", took)
			}
			d.assertOnlyMain(st, "after the timed-out exec")
			assertNoExecCgroups(t, st, "after the timed-out exec")
			if s := d.state(); s.Status != "running" {
				t.Errorf("after the timed-out exec: %s", s)
			}
			// The task still takes execs.
			if res := d.exec(nil, "/bin/echo", "still"); res.code != 0 || res.stdout != "still\n" {
				t.Errorf("exec after the timeout:\n%s", res)
			}
		})
	}
}

// TestExecStdin: exec's stdin reaches the command (`echo hi | berth exec
// ID -- cat`), a large input intact.
func TestExecStdin(t *testing.T) {
	t.Parallel()
	d, st := startPause(t)
	res := d.runBerth(strings.NewReader("hi\n"), execArgs(d.id, nil, "/bin/cat")...)
	if res.code != 0 || res.stdout != "hi\n" || res.stderr != "" {
		t.Errorf("echo hi | berth exec ID -- cat, want hi:\n%s", res)
	}
	b := make([]byte, 256<<10)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	in := hex.EncodeToString(b)
	res = d.runBerth(strings.NewReader(in), execArgs(d.id, nil, "/bin/cat")...)
	if res.code != 0 || res.stdout != in {
		t.Errorf("512 KiB through exec's cat: exit %d, %d bytes back (equal %v), stderr %q", res.code, len(res.stdout), res.stdout == in, res.stderr)
	}
	d.assertOnlyMain(st, "after the execs")
}

// TestExecRefused: exec into an unknown id, a stopped task or a paused one
// fails with 125 naming the task, and leaves the task as it was.
func TestExecRefused(t *testing.T) {
	t.Parallel()
	t.Run("unknown id", func(t *testing.T) {
		t.Parallel()
		tk := newTask(t)
		assertBerthError(t, tk.berth(execArgs(tk.id, nil, "/bin/true")...), 125, tk.id)
	})
	t.Run("stopped", func(t *testing.T) {
		t.Parallel()
		d := newDetached(t)
		d.detach(probeMount(), append(hostProbe, "exit", "0")...)
		d.waitStatus("stopped")
		assertBerthError(t, d.exec(nil, "/bin/true"), 125, d.id)
		if st := d.state(); st.Status != "stopped" || st.ExitCode != 0 {
			t.Errorf("after a refused exec: %s", st)
		}
	})
	t.Run("paused", func(t *testing.T) {
		t.Parallel()
		d, st := startPause(t)
		mustSucceed(t, d.verb("pause"))
		assertBerthError(t, d.exec(nil, "/bin/true"), 125, d.id)
		if s := d.state(); s.Status != "paused" {
			t.Errorf("after a refused exec: %s", s)
		}
		mustSucceed(t, d.verb("resume"))
		if res := d.exec(nil, "/bin/echo", "resumed"); res.code != 0 || res.stdout != "resumed\n" {
			t.Errorf("exec after resume:\n%s", res)
		}
		d.assertOnlyMain(st, "after the execs")
	})
}

// TestExecConcurrent: 50 execs at once into one task all complete with
// their own output, and leave neither processes nor cgroups behind.
func TestExecConcurrent(t *testing.T) {
	t.Parallel()
	d, st := startPause(t)
	const n = 50
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i] = d.runBerth(nil, execArgs(d.id, nil, "/bin/echo", "exec-"+strconv.Itoa(i))...)
		})
	}
	wg.Wait()
	for i, res := range results {
		if want := "exec-" + strconv.Itoa(i) + "\n"; res.code != 0 || res.stdout != want || res.stderr != "" {
			t.Errorf("exec %d of %d, want exit 0 and %q:\n%s", i, n, want, res)
		}
	}
	d.assertOnlyMain(st, "after the concurrent execs")
	assertNoExecCgroups(t, st, "after the concurrent execs")
}

// TestExecAfterSupervisorKilled: exec does not depend on the detached
// task's supervisor: it still works after the supervisor was SIGKILLed.
func TestExecAfterSupervisorKilled(t *testing.T) {
	t.Parallel()
	d, st := startPause(t)
	if !testutil.Running(st.SupervisorPid, st.SupervisorStartTime) {
		t.Fatalf("supervisor %d is not running: %s", st.SupervisorPid, st)
	}
	if err := syscall.Kill(st.SupervisorPid, syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL the supervisor %d: %v", st.SupervisorPid, err)
	}
	if !testutil.WaitExited(st.SupervisorPid, st.SupervisorStartTime, runTimeout) {
		t.Fatalf("supervisor %d still runs after SIGKILL", st.SupervisorPid)
	}
	if !testutil.Running(st.Pid, st.PidStartTime) {
		t.Fatalf("the task's main process %d died with its supervisor", st.Pid)
	}
	res := d.exec(nil, "/bin/echo", "no-supervisor")
	if res.code != 0 || res.stdout != "no-supervisor\n" || res.stderr != "" {
		t.Errorf("exec after the supervisor was killed:\n%s", res)
	}
	ids := d.execIDs(nil, "/probe/probe")
	if main := viewFromHost(t, st.Pid); ids.Namespaces["mnt"] != main.ns["mnt"] {
		t.Errorf("exec'd process is in %s, the task in %s", ids.Namespaces["mnt"], main.ns["mnt"])
	}
	d.assertOnlyMain(st, "after the execs")
}

// TestExecHelp: `berth exec --help` documents the verb and its flags, and
// `berth run --help` its -t.
func TestExecHelp(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	for verb, flags := range map[string][]string{
		"exec": {"--timeout", "--user", "--env", "--cwd", "-t"},
		"run":  {"-t"},
	} {
		res := tk.berth(verb, "--help")
		if res.code != 0 {
			t.Errorf("want exit 0:\n%s", res)
		}
		for _, f := range flags {
			if !strings.Contains(res.stdout+res.stderr, f) {
				t.Errorf("%s --help does not mention %s:\n%s", verb, f, res)
			}
		}
	}
}

// TestExecStdioPassedAsIs: without -t, exec hands files and pipes to the
// command as they are: its stdout is the very file or pipe berth got.
func TestExecStdioPassedAsIs(t *testing.T) {
	t.Parallel()
	d, st := startPause(t)
	// A pipe: the harness's stdout for berth.
	var ids ProbeIDs
	var pst syscall.Stat_t
	var f *os.File
	p := d.start(nil, execArgs(d.id, nil, "/probe/probe", "ids")...)
	// Not Fd(): that would make the pipe blocking under its reader.
	rc, err := p.stdout.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.Fstat(int(fd), &pst) }); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	res := p.wait()
	mustSucceed(t, res)
	decodeOne(t, res, &ids)
	if want := fmt.Sprintf("pipe:[%d]", pst.Ino); ids.FDTargets["1"] != want {
		t.Errorf("exec'd process's stdout is %q, want berth's own stdout %s", ids.FDTargets["1"], want)
	}
	// A file.
	out := filepath.Join(t.TempDir(), "out")
	f, err = os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	full := append([]string{"--state-dir", d.stateDir}, execArgs(d.id, nil, "/probe/probe", "ids")...)
	c := exec.Command(berthBin, full...)
	var stderr bytes.Buffer
	c.Stdout, c.Stderr = f, &stderr
	c.Env = append(os.Environ(), "TMPDIR="+d.tmpDir)
	if err := c.Run(); err != nil {
		t.Fatalf("berth exec with stdout a file: %v: %s", err, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	ids = ProbeIDs{}
	if err := json.Unmarshal(b, &ids); err != nil {
		t.Fatalf("probe ids in %s: %v: %q", out, err, b)
	}
	// The path shown is the host's (the file is not in the task's root).
	if !strings.HasSuffix(ids.FDTargets["1"], filepath.Base(out)) {
		t.Errorf("exec'd process's stdout is %q, want the file %s berth got", ids.FDTargets["1"], out)
	}
	d.assertOnlyMain(st, "after the execs")
}

// TestTaskCannotEscapeThroughCwdFd is CVE-2024-21626's shape: a working
// directory of /proc/self/fd/N names whatever fd N of berth's init stage or
// exec helper is when it changes directory; an fd left open to a host
// directory puts the task's process outside its root. Every such --cwd is
// refused or lands inside the task's root.
func TestTaskCannotEscapeThroughCwdFd(t *testing.T) {
	t.Parallel()
	check := func(t *testing.T, what string, res result) {
		t.Helper()
		if res.code != 0 {
			line := strings.TrimSuffix(res.stderr, "\n")
			if !strings.HasPrefix(line, "berth: ") || strings.Contains(line, "\n") {
				t.Errorf("%s: refused without one berth: line:\n%s", what, res)
			}
			return
		}
		var ids ProbeIDs
		decodeOne(t, res, &ids)
		if !ids.CwdInRoot {
			t.Errorf("%s: the process's working directory %q (%q) is outside its root", what, ids.CwdLink, ids.Cwd)
		}
	}
	t.Run("run", func(t *testing.T) {
		t.Parallel()
		for fd := 3; fd <= 12; fd++ {
			cwd := fmt.Sprintf("/proc/self/fd/%d", fd)
			check(t, "run --cwd "+cwd, newTask(t).run(rootfsFlags(t, "--cwd", cwd), "/probe", "ids"))
		}
	})
	t.Run("exec", func(t *testing.T) {
		t.Parallel()
		d, st := startPauseRootfs(t, newRootfs(t))
		for fd := 3; fd <= 12; fd++ {
			cwd := fmt.Sprintf("/proc/self/fd/%d", fd)
			check(t, "exec --cwd "+cwd, d.exec([]string{"--cwd", cwd}, "/probe", "ids"))
		}
		d.assertOnlyMain(st, "after the execs")
	})
	t.Run("exec default task dir pid host", func(t *testing.T) {
		t.Parallel()
		d, st := startPause(t, "--pid", "host")
		for fd := 3; fd <= 12; fd++ {
			cwd := fmt.Sprintf("/proc/self/fd/%d", fd)
			check(t, "exec --cwd "+cwd, d.exec([]string{"--cwd", cwd}, "/probe/probe", "ids"))
		}
		d.assertOnlyMain(st, "after the execs")
	})
}

// TestExecKilledCaller: a `berth exec` killed outright (SIGKILL, no chance
// to clean up) takes its exec'd process with it, which then no longer holds
// the caller's stdout.
func TestExecKilledCaller(t *testing.T) {
	t.Parallel()
	d, st := startPause(t)
	p := d.start(nil, execArgs(d.id, nil, "/probe/probe", "sleep", "1000")...)
	p.waitLine(`"ready":true`)
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	// wait fails the test if a task process keeps berth's stdout open.
	if res := p.wait(); res.code != -1 {
		t.Errorf("berth exec survived SIGKILL:\n%s", res)
	}
	d.assertOnlyMain(st, "after berth exec was killed")
}

// TestExecDefaultUserFixedAtLaunch: an exec runs as the user the task was
// launched as, resolved then: a task that rewrites its /etc/passwd
// afterwards (to make its user's name uid 0) does not change it.
func TestExecDefaultUserFixedAtLaunch(t *testing.T) {
	t.Parallel()
	root := newRootfs(t)
	d, _ := startPauseRootfs(t, root, "--user", "alice")
	hostile := strings.Replace(passwdFile, "alice:x:1000:1000:", "alice:x:0:0:", 1)
	if err := os.WriteFile(filepath.Join(root, "etc/passwd"), []byte(hostile), 0o644); err != nil {
		t.Fatal(err)
	}
	ids := d.execIDs(nil, "/probe")
	if ids.UID != 1000 || ids.EUID != 1000 || ids.GID != 1000 {
		t.Errorf("after the task made alice uid 0 in its /etc/passwd, an exec runs as uid %d euid %d gid %d, want alice's 1000:1000 from launch", ids.UID, ids.EUID, ids.GID)
	}
}

// TestExecUserLookupStaysInTask: `exec --user NAME` reads the task's own
// /etc/passwd, never through it a file outside the task: a FIFO there does
// not hang berth, a symlink to a host path or through /proc/1/root (the
// host's root, with --pid host) to the host's passwd resolves nothing.
func TestExecUserLookupStaysInTask(t *testing.T) {
	t.Parallel()
	root := newRootfs(t)
	d, st := startPauseRootfs(t, root, "--pid", "host")
	passwd := filepath.Join(root, "etc/passwd")
	replace := func(make func() error) {
		t.Helper()
		if err := os.Remove(passwd); err != nil {
			t.Fatal(err)
		}
		if err := make(); err != nil {
			t.Fatal(err)
		}
	}

	// A FIFO: opening it to read would block until a writer comes.
	replace(func() error { return syscall.Mkfifo(passwd, 0o644) })
	assertBerthError(t, d.exec([]string{"--user", "alice"}, "/probe", "ids"), 125, "alice")

	// A symlink to a file on the host, by its host path.
	hostFile := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(hostFile, []byte("mallory:x:4242:4242::/:/probe\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	replace(func() error { return os.Symlink(hostFile, passwd) })
	assertBerthError(t, d.exec([]string{"--user", "mallory"}, "/probe", "ids"), 125, "mallory")
	replace(func() error { return os.Symlink("../../../../../../../../.."+hostFile, passwd) })
	assertBerthError(t, d.exec([]string{"--user", "mallory"}, "/probe", "ids"), 125, "mallory")

	// Through the magic link to the host's root: a name only the host's
	// passwd has.
	hostOnly := ""
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		name, _, _ := strings.Cut(l, ":")
		if name != "" && !strings.Contains(passwdFile, name+":") {
			hostOnly = name
			break
		}
	}
	if hostOnly == "" {
		t.Fatalf("the host's /etc/passwd has no user the test rootfs lacks")
	}
	replace(func() error { return os.Symlink("/proc/1/root/etc/passwd", passwd) })
	assertBerthError(t, d.exec([]string{"--user", hostOnly}, "/probe", "ids"), 125, hostOnly)
	d.assertOnlyMain(st, "after the refused execs")
}

// TestExecJoinsTaskLimits: an exec'd process is in each of the task's
// cgroups, the v1 ones holding its limits on a hybrid host too, so it
// cannot outgrow the task's memory limit.
func TestExecJoinsTaskLimits(t *testing.T) {
	t.Parallel()
	testutil.RequireCgroup(t, "memory")
	testutil.RequireCgroup(t, "pids")
	d, st := startPause(t, "--memory", "32M", "--pids-limit", "64")
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", st.Pid))
	if err != nil {
		t.Fatal(err)
	}
	mainCg := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		id, rest, _ := strings.Cut(l, ":")
		mainCg[id] = rest
	}
	ids := d.execIDs(nil, "/probe/probe")
	for _, l := range ids.Cgroup {
		id, rest, _ := strings.Cut(l, ":")
		want, ok := mainCg[id]
		if !ok {
			t.Errorf("exec'd process in hierarchy %q, which the task's main process is not in: %q", id, l)
			continue
		}
		ctrls, path, _ := strings.Cut(rest, ":")
		wctrls, wpath, _ := strings.Cut(want, ":")
		if ctrls != wctrls || (path != wpath && !strings.HasPrefix(path, wpath+"/")) {
			t.Errorf("exec'd process in cgroup %q, the task's main process in %q", l, id+":"+want)
		}
	}
	res := d.exec(nil, "/probe/probe", "memhog", "128M")
	if res.code != 128+int(syscall.SIGKILL) {
		t.Errorf("an exec'd process allocating 128M in a task limited to 32M, want it OOM-killed (exit 137):\n%s", res)
	}
	d.assertOnlyMain(st, "after the OOM-killed exec")
	assertNoExecCgroups(t, st, "after the OOM-killed exec")
}

// TestExecProcessIsTasks: a process exec'd into a task is one of the
// task's: ps lists it, kill --all reaches it, and delete --force ends it
// (and with it the berth exec that waits for it).
func TestExecProcessIsTasks(t *testing.T) {
	t.Parallel()
	d, st := startPause(t)
	p := d.start(nil, execArgs(d.id, nil, "/probe/probe", "sleep", "1000")...)
	p.waitLine(`"ready":true`)
	pids := d.markedPids()
	execPid := 0
	for _, pid := range pids {
		if pid != st.Pid {
			execPid = pid
		}
	}
	if len(pids) != 2 || execPid == 0 {
		t.Fatalf("the task's processes are %s, want its main process %d and the exec'd one", testutil.Describe(pids), st.Pid)
	}
	res := d.verb("ps", "--json")
	mustSucceed(t, res)
	var ps []struct {
		Pid int `json:"pid"`
	}
	decodeOne(t, res, &ps)
	var listed []int
	for _, e := range ps {
		listed = append(listed, e.Pid)
	}
	if !slices.Contains(listed, execPid) || !slices.Contains(listed, st.Pid) {
		t.Errorf("ps lists %v, want the main process %d and the exec'd %d", listed, st.Pid, execPid)
	}
	mustSucceed(t, d.verb("kill", "--all", "SIGSTOP"))
	waitProcState(t, []int{st.Pid, execPid}, true)
	mustSucceed(t, d.verb("kill", "--all", "SIGCONT"))
	waitProcState(t, []int{st.Pid, execPid}, false)
	mustSucceed(t, d.verb("delete", "--force"))
	if res := p.wait(); res.code == 0 {
		t.Errorf("berth exec of a process killed by delete --force exited 0:\n%s", res)
	}
	testutil.AssertNoProcess(t, d.marker)
}

// TestExecBadInput: exec's flags are checked, each error one berth: line
// naming the flag, with nothing run.
func TestExecBadInput(t *testing.T) {
	t.Parallel()
	d, st := startPause(t)
	for _, c := range []struct {
		args  []string
		wants []string
	}{
		{[]string{"exec", "--timeout", "soon", d.id, "--", "/bin/true"}, []string{"--timeout"}},
		{[]string{"exec", "--env", "NOVALUE", d.id, "--", "/bin/true"}, []string{"--env", "NOVALUE"}},
		{[]string{"exec", "--cwd", "relative/dir", d.id, "--", "/bin/true"}, []string{"--cwd", "relative/dir"}},
		{[]string{"exec", "--user", "nosuchuser", d.id, "--", "/bin/true"}, []string{"nosuchuser"}},
		{[]string{"exec", d.id}, []string{"exec"}},
		{[]string{"exec"}, []string{"exec"}},
	} {
		assertBerthError(t, d.berth(c.args...), 125, c.wants...)
	}
	d.assertOnlyMain(st, "after the refused execs")
	assertNoExecCgroups(t, st, "after the refused execs")
}

// TestExecSettingsNotExposed: the task's settings that exec reuses (its
// environment, which often holds secrets) are kept root-only on disk and
// printed by no verb.
func TestExecSettingsNotExposed(t *testing.T) {
	t.Parallel()
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	secret := "s3cret-" + hex.EncodeToString(b)
	d, _ := startPause(t, "--env", "BERTH_TEST_SECRET="+secret)
	for _, args := range [][]string{{"state", d.id}, {"list"}, {"list", "--json"}, {"ps", d.id}, {"ps", d.id, "--json"}} {
		res := d.berth(args...)
		mustSucceed(t, res)
		if strings.Contains(res.stdout, secret) {
			t.Errorf("berth %s prints the task's environment:\n%s", strings.Join(args, " "), res)
		}
	}
	err := filepath.WalkDir(d.stateDir, func(path string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil || !bytes.Contains(data, []byte(secret)) {
			return err
		}
		info, err := os.Lstat(path)
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		if info.Mode().Perm()&0o077 != 0 || st.Uid != 0 {
			t.Errorf("%s holds the task's environment with mode %v, owner %d; want root-only", path, info.Mode().Perm(), st.Uid)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if res := d.exec(nil, "/bin/sh", "-c", `echo "$BERTH_TEST_SECRET"`); res.code != 0 || res.stdout != secret+"\n" {
		t.Errorf("exec does not get the task's environment:\n%s", res)
	}
}

// TestExecRightAfterDetach: an exec issued the moment `run -d` has printed
// the id finds the task ready for it, even with many tasks starting at
// once.
func TestExecRightAfterDetach(t *testing.T) {
	t.Parallel()
	const n = 12
	// One state dir for all, so that they start side by side.
	tasks := []*dtask{newDetached(t)}
	for len(tasks) < n {
		tasks = append(tasks, tasks[0].another())
	}
	results := make([][2]result, n)
	outDir := t.TempDir()
	var wg sync.WaitGroup
	for i, d := range tasks {
		wg.Go(func() {
			flags := append(probeMount(), "-d", "--stdout", filepath.Join(outDir, d.id))
			results[i][0] = d.runBerth(nil, d.runArgs(flags, append(hostProbe, "pause")...)...)
			if results[i][0].code == 0 {
				results[i][1] = d.runBerth(nil, execArgs(d.id, nil, "/bin/echo", "at-once")...)
			}
		})
	}
	wg.Wait()
	for i, r := range results {
		if r[0].code != 0 {
			t.Errorf("run -d of task %d:\n%s", i, r[0])
			continue
		}
		if r[1].code != 0 || r[1].stdout != "at-once\n" || r[1].stderr != "" {
			t.Errorf("exec right after run -d of task %d:\n%s", i, r[1])
		}
	}
}

// TestTaskCannotFakeProcForExec: a task with CAP_SYS_ADMIN mounts a tmpfs
// over its /proc with an empty /proc/self/fd, so that an exec helper that
// lists /proc/self/fd to close its fds, or reads /proc to check itself,
// would be fooled. An exec then still runs with fds 0-2 only, the task's
// capabilities and no_new_privs, as the user asked (or is refused with one
// berth: line); the probe checks by syscalls alone.
func TestTaskCannotFakeProcForExec(t *testing.T) {
	t.Parallel()
	d, st := startPause(t, "--cap-add", "SYS_ADMIN")
	main := viewFromHost(t, st.Pid)
	mustSucceed(t, d.exec(nil, "/bin/sh", "-c", "mount -t tmpfs fakeproc /proc && mkdir -p /proc/self/fd /proc/thread-self/fd /proc/1/fd"))
	for _, c := range []struct {
		flags []string
		uid   int
	}{
		{nil, 0},
		{[]string{"--user", "1000:1000"}, 1000},
		{[]string{"--cwd", "/proc/self/fd"}, 0},
	} {
		res := d.exec(c.flags, "/probe/probe", "noproc")
		if res.code != 0 {
			assertBerthError(t, res, 125)
			continue
		}
		var r struct {
			FDs        []int  `json:"fds"`
			CapEff     string `json:"cap_eff"`
			NoNewPrivs int    `json:"no_new_privs"`
			UID        int    `json:"uid"`
			Error      string `json:"error"`
		}
		decodeOne(t, res, &r)
		// A non-root user holds only what --cap-add named.
		capEff := main.capEff
		if c.uid != 0 {
			capEff = "0000000000200000" // CAP_SYS_ADMIN
		}
		if !slices.Equal(r.FDs, []int{0, 1, 2}) || r.CapEff != capEff || r.NoNewPrivs != 1 || r.UID != c.uid || r.Error != "" {
			t.Errorf("exec %q into a task with a fake /proc: %+v; want fds [0 1 2], CapEff %s, no_new_privs 1, uid %d", c.flags, r, capEff, c.uid)
		}
	}
	d.assertOnlyMain(st, "after the execs")
}
