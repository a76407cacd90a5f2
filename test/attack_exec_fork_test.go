package test

// Attacks on the exec path of issue 10's redesign: the helper is born in
// the host's pid namespace and forks the command into the task with
// CLONE_PARENT, reporting the command's pid on the sync socket.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthrun/berth/executor"
	"golang.org/x/sys/unix"
)

// attackBin builds the static program test/attackdata/NAME into a
// directory a container may read, and returns the directory.
func attackBin(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	must(t, os.Chmod(dir, 0o755))
	must(t, os.Chmod(filepath.Dir(dir), 0o755))
	buildAttack(t, name, filepath.Join(dir, name), "amd64")
	return dir
}

// hostVictim starts a process on the host, outside every task, that no
// container may signal, and returns it; it is killed and reaped at the
// test's end.
func hostVictim(t *testing.T) *exec.Cmd {
	t.Helper()
	v := exec.Command("sleep", "100000")
	must(t, v.Start())
	t.Cleanup(func() {
		v.Process.Kill()
		v.Wait()
	})
	return v
}

// processState is the state letter of pid's stat ("Z" for a zombie).
func processState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2 : i+3]
	}
	return ""
}

// TestAttackExecForgedCommandPid: the exec helper forks the command into
// the container before its execve, with the helper's sync socket still
// open in it (close-on-exec only). A container process with CAP_SYS_PTRACE
// (an ordinary capability to grant a debugging container) stops that
// command, its own uid's, takes the socket with pidfd_getfd and writes a
// forged report of a failed fork on it, naming a host process as the
// command's pid: berth SIGKILLs the host process it names.
func TestAttackExecForgedCommandPid(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	bin := attackBin(t, "execforge")
	shared := t.TempDir()
	must(t, os.Chmod(shared, 0o777))
	victim := hostVictim(t)
	b := atkBundle(t, tk, func(cfg map[string]any, rootfs string) {
		setCaps(cfg, "CAP_KILL", "CAP_SYS_PTRACE")
		attackMounts(cfg, bin, shared)
		for _, d := range []string{"a", "shared"} {
			must(t, os.Mkdir(filepath.Join(rootfs, d), 0o755))
		}
	}, "/a/execforge", strconv.Itoa(victim.Process.Pid), "/shared/out")
	mustSucceed(t, ociRun(t, tk.stateDir, "create", "--bundle", b, tk.id))
	defer func() { mustSucceed(t, ociRun(t, tk.stateDir, "delete", "--force", tk.id)) }()
	mustSucceed(t, ociRun(t, tk.stateDir, "start", tk.id))
	out := filepath.Join(shared, "out")
	waitFile(t, out)
	for i := 0; i < 300; i++ {
		ociTry(t, tk.stateDir, "exec", tk.id, "/bin/true")
		if b, _ := os.ReadFile(out); strings.Contains(string(b), "forged") {
			break
		}
	}
	must(t, os.WriteFile(filepath.Join(shared, "stop"), nil, 0o644))
	log, _ := os.ReadFile(out)
	if st := processState(victim.Process.Pid); st == "Z" || st == "" {
		t.Errorf("a container killed a host process (pid %d) through berth's exec:\n%s", victim.Process.Pid, log)
	}
	t.Logf("forged: %v; attack log tail:\n%s", strings.Contains(string(log), "forged"), tail(string(log), 20))
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// zombieChildren are this process's children that are zombies.
func zombieChildren(t *testing.T) []string {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, th := range tasks {
		b, _ := os.ReadFile(filepath.Join("/proc/self/task", th.Name(), "children"))
		for _, f := range strings.Fields(string(b)) {
			pid, _ := strconv.Atoi(f)
			if processState(pid) == "Z" {
				st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
				out = append(out, strings.TrimSpace(string(st)))
			}
		}
	}
	return out
}

// TestAttackExecStoppedCommandZombie: a task process (root inside, no
// capability needed: the command is its own uid's) stops the command an
// exec helper forked into it before its execve. The helper waits on the
// fork's report and never sends "execd"; the exec's deadline passes, the
// helper is killed and reaped, the leaf killed. The command, the
// caller's child by CLONE_PARENT whose pid the caller never learnt, must
// be reaped too, not left a zombie of the caller (a long-lived library
// user collects one per such exec). Not parallel: it reads the test
// process's children.
func TestAttackExecStoppedCommandZombie(t *testing.T) {
	tk := newTask(t)
	bin := attackBin(t, "execforge")
	shared := t.TempDir()
	must(t, os.Chmod(shared, 0o777))
	e := newExecutor(t, tk)
	cmd := &executor.Command{
		ID: tk.id, Cmd: "/a/execforge", Args: []string{"hold", "/shared/out"}, Env: []string{tk.marker},
		Isolation: executor.Isolation{Mounts: []executor.Mount{
			{Source: bin, Destination: "/a", ReadOnly: true},
			{Source: shared, Destination: "/shared"},
		}},
	}
	if _, err := e.Launch(cmd); err != nil {
		t.Fatalf("Launch: %v", err)
	}
	out := filepath.Join(shared, "out")
	waitFile(t, out)
	before := zombieChildren(t)
	held := false
	for i := 0; i < 200 && !held; i++ {
		_, _, err := e.Exec(time.Now().Add(3*time.Second), "/bin/true", nil)
		b, _ := os.ReadFile(out)
		held = strings.Contains(string(b), "held")
		if held && err == nil {
			t.Errorf("exec whose command was held stopped before its execve succeeded")
		}
	}
	must(t, os.WriteFile(filepath.Join(shared, "stop"), nil, 0o644))
	log, _ := os.ReadFile(out)
	if !held {
		t.Logf("never held a command before its execve:\n%s", tail(string(log), 10))
		return
	}
	if after := zombieChildren(t); len(after) > len(before) {
		t.Errorf("the exec left zombies in the caller: %q (before: %q)\n%s", after, before, tail(string(log), 5))
	}
}

// statusFields are the fields of /proc/PID/status an exec'd process must
// share with the task's own: capabilities, no_new_privs, the filter, the
// signal mask and ignored signals.
var statusFields = []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "Seccomp_filters", "SigBlk", "SigIgn"}

// parseStatuses splits concatenated status files into one map each.
func parseStatuses(s string) []map[string]string {
	var out []map[string]string
	for _, l := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		if k == "Name" {
			out = append(out, map[string]string{})
		}
		if len(out) > 0 {
			out[len(out)-1][k] = strings.TrimSpace(v)
		}
	}
	return out
}

// TestAttackExecSameRestrictions: a command exec'd into a container with
// a filter, no_new_privs and a few capabilities is as restricted as the
// container's own process (/proc/PID/status, read from inside: the same
// capability sets, no_new_privs, filter mode and count, no signal blocked
// or ignored), its umask is the bundle's, and it holds nothing of berth's:
// fds 0, 1 and 2 only (and the one ls opens for the listing).
func TestAttackExecSameRestrictions(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	b := atkBundle(t, tk, func(cfg map[string]any, _ string) {
		cfgLinux(cfg)["seccomp"] = map[string]any{"defaultAction": "SCMP_ACT_ALLOW",
			"syscalls": []map[string]any{{"names": []string{"kexec_load"}, "action": "SCMP_ACT_ERRNO"}}}
		cfgProcess(cfg)["user"] = map[string]any{"uid": 0, "gid": 0, "umask": 0o027}
	}, "/bin/sleep", "100000")
	mustSucceed(t, ociRun(t, tk.stateDir, "run", "--detach", "--bundle", b, tk.id))
	defer func() { mustSucceed(t, ociRun(t, tk.stateDir, "delete", "--force", tk.id)) }()
	res := ociRun(t, tk.stateDir, "exec", tk.id, "/bin/cat", "/proc/1/status", "/proc/self/status")
	mustSucceed(t, res)
	st := parseStatuses(res.stdout)
	if len(st) != 2 {
		t.Fatalf("want two status files:\n%s", res)
	}
	for _, f := range statusFields {
		if st[0][f] != st[1][f] || st[0][f] == "" {
			t.Errorf("%s: container's process %q, exec'd %q", f, st[0][f], st[1][f])
		}
	}
	if st[1]["SigBlk"] != "0000000000000000" || st[1]["SigIgn"] != "0000000000000000" || st[1]["Seccomp"] != "2" || st[1]["NoNewPrivs"] != "1" {
		t.Errorf("exec'd process: SigBlk %s SigIgn %s Seccomp %s NoNewPrivs %s", st[1]["SigBlk"], st[1]["SigIgn"], st[1]["Seccomp"], st[1]["NoNewPrivs"])
	}
	res = ociRun(t, tk.stateDir, "exec", tk.id, "/bin/sh", "-c", "umask; ls /proc/self/fd")
	mustSucceed(t, res)
	if f := strings.Fields(res.stdout); !slices.Equal(f, []string{"0027", "0", "1", "2", "3"}) {
		t.Errorf("exec'd shell: umask and fds %q, want 0027 and 0 1 2 3 (ls's own)", f)
	}
}

// TestAttackExecPreserveManyFds: exec --preserve-fds 50 hands the
// command exactly fds 3 to 52, each the caller's file of that number
// (each file names its fd), whatever numbers the helper's own fds take,
// and nothing else. With a task limit of 64 open files the command still
// gets them: 53 fds fit.
func TestAttackExecPreserveManyFds(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	b := atkBundle(t, tk, func(cfg map[string]any, _ string) {
		cfgProcess(cfg)["rlimits"] = []map[string]any{{"type": "RLIMIT_NOFILE", "hard": 64, "soft": 64}}
	}, "/bin/sleep", "100000")
	mustSucceed(t, ociRun(t, tk.stateDir, "run", "--detach", "--bundle", b, tk.id))
	defer func() { mustSucceed(t, ociRun(t, tk.stateDir, "delete", "--force", tk.id)) }()
	dir := t.TempDir()
	var extra []*os.File
	for i := 0; i < 50; i++ {
		p := filepath.Join(dir, strconv.Itoa(3+i))
		must(t, os.WriteFile(p, []byte(strconv.Itoa(3+i)+"\n"), 0o644))
		f, err := os.Open(p)
		must(t, err)
		defer f.Close()
		extra = append(extra, f)
	}
	res := ociRunFiles(t, tk.stateDir, extra, "exec", "--preserve-fds", "50", tk.id, "/bin/sh", "-c",
		`i=3; while [ $i -le 52 ]; do read -r v <&$i; [ "$v" = $i ] || echo "fd $i: $v"; i=$((i+1)); done; ls /proc/self/fd | wc -l`)
	if res.code != 0 || strings.TrimSpace(res.stdout) != "54" {
		t.Errorf("exec --preserve-fds 50: want fds 3..52 as given and 54 fds in ls (0..52 and its own):\n%s", res)
	}
}

// TestAttackExecPreserveFdsFailedExec: exec --preserve-fds 10 of a file
// the kernel cannot execute (ENOEXEC). The failure is reported as such,
// and the caller's preserved files are left as they were: the forked
// command's report pipe must not lie on a number a preserved fd takes (on
// a hybrid host the helper's v1 cgroup fds, closed once joined, leave the
// lowest numbers free for it).
func TestAttackExecPreserveFdsFailedExec(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	b := atkBundle(t, tk, func(_ map[string]any, rootfs string) {
		must(t, os.WriteFile(filepath.Join(rootfs, "bin", "bad"), []byte("\x00\x01\x02 not a program\n"), 0o755))
	}, "/bin/sleep", "100000")
	mustSucceed(t, ociRun(t, tk.stateDir, "run", "--detach", "--bundle", b, tk.id))
	defer func() { mustSucceed(t, ociRun(t, tk.stateDir, "delete", "--force", tk.id)) }()
	dir := t.TempDir()
	var extra []*os.File
	for i := 0; i < 10; i++ {
		f, err := os.Create(filepath.Join(dir, strconv.Itoa(3+i)))
		must(t, err)
		defer f.Close()
		extra = append(extra, f)
	}
	res := ociRunFiles(t, tk.stateDir, extra, "exec", "--preserve-fds", "10", tk.id, "/bin/bad")
	if res.code == 0 || !strings.Contains(res.stderr, "exec format error") {
		t.Errorf("exec of a file the kernel cannot run: want a failure saying exec format error:\n%s", res)
	}
	for i := 0; i < 10; i++ {
		if b, _ := os.ReadFile(filepath.Join(dir, strconv.Itoa(3+i))); len(b) != 0 {
			t.Errorf("preserved fd %d: the caller's file was written: %q", 3+i, b)
		}
	}
}

// TestAttackExecDetachKillWithParent: a detached exec through a Store
// that kills exec'd processes with their caller (KillWithParent) leaves
// the command running while the caller lives: the command's parent-death
// signal must not fire when the thread that started the helper ends at
// Exec's return. Not parallel: it waits for a child of the test process.
func TestAttackExecDetachKillWithParent(t *testing.T) {
	tk := newTask(t)
	e := launchPause(t, tk)
	s := executor.NewStore(tk.stateDir, cgroupParent, nil)
	s.KillWithParent = true
	ps, err := s.Exec(context.Background(), tk.id, &executor.ExecCommand{Cmd: "/bin/sleep", Args: []string{"1000"}, Detach: true})
	if err != nil {
		t.Fatalf("detached exec: %v", err)
	}
	died := make(chan unix.WaitStatus, 1)
	go func() {
		var ws unix.WaitStatus
		unix.Wait4(ps.Pid, &ws, 0, nil)
		died <- ws
	}()
	// Other execs start and end threads of their own meanwhile.
	for i := 0; i < 3; i++ {
		if _, _, err := e.Exec(time.Now().Add(runTimeout), "/bin/true", nil); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case ws := <-died:
		t.Errorf("the detached command %d died while its caller lives: %v", ps.Pid, ws.Signal())
	default:
		unix.Kill(ps.Pid, unix.SIGKILL)
		<-died
	}
}
