package test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berthrun/berth/internal/testutil"
	"golang.org/x/sys/unix"
)

// ptyBerth is berth run on a pty the test allocated, as an interactive
// shell runs it: the pty's slave is its stdin, stdout, stderr and
// controlling terminal, in a session of its own.
type ptyBerth struct {
	t    *testing.T
	pty  *testutil.Pty
	cmd  *exec.Cmd
	args []string

	mu     sync.Mutex
	out    bytes.Buffer
	waitDn chan struct{}
}

// startOnPty starts berth with the global flags and args on p.
func (tk *task) startOnPty(p *testutil.Pty, args ...string) *ptyBerth {
	t := tk.t
	t.Helper()
	full := append([]string{"--state-dir", tk.stateDir}, tk.global...)
	full = append(full, args...)
	b := &ptyBerth{t: t, pty: p, args: full, waitDn: make(chan struct{})}
	b.cmd = exec.Command(berthBin, full...)
	b.cmd.Stdin, b.cmd.Stdout, b.cmd.Stderr = p.Slave, p.Slave, p.Slave
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	b.cmd.Env = append(os.Environ(), "TMPDIR="+tk.tmpDir, "BERTH_TEST_HOST_ONLY=1")
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("start berth on %s: %v", p.Name, err)
	}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := p.Master.Read(buf)
			if n > 0 {
				b.mu.Lock()
				b.out.Write(buf[:n])
				b.mu.Unlock()
			}
			if err != nil {
				// EIO once no slave is open, or the master closed
				// at cleanup.
				return
			}
		}
	}()
	go func() {
		_ = b.cmd.Wait()
		close(b.waitDn)
	}()
	t.Cleanup(func() {
		select {
		case <-b.waitDn:
		default:
			_ = b.cmd.Process.Kill()
			testutil.KillMarked(tk.marker)
			<-b.waitDn
		}
	})
	return b
}

// ptyDrained is written to the terminal by the test once berth has
// exited: what berth wrote before it reaches the master first, so once the
// master shows it, berth's output is all read.
const ptyDrained = "\x1e[berth-test: terminal drained]\x1e"

// output is what the terminal showed so far (up to the test's own mark).
func (b *ptyBerth) output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out, _, _ := strings.Cut(b.out.String(), ptyDrained)
	return out
}

func (b *ptyBerth) String() string {
	code := "running"
	if ps := b.cmd.ProcessState; ps != nil {
		code = strconv.Itoa(ps.ExitCode())
	}
	return fmt.Sprintf("berth %s (on %s)\n  exit %s\n  terminal: %q", strings.Join(b.args, " "), b.pty.Name, code, b.output())
}

// waitFor waits for the terminal to show s and fails t if it does not
// within runTimeout (a guard against a hang, not a timing assertion).
func (b *ptyBerth) waitFor(s string) {
	b.t.Helper()
	deadline := time.Now().Add(runTimeout)
	for !strings.Contains(b.output(), s) {
		if time.Now().After(deadline) {
			b.t.Fatalf("the terminal never showed %q:\n%s", s, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wait waits for berth to exit and for all it wrote to be read from the
// terminal, and returns its exit status.
func (b *ptyBerth) wait() int {
	b.t.Helper()
	select {
	case <-b.waitDn:
	case <-time.After(runTimeout):
		_ = b.cmd.Process.Kill()
		<-b.waitDn
		b.t.Fatalf("berth did not exit within %v:\n%s", runTimeout, b)
	}
	if _, err := b.pty.Slave.Write([]byte(ptyDrained)); err != nil {
		b.t.Fatalf("write to %s: %v", b.pty.Name, err)
	}
	deadline := time.Now().Add(runTimeout)
	for {
		b.mu.Lock()
		done := strings.Contains(b.out.String(), ptyDrained)
		b.mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("what berth wrote to %s never reached its master:\n%s", b.pty.Name, b)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return b.cmd.ProcessState.ExitCode()
}

// lastJSON decodes into v the last line the terminal showed that is a
// JSON object holding key.
func (b *ptyBerth) lastJSON(key string, v any) {
	b.t.Helper()
	lines := strings.Split(b.output(), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if strings.HasPrefix(l, "{") && strings.Contains(l, `"`+key+`"`) && json.Unmarshal([]byte(l), v) == nil {
			return
		}
	}
	b.t.Fatalf("the terminal showed no JSON object with %q:\n%s", key, b)
}

// TTYInfo is what `probe winsize` and `probe winch` print.
type TTYInfo struct {
	Path      string   `json:"path"`
	Targets   []string `json:"targets"`
	IsTTY     bool     `json:"isatty"`
	Rows      int      `json:"rows"`
	Cols      int      `json:"cols"`
	OwnDevpts bool     `json:"own_devpts"`
	SameTTY   bool     `json:"same_tty"`
	UID       int      `json:"uid"`
	GID       int      `json:"gid"`
	Mode      string   `json:"mode"`
	Ctty      bool     `json:"ctty"`
	TTYNr     int      `json:"tty_nr"`
	Pid       int      `json:"pid"`
	Sid       int      `json:"sid"`
	Pgid      int      `json:"pgid"`
	FgPgrp    int      `json:"fg_pgrp"`
	Ready     *bool    `json:"ready"`
	Winch     *bool    `json:"winch"`
	Winches   int      `json:"winches"`
	Step      int      `json:"step"`
	Errors    []string `json:"errors"`
}

// assertTaskTerminal checks that the task's fds 0, 1 and 2 are one pty of
// its own devpts, owned by uid, its controlling terminal with its process
// group in the foreground, of size rows x cols.
func assertTaskTerminal(t *testing.T, ti TTYInfo, uid, rows, cols int) {
	t.Helper()
	if !strings.HasPrefix(ti.Path, "/dev/pts/") || !ti.IsTTY || !ti.OwnDevpts || !ti.SameTTY {
		t.Errorf("task's fd 0 is %q (fds 0-2 %q): isatty %v, of the task's own devpts %v, the same on 0-2 %v; want one /dev/pts/N of its own devpts on all three",
			ti.Path, ti.Targets, ti.IsTTY, ti.OwnDevpts, ti.SameTTY)
	}
	if !ti.Ctty || ti.Sid != ti.Pid || ti.FgPgrp != ti.Pgid {
		t.Errorf("task %d: controlling terminal %v (tty_nr %d), session %d, group %d, foreground group %d; want fd 0 its controlling terminal with its group in the foreground",
			ti.Pid, ti.Ctty, ti.TTYNr, ti.Sid, ti.Pgid, ti.FgPgrp)
	}
	if ti.UID != uid {
		t.Errorf("task's terminal %s is owned by uid %d, want the task's user %d", ti.Path, ti.UID, uid)
	}
	if ti.Rows != rows || ti.Cols != cols {
		t.Errorf("task's terminal is %dx%d, want the caller's %dx%d", ti.Rows, ti.Cols, rows, cols)
	}
}

// termiosOf reads p's modes, failing t if it cannot.
func termiosOf(t *testing.T, p *testutil.Pty) unix.Termios {
	t.Helper()
	tio, err := p.Termios()
	if err != nil {
		t.Fatalf("termios of %s: %v", p.Name, err)
	}
	return tio
}

// terminalSession runs `berth ARGS /probe winch ...` (a -t run or exec in a
// test rootfs) on a pty of 37x101, checks what the task sees, resizes the
// pty twice and checks that the task gets SIGWINCH and the new size each
// time, and that berth leaves the pty in the mode it found it.
func terminalSession(t *testing.T, tk *task, uid int, args ...string) {
	t.Helper()
	const rows, cols = 37, 101
	resizes := [][2]uint16{{45, 132}, {50, 160}}
	p := testutil.OpenPty(t)
	if err := p.SetSize(rows, cols); err != nil {
		t.Fatal(err)
	}
	before := termiosOf(t, p)
	args = append(args, append(rootfsProbe, "winch", "30")...)
	for _, r := range resizes {
		args = append(args, strconv.Itoa(int(r[0])), strconv.Itoa(int(r[1])))
	}
	b := tk.startOnPty(p, args...)
	b.waitFor(`"ready":true`)
	var ti TTYInfo
	b.lastJSON("ready", &ti)
	assertTaskTerminal(t, ti, uid, rows, cols)

	// While berth relays, the caller's terminal is raw: no line editing,
	// no echo, no signals from keys.
	during := termiosOf(t, p)
	if during.Lflag&(unix.ICANON|unix.ECHO|unix.ISIG) != 0 {
		t.Errorf("while berth relays a terminal, the caller's is not in raw mode: lflag %#x", during.Lflag)
	}

	// The kernel sends SIGWINCH to the pty's foreground group, berth.
	for i, r := range resizes {
		if err := p.SetSize(r[0], r[1]); err != nil {
			t.Fatal(err)
		}
		step := fmt.Sprintf(`"step":%d`, i+1)
		b.waitFor(step)
		ti = TTYInfo{}
		b.lastJSON("step", &ti)
		if ti.Step != i+1 || ti.Winch == nil || !*ti.Winch || ti.Rows != int(r[0]) || ti.Cols != int(r[1]) {
			t.Fatalf("after the caller's terminal became %dx%d (resize %d) the task saw SIGWINCH %v (%d in all) and %dx%d:\n%s",
				r[0], r[1], i+1, ti.Winch != nil && *ti.Winch, ti.Winches, ti.Rows, ti.Cols, b)
		}
	}
	if code := b.wait(); code != 0 {
		t.Errorf("want exit 0:\n%s", b)
	}
	if after := termiosOf(t, p); after != before {
		t.Errorf("berth left the caller's terminal changed:\n  before %+v\n  after  %+v", before, after)
	}
}

// TestTerminalRun: `run -t` gives the task a pty of its own devpts, owned
// by its user, as its controlling terminal, sized as the caller's and
// resized with it; the caller's terminal is raw while berth relays and
// restored afterwards.
func TestTerminalRun(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	terminalSession(t, tk, 1000, tk.runArgs([]string{"-t", "--rootfs", newRootfs(t), "--user", "alice"})...)
}

// TestTerminalExec: `exec -t` does the same for a process exec'd into a
// running task, as the task's user.
func TestTerminalExec(t *testing.T) {
	t.Parallel()
	d, _ := startPauseRootfs(t, newRootfs(t), "--user", "alice")
	terminalSession(t, d.task, 1000, "exec", "-t", d.id, "--")
}

// TestTerminalInput: what is typed on the caller's terminal reaches the
// task's terminal, and the task's exit status is berth's.
func TestTerminalInput(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	p := testutil.OpenPty(t)
	before := termiosOf(t, p)
	b := tk.startOnPty(p, tk.runArgs([]string{"-t"}, "/bin/sh", "-c", `echo ready-for-input; read line; echo "got-$line"; exit 3`)...)
	b.waitFor("ready-for-input")
	// Raw mode on the caller's side passes CR through; the task's terminal
	// turns it into a newline (ICRNL).
	if _, err := p.Master.Write([]byte("typed-text\r")); err != nil {
		t.Fatal(err)
	}
	b.waitFor("got-typed-text")
	if code := b.wait(); code != 3 {
		t.Errorf("want exit 3 from the task:\n%s", b)
	}
	if after := termiosOf(t, p); after != before {
		t.Errorf("berth left the caller's terminal changed:\n  before %+v\n  after  %+v", before, after)
	}
}

// TestTerminalRunDetachRefused: `run -d -t` is refused: a detached task
// has nobody to relay its terminal to.
func TestTerminalRunDetachRefused(t *testing.T) {
	t.Parallel()
	d := newDetached(t)
	res := d.run(append([]string{"-d", "-t"}, probeMount()...), append(hostProbe, "pause")...)
	assertBerthError(t, res, 125, "-d", "-t")
}

// InjectResult is one TIOCSTI attempt of `probe tiocsti`.
type InjectResult struct {
	Opened   bool   `json:"opened"`
	Injected int    `json:"injected"`
	Error    string `json:"error"`
}

// tiocstiPayload is the line `probe tiocsti` tries to push into a terminal.
const tiocstiPayload = "berth-tiocsti-injected"

// TestTaskCannotInjectIntoCallerTerminal is bubblewrap's CVE-2017-5226: a
// task run without -t from an interactive terminal pushes a command line
// into the caller's terminal input with TIOCSTI, through its fds 0-2,
// through /dev/tty and through its parent's fds. Berth relays through pipes
// and puts the task in a session of its own, so every attempt fails, also
// with CAP_SYS_ADMIN (which lifts TIOCSTI's controlling-terminal check) and
// the host's pid namespace; nothing reaches the caller's terminal.
func TestTaskCannotInjectIntoCallerTerminal(t *testing.T) {
	t.Parallel()
	paths := []string{"/dev/tty", "/proc/PPID/fd/0", "/proc/PPID/fd/1", "/proc/PPID/fd/2"}
	cases := []struct {
		name  string
		flags []string
		exec  bool
	}{
		{"run", nil, false},
		{"run cap sys_admin", []string{"--cap-add", "SYS_ADMIN"}, false},
		{"run cap sys_admin pid host", []string{"--cap-add", "SYS_ADMIN", "--pid", "host"}, false},
		{"exec cap sys_admin", []string{"--cap-add", "SYS_ADMIN"}, true},
		{"exec cap sys_admin pid host", []string{"--cap-add", "SYS_ADMIN", "--pid", "host"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cmd := append(append([]string{}, hostProbe...), "tiocsti")
			cmd = append(cmd, paths...)
			var tk *task
			var args []string
			if c.exec {
				d, _ := startPause(t, c.flags...)
				tk, args = d.task, execArgs(d.id, nil, cmd...)
			} else {
				tk = newTask(t)
				args = tk.runArgs(append(probeMount(), c.flags...), cmd...)
			}
			p := testutil.OpenPty(t)
			before := termiosOf(t, p)
			b := tk.startOnPty(p, args...)
			if code := b.wait(); code != 0 {
				t.Errorf("want exit 0:\n%s", b)
			}
			b.waitFor(`"fd_targets"`)
			var r struct {
				FDs       map[string]InjectResult `json:"fds"`
				Paths     map[string]InjectResult `json:"paths"`
				FDTargets map[string]string       `json:"fd_targets"`
			}
			b.lastJSON("fd_targets", &r)
			for fd := range 3 {
				k := strconv.Itoa(fd)
				if target := r.FDTargets[k]; strings.HasPrefix(target, "/dev/pts/") || strings.HasPrefix(target, "/dev/tty") || strings.HasPrefix(target, "/dev/console") {
					t.Errorf("the task's fd %d is the terminal %s, want a pipe berth relays", fd, target)
				}
				if res, ok := r.FDs[k]; !ok || res.Injected != 0 || res.Error == "" {
					t.Errorf("TIOCSTI through the task's fd %d (%s): %+v, want it refused", fd, r.FDTargets[k], res)
				}
			}
			for _, path := range paths {
				if res, ok := r.Paths[path]; !ok || res.Injected != 0 || res.Error == "" {
					t.Errorf("TIOCSTI through %s: %+v, want it refused", path, res)
				}
			}
			// An injected byte is echoed on the terminal at once and
			// queued as the caller's input.
			if strings.Contains(b.output(), tiocstiPayload) {
				t.Errorf("the injected line appeared on the caller's terminal:\n%s", b)
			}
			if in, err := p.PendingInput(200); err != nil || len(in) > 0 {
				t.Errorf("after berth exited the caller's terminal holds input %q (%v), want none", in, err)
			}
			if after := termiosOf(t, p); after != before {
				t.Errorf("berth without -t changed the caller's terminal:\n  before %+v\n  after  %+v", before, after)
			}
		})
	}
}

// TestTaskCannotInjectThroughTerminalRelay: with -t the task's fds 0-2 are
// a pty of its own, where TIOCSTI works; what it pushes there reaches its
// own input, never the caller's terminal input that berth relays from,
// nor does its parent (berth, with --pid host) hand it the caller's
// terminal through /proc.
func TestTaskCannotInjectThroughTerminalRelay(t *testing.T) {
	t.Parallel()
	paths := []string{"/proc/PPID/fd/0", "/proc/PPID/fd/1", "/proc/PPID/fd/2"}
	cmd := append(append([]string{}, hostProbe...), "tiocsti")
	cmd = append(cmd, paths...)
	for _, c := range []struct {
		name string
		exec bool
	}{{"run", false}, {"exec", true}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			flags := []string{"--cap-add", "SYS_ADMIN", "--pid", "host"}
			var tk *task
			var args []string
			if c.exec {
				d, _ := startPause(t, flags...)
				tk, args = d.task, execArgs(d.id, []string{"-t"}, cmd...)
			} else {
				tk = newTask(t)
				args = tk.runArgs(append(append(probeMount(), "-t"), flags...), cmd...)
			}
			p := testutil.OpenPty(t)
			before := termiosOf(t, p)
			b := tk.startOnPty(p, args...)
			if code := b.wait(); code != 0 {
				t.Errorf("want exit 0:\n%s", b)
			}
			var r struct {
				FDs   map[string]InjectResult `json:"fds"`
				Paths map[string]InjectResult `json:"paths"`
			}
			b.lastJSON("fd_targets", &r)
			for _, path := range paths {
				if res, ok := r.Paths[path]; !ok || res.Injected != 0 || res.Error == "" {
					t.Errorf("TIOCSTI through %s: %+v, want it refused", path, res)
				}
			}
			if in, err := p.PendingInput(200); err != nil || len(in) > 0 {
				t.Errorf("after berth exited the caller's terminal holds input %q (%v), want none", in, err)
			}
			if after := termiosOf(t, p); after != before {
				t.Errorf("berth left the caller's terminal changed:\n  before %+v\n  after  %+v", before, after)
			}
		})
	}
}

// TestTaskCannotKillCallerProcessGroup: kill(0, SIGKILL) in a task (or in
// an exec'd process) reaches only its own process group, never the shell
// that ran berth: berth and the shell share a process group here, as in a
// shell script or a pipeline.
func TestTaskCannotKillCallerProcessGroup(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		flags []string
		exec  bool
		// code is berth's exit: the probe survives as a pid namespace's
		// init, and dies of its own SIGKILL otherwise.
		code int
	}{
		{"run", nil, false, 0},
		{"run pid host", []string{"--pid", "host"}, false, 128 + int(syscall.SIGKILL)},
		{"exec", nil, true, 128 + int(syscall.SIGKILL)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cmd := append(append([]string{}, hostProbe...), "killpg")
			var tk *task
			var args []string
			if c.exec {
				d, _ := startPause(t, c.flags...)
				tk, args = d.task, execArgs(d.id, nil, cmd...)
			} else {
				tk = newTask(t)
				args = tk.runArgs(append(probeMount(), c.flags...), cmd...)
			}
			full := append([]string{"--state-dir", tk.stateDir}, tk.global...)
			full = append(full, args...)
			ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
			defer cancel()
			sh := exec.CommandContext(ctx, "/bin/sh", append([]string{"-c", `"$0" "$@"; echo "berth-exit=$?"; echo survived`, berthBin}, full...)...)
			sh.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			sh.Env = append(os.Environ(), "TMPDIR="+tk.tmpDir)
			var out, errb bytes.Buffer
			sh.Stdout, sh.Stderr = &out, &errb
			sh.WaitDelay = 10 * time.Second
			err := sh.Run()
			if err != nil || !strings.Contains(out.String(), "survived") {
				t.Errorf("the shell that ran berth did not survive the task's kill(0, SIGKILL): %v\n  stdout %q\n  stderr %q", err, out.String(), errb.String())
			}
			if want := fmt.Sprintf("berth-exit=%d\n", c.code); !strings.Contains(out.String(), want) {
				t.Errorf("want %q:\n  stdout %q\n  stderr %q", want, out.String(), errb.String())
			}
		})
	}
}

// TestTaskGetsOwnSessionKeyring: a task and an exec'd process get a session
// keyring of their own, not the caller's: a key the caller keeps in its
// session keyring can neither be read nor found from inside.
func TestTaskGetsOwnSessionKeyring(t *testing.T) {
	t.Parallel()
	// Keyrings belong to a thread's credentials: this goroutine keeps its
	// thread (berth is forked from it) and never gives it back, so the
	// thread and its anonymous session keyring go when the test ends.
	runtime.LockOSThread()
	ses, _, errno := unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_JOIN_SESSION_KEYRING, 0, 0)
	if errno != 0 {
		t.Fatalf("join a new session keyring: %v", errno)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	desc := "berth-test-" + hex.EncodeToString(b)
	key, err := unix.AddKey("user", desc, []byte("caller-secret"), unix.KEY_SPEC_SESSION_KEYRING)
	if err != nil {
		t.Fatalf("add a key to the session keyring: %v", err)
	}
	t.Cleanup(func() {
		if _, err := unix.KeyctlInt(unix.KEYCTL_INVALIDATE, key, 0, 0, 0); err != nil {
			t.Errorf("invalidate key %d: %v", key, err)
		}
	})
	buf := make([]byte, 64)
	if n, err := unix.KeyctlBuffer(unix.KEYCTL_READ, key, buf, 0); err != nil || string(buf[:n]) != "caller-secret" {
		t.Fatalf("the test cannot read its own key %d: %q %v", key, buf[:max(n, 0)], err)
	}

	type keyringResult struct {
		Session     int    `json:"session"`
		ReadOK      bool   `json:"read_ok"`
		ReadError   string `json:"read_error"`
		SearchOK    bool   `json:"search_ok"`
		SearchError string `json:"search_error"`
	}
	check := func(what string, res result) {
		t.Helper()
		mustSucceed(t, res)
		var r keyringResult
		decodeOne(t, res, &r)
		if r.Session == int(ses) || r.Session <= 0 {
			t.Errorf("%s: session keyring %d, want one of its own (not the caller's %d)", what, r.Session, ses)
		}
		if r.ReadOK || r.SearchOK {
			t.Errorf("%s reached the caller's key: %+v", what, r)
		}
	}
	// Unconfined: the default seccomp filter refuses keyctl altogether
	// (TestSeccompDefault); the session keyring must hold without it.
	cmd := append(append([]string{}, hostProbe...), "keyring", strconv.Itoa(key), desc)
	tk := newTask(t)
	check("a task", tk.run(append(probeMount(), "--seccomp", "unconfined"), cmd...))

	d, _ := startPause(t, "--seccomp", "unconfined")
	check("a detached task's exec'd process", d.exec(nil, cmd...))
}

// TestTerminalRestoredOnSignal: a `run -t` stopped by SIGTERM to berth (it
// stops the task with its stop signal) still gives the caller's terminal
// back in the mode it found it.
func TestTerminalRestoredOnSignal(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	p := testutil.OpenPty(t)
	before := termiosOf(t, p)
	b := tk.startOnPty(p, tk.runArgs([]string{"-t", "--rootfs", newRootfs(t)}, append(rootfsProbe, "trap", "30")...)...)
	b.waitFor(`"ready":true`)
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	b.waitFor(`"signal":`)
	if code := b.wait(); code != 0 {
		t.Errorf("want exit 0 (the task trapped the stop signal):\n%s", b)
	}
	if after := termiosOf(t, p); after != before {
		t.Errorf("berth stopped by SIGTERM left the caller's terminal changed:\n  before %+v\n  after  %+v", before, after)
	}
}

// TestTaskCannotForgeExecTerminal: a task with CAP_SYS_ADMIN covers its
// /dev/pts with a tmpfs and plants a "ptmx" there (a FIFO, which would
// block an open for reading; a symlink through /proc/1/root, the host's
// root with --pid host; a plain file) for `exec -t` to take as the pty
// master it allocates inside the task. Each exec -t is refused with one
// berth: line, never hangs and never runs the command, and the caller's
// terminal is left as it was.
func TestTaskCannotForgeExecTerminal(t *testing.T) {
	t.Parallel()
	d, st := startPause(t, "--cap-add", "SYS_ADMIN", "--pid", "host")
	mustSucceed(t, d.exec(nil, "/bin/mount", "-t", "tmpfs", "forged", "/dev/pts"))
	for _, c := range []struct{ name, plant string }{
		{"fifo", "mkfifo /dev/pts/ptmx"},
		{"symlink to the host's root", "ln -s /proc/1/root/dev/ptmx /dev/pts/ptmx"},
		{"relative symlink", "ln -s ../../../../../../dev/ptmx /dev/pts/ptmx"},
		{"regular file", "touch /dev/pts/ptmx"},
	} {
		mustSucceed(t, d.exec(nil, "/bin/sh", "-c", "rm -f /dev/pts/ptmx && "+c.plant))
		p := testutil.OpenPty(t)
		before := termiosOf(t, p)
		b := d.task.startOnPty(p, "exec", "-t", d.id, "--", "/bin/echo", "command-ran")
		code := b.wait()
		out := b.output()
		if code != 125 || !strings.HasPrefix(strings.TrimSpace(out), "berth: ") || strings.Contains(out, "command-ran") {
			t.Errorf("%s as the task's /dev/pts/ptmx: want exit 125 with one berth: line and the command not run:\n%s", c.name, b)
		}
		if after := termiosOf(t, p); after != before {
			t.Errorf("%s: berth left the caller's terminal changed:\n  before %+v\n  after  %+v", c.name, before, after)
		}
	}
	d.assertOnlyMain(st, "after the refused execs")
}
