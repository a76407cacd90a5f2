package test

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ociBundle makes a bundle: the static probe and busybox's shell in a
// root, and a config.json like `runc spec`'s with args, its cgroup under
// the tests' parent.
func ociBundle(t *testing.T, id string, terminal bool, args ...string) string {
	t.Helper()
	b := t.TempDir()
	root := filepath.Join(b, "rootfs")
	for _, d := range []string{"bin", "proc", "dev", "sys", "tmp", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(t, probeBin, filepath.Join(root, "probe"))
	copyFile(t, "/bin/busybox", filepath.Join(root, "bin/busybox"))
	for _, c := range []string{"sh", "sleep", "cat", "echo", "tty", "true"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", c)); err != nil {
			t.Fatal(err)
		}
	}
	caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	cfg := map[string]any{
		"ociVersion": "1.0.2",
		"process": map[string]any{
			"terminal": terminal, "user": map[string]any{"uid": 0, "gid": 0}, "args": args,
			"env": []string{"PATH=/bin", "TERM=xterm"}, "cwd": "/", "noNewPrivileges": true,
			"capabilities": map[string]any{"bounding": caps, "effective": caps, "permitted": caps},
			"rlimits":      []map[string]any{{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}},
		},
		"root":     map[string]any{"path": "rootfs", "readonly": true},
		"hostname": "oci",
		"mounts": []map[string]any{
			{"destination": "/proc", "type": "proc", "source": "proc"},
			{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": []string{"nosuid", "noexec", "nodev", "ro"}},
			{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": []string{"nosuid", "nodev"}},
		},
		"linux": map[string]any{
			"cgroupsPath":   "/" + cgroupParent + "/" + id,
			"namespaces":    []map[string]any{{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}},
			"maskedPaths":   []string{"/proc/kcore", "/sys/firmware"},
			"readonlyPaths": []string{"/proc/sys"},
			"resources":     map[string]any{"devices": []map[string]any{{"allow": false, "access": "rwm"}}, "pids": map[string]any{"limit": 100}},
		},
	}
	body, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b, "config.json"), body, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// ociRun runs berth-oci with a root and a JSON log of the test's own.
func ociRun(t *testing.T, root string, args ...string) result {
	t.Helper()
	return ociRunFiles(t, root, nil, args...)
}

// ociCall runs a berth-oci binary with args and extra files as its fds 3,
// 4, ... Its stdout and stderr are files, not pipes: the container keeps
// create's stdio, and a pipe would keep Run waiting for its end as long as
// the container runs.
func ociCall(t *testing.T, bin string, extra []*os.File, args []string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.ExtraFiles = extra
	outF, err := os.CreateTemp(t.TempDir(), "stdout")
	if err != nil {
		t.Fatal(err)
	}
	errF, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer outF.Close()
	defer errF.Close()
	cmd.Stdout, cmd.Stderr = outF, errF
	err = cmd.Run()
	out, _ := os.ReadFile(outF.Name())
	errb, _ := os.ReadFile(errF.Name())
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{args: args, code: code, stdout: string(out), stderr: string(errb)}
}

type ociState struct {
	ID     string `json:"id"`
	Pid    int    `json:"pid"`
	Status string `json:"status"`
	Bundle string `json:"bundle"`
}

func ociStateOf(t *testing.T, root, id string) ociState {
	t.Helper()
	res := ociRun(t, root, "state", id)
	mustSucceed(t, res)
	var st ociState
	if err := json.Unmarshal([]byte(res.stdout), &st); err != nil {
		t.Fatalf("state: %v: %s", err, res)
	}
	return st
}

// TestOCILifecycle: create sets up the container and holds its process
// (created), with the pid file written before create returns and the
// process berth-oci's caller's child once create exits; start runs it;
// state, ps, pause, resume, exec and kill act on it; delete removes it
// all; errors use runc's phrases.
func TestOCILifecycle(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	root := filepath.Join(t.TempDir(), "root")
	bundle := ociBundle(t, tk.id, false, "/probe", "pause")
	pidFile := filepath.Join(t.TempDir(), "pid")
	mustSucceed(t, ociRun(t, root, "create", "--bundle", bundle, "--pid-file", pidFile, tk.id))
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("pid file after create: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	// Nothing of berth's stays between the caller and the container:
	// create was its parent and exited, so the container went to the
	// nearest subreaper (containerd's shim; here, init).
	if ppid := parentOf(t, pid); strings.HasPrefix(commOf(ppid), "berth") {
		t.Errorf("the container's parent is %d (%s), a process of berth's", ppid, commOf(ppid))
	}
	st := ociStateOf(t, root, tk.id)
	if st.Status != "created" || st.Pid != pid || st.Bundle != bundle {
		t.Errorf("state after create: %+v, want created, pid %d, bundle %s", st, pid, bundle)
	}
	mustSucceed(t, ociRun(t, root, "start", tk.id))
	if st := ociStateOf(t, root, tk.id); st.Status != "running" {
		t.Errorf("state after start: %+v", st)
	}
	if res := ociRun(t, root, "start", tk.id); res.code == 0 {
		t.Errorf("a second start succeeded:\n%s", res)
	}
	res := ociRun(t, root, "ps", "--format", "json", tk.id)
	mustSucceed(t, res)
	var pids []int
	if err := json.Unmarshal([]byte(res.stdout), &pids); err != nil || len(pids) != 1 || pids[0] != pid {
		t.Errorf("ps --format json = %q, want [%d]", res.stdout, pid)
	}
	mustSucceed(t, ociRun(t, root, "pause", tk.id))
	if st := ociStateOf(t, root, tk.id); st.Status != "paused" {
		t.Errorf("state after pause: %+v", st)
	}
	mustSucceed(t, ociRun(t, root, "resume", tk.id))
	res = ociRun(t, root, "exec", tk.id, "/bin/sh", "-c", "hostname; exit 4")
	if res.code != 4 || strings.TrimSpace(res.stdout) != "oci" {
		t.Errorf("exec: want exit 4 and the hostname:\n%s", res)
	}
	mustSucceed(t, ociRun(t, root, "kill", tk.id, "KILL"))
	waitGone(t, pid)
	if st := ociStateOf(t, root, tk.id); st.Status != "stopped" {
		t.Errorf("state after kill: %+v", st)
	}
	mustSucceed(t, ociRun(t, root, "kill", "--all", tk.id, "KILL"))
	mustSucceed(t, ociRun(t, root, "delete", tk.id))
	res = ociRun(t, root, "state", tk.id)
	if res.code == 0 || !strings.Contains(res.stderr, "does not exist") {
		t.Errorf("state of a deleted container: want an error with \"does not exist\":\n%s", res)
	}
	log, _ := os.ReadFile(filepath.Join(root, "..", "oci.log"))
	if !strings.Contains(string(log), `"level":"error"`) || !strings.Contains(string(log), "does not exist") {
		t.Errorf("the --log file lacks the JSON error line:\n%s", log)
	}
}

// TestOCIDeleteCreated: delete of a created, never started container
// kills it and succeeds, as runc's does.
func TestOCIDeleteCreated(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	root := filepath.Join(t.TempDir(), "root")
	bundle := ociBundle(t, tk.id, false, "/bin/true")
	pidFile := filepath.Join(t.TempDir(), "pid")
	mustSucceed(t, ociRun(t, root, "create", "--bundle", bundle, "--pid-file", pidFile, tk.id))
	mustSucceed(t, ociRun(t, root, "delete", tk.id))
	b, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	waitGone(t, pid)
}

// waitGone waits for a process that was create's child, so init's once
// create exited, to be killed and reaped.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(runTimeout)
	for unix.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs (%s)", pid, commOf(pid))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func commOf(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return strings.TrimSpace(string(b))
}

// TestOCIConsoleSocket: a terminal container's pty master arrives on the
// --console-socket by SCM_RIGHTS, and the process's stdio is that pty.
func TestOCIConsoleSocket(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	root := filepath.Join(t.TempDir(), "root")
	bundle := ociBundle(t, tk.id, true, "/bin/sh", "-c", "tty; sleep 1000")
	sock := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan *os.File, 1)
	go func() {
		c, err := l.AcceptUnix()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		buf, oob := make([]byte, 256), make([]byte, 256)
		_, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		if err != nil {
			got <- nil
			return
		}
		msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
		for _, m := range msgs {
			if fds, err := unix.ParseUnixRights(&m); err == nil && len(fds) == 1 {
				got <- os.NewFile(uintptr(fds[0]), "master")
				return
			}
		}
		got <- nil
	}()
	mustSucceed(t, ociRun(t, root, "create", "--bundle", bundle, "--console-socket", sock, tk.id))
	master := <-got
	if master == nil {
		t.Fatal("no pty master on the console socket")
	}
	defer master.Close()
	mustSucceed(t, ociRun(t, root, "start", tk.id))
	buf := make([]byte, 64)
	_ = master.SetReadDeadline(time.Now().Add(runTimeout))
	n, _ := master.Read(buf)
	if !strings.HasPrefix(strings.TrimSpace(string(buf[:n])), "/dev/pts/") {
		t.Errorf("the container's tty is %q, want its /dev/pts/N", buf[:n])
	}
	mustSucceed(t, ociRun(t, root, "delete", "--force", tk.id))
}

// TestOCIRefusesWhatItCannotApply: a config asking what berth cannot do
// is refused naming the field, and leaves nothing behind.
func TestOCIRefusesWhatItCannotApply(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	root := filepath.Join(t.TempDir(), "root")
	for field, patch := range map[string]func(cfg map[string]any){
		"process.selinuxLabel": func(c map[string]any) {
			c["process"].(map[string]any)["selinuxLabel"] = "system_u:system_r:container_t:s0"
		},
		// The host's, not the container's own namespaces'.
		"sysctl kernel.core_pattern": func(c map[string]any) {
			c["linux"].(map[string]any)["sysctl"] = map[string]string{"kernel.core_pattern": "|/tmp/x"}
		},
		"personality": func(c map[string]any) {
			c["linux"].(map[string]any)["personality"] = map[string]any{"domain": "LINUX32"}
		},
		"ociVersion": func(c map[string]any) { c["ociVersion"] = "2.0.0" },
	} {
		bundle := ociBundle(t, tk.id, false, "/bin/true")
		p := filepath.Join(bundle, "config.json")
		var cfg map[string]any
		b, _ := os.ReadFile(p)
		if err := json.Unmarshal(b, &cfg); err != nil {
			t.Fatal(err)
		}
		patch(cfg)
		b, _ = json.Marshal(cfg)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		res := ociRun(t, root, "create", "--bundle", bundle, tk.id)
		if res.code == 0 || !strings.Contains(res.stderr, field) {
			t.Errorf("%s: want a refusal naming it:\n%s", field, res)
			// Created after all: remove it, or the leak check reports
			// it too.
			ociRun(t, root, "delete", "--force", tk.id)
		}
	}
}

// TestOCISeccompWithNewPrivileges: a bundle with a seccomp profile and
// noNewPrivileges false (runtime-tools' and Kubernetes' usual config) gets
// its filter, loaded before the capabilities are dropped, and no
// no_new_privs.
//
// The filter refuses getcwd too, as runtime-tools' linux_seccomp does: the
// setup steps that run under it must not need it.
func TestOCISeccompWithNewPrivileges(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	root := filepath.Join(t.TempDir(), "root")
	bundle := ociBundle(t, tk.id, false, "/probe", "syscalls")
	p := filepath.Join(bundle, "config.json")
	var cfg map[string]any
	b, _ := os.ReadFile(p)
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["process"].(map[string]any)["noNewPrivileges"] = false
	cfg["linux"].(map[string]any)["seccomp"] = map[string]any{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": []map[string]any{{"names": []string{"getpid", "getcwd"}, "action": "SCMP_ACT_ERRNO", "errnoRet": 13}}}
	b, _ = json.Marshal(cfg)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	res := ociRun(t, root, "run", "--bundle", bundle, tk.id)
	mustSucceed(t, res)
	var got syscallResult
	decodeOne(t, res, &got)
	if got.Getpid != "EACCES" || got.Mode != "2" || got.Keyctl != "" {
		t.Errorf("the task's system calls: %+v, want getpid EACCES under the bundle's filter, keyctl allowed", got)
	}
}

// TestOCINamespacedSettings: a bundle's sysctls of the container's own
// namespaces, its umask, a cgroup namespace and a shared mount apply.
func TestOCINamespacedSettings(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	root := filepath.Join(t.TempDir(), "root")
	bundle := ociBundle(t, tk.id, false, "/bin/sh", "-c",
		`cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax; umask; grep "^0::" /proc/self/cgroup; grep " /tmp " /proc/self/mountinfo | grep -c shared:`)
	p := filepath.Join(bundle, "config.json")
	var cfg map[string]any
	b, _ := os.ReadFile(p)
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	l := cfg["linux"].(map[string]any)
	l["sysctl"] = map[string]string{"net.ipv4.ip_forward": "1", "kernel.msgmax": "4242"}
	l["namespaces"] = append(l["namespaces"].([]any), map[string]any{"type": "cgroup"})
	cfg["process"].(map[string]any)["user"].(map[string]any)["umask"] = 0o027
	for _, m := range cfg["mounts"].([]any) {
		if m := m.(map[string]any); m["destination"] == "/tmp" {
			m["options"] = append(m["options"].([]any), "rshared")
		}
	}
	b, _ = json.Marshal(cfg)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	res := ociRun(t, root, "run", "--bundle", bundle, tk.id)
	mustSucceed(t, res)
	got := strings.Fields(res.stdout)
	if len(got) != 5 || got[0] != "1" || got[1] != "4242" || got[2] != "0027" || got[3] != "0::/" || got[4] != "1" {
		t.Errorf("ip_forward, msgmax, umask, cgroup, shared /tmp = %q, want 1 4242 0027 0::/ 1", got)
	}
	if hostMsgmax, _ := os.ReadFile("/proc/sys/kernel/msgmax"); strings.TrimSpace(string(hostMsgmax)) == "4242" {
		t.Error("the host's kernel.msgmax changed")
	}
}

// TestOCIJoinNamespacesByPath: a container joins another's network, ipc
// and uts namespaces by path (as a Kubernetes pod's containers join its
// pause container's), and the host's are refused for its sysctls.
func TestOCIJoinNamespacesByPath(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	root := filepath.Join(t.TempDir(), "root")
	pod := tk.id + "-pod"
	podBundle := ociBundle(t, pod, false, "/probe", "pause")
	mustSucceed(t, ociRun(t, root, "create", "--bundle", podBundle, pod))
	defer ociRun(t, root, "delete", "--force", pod)
	mustSucceed(t, ociRun(t, root, "start", pod))
	podPid := ociStateOf(t, root, pod).Pid

	bundle := ociBundle(t, tk.id, false, "/bin/sh", "-c", "for n in net ipc uts; do readlink /proc/self/ns/$n; done; hostname")
	p := filepath.Join(bundle, "config.json")
	var cfg map[string]any
	b, _ := os.ReadFile(p)
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	delete(cfg, "hostname")
	ns := func(kind string) string { return "/proc/" + strconv.Itoa(podPid) + "/ns/" + kind }
	cfg["linux"].(map[string]any)["namespaces"] = []map[string]any{{"type": "pid"}, {"type": "mount"},
		{"type": "network", "path": ns("net")}, {"type": "ipc", "path": ns("ipc")}, {"type": "uts", "path": ns("uts")}}
	b, _ = json.Marshal(cfg)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	res := ociRun(t, root, "run", "--bundle", bundle, tk.id)
	mustSucceed(t, res)
	var want []string
	for _, k := range []string{"net", "ipc", "uts"} {
		l, err := os.Readlink(ns(k))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, l)
	}
	want = append(want, "oci") // the pod's hostname
	if got := strings.Fields(res.stdout); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("the container's namespaces and hostname = %q, want the pod's %q", got, want)
	}

	// The host's network namespace joined by path: its sysctls are the
	// host's, refused.
	cfg["linux"].(map[string]any)["namespaces"] = []map[string]any{{"type": "mount"}, {"type": "network", "path": "/proc/1/ns/net"}}
	cfg["linux"].(map[string]any)["sysctl"] = map[string]string{"net.ipv4.ip_forward": "0"}
	b, _ = json.Marshal(cfg)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	res = ociRun(t, root, "run", "--bundle", bundle, tk.id)
	if res.code == 0 || !strings.Contains(res.stderr, "is the host's") {
		t.Errorf("sysctl in the host's network namespace joined by path: want a refusal:\n%s", res)
	}
	// A path that is no namespace of its kind.
	cfg["linux"].(map[string]any)["namespaces"] = []map[string]any{{"type": "mount"}, {"type": "network", "path": ns("ipc")}}
	delete(cfg["linux"].(map[string]any), "sysctl")
	b, _ = json.Marshal(cfg)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	res = ociRun(t, root, "run", "--bundle", bundle, tk.id)
	if res.code == 0 || !strings.Contains(res.stderr, "not a net namespace") {
		t.Errorf("an ipc namespace given as the network's: want a refusal:\n%s", res)
	}
}

// TestOCIHelp: every verb of berth-oci answers --help with its usage and
// exit 0; an unknown verb and a missing id are one-line errors, exit 1.
func TestOCIHelp(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "root")
	for _, v := range []string{"create", "start", "run", "state", "kill", "delete", "ps", "pause", "resume", "update", "exec", "list", "features"} {
		res := ociRun(t, root, v, "--help")
		if res.code != 0 || !strings.HasPrefix(res.stdout, "usage: berth-oci "+v) {
			t.Errorf("%s --help:\n%s", v, res)
		}
	}
	for _, args := range [][]string{{"bogus"}, {"create"}, {"kill"}} {
		res := ociRun(t, root, args...)
		if res.code != 1 || strings.Count(res.stderr, "\n") != 1 || !strings.HasPrefix(res.stderr, "berth-oci: ") {
			t.Errorf("%q: want one berth-oci: error line and exit 1:\n%s", args, res)
		}
	}
}

// TestOCIExecProcessUser: exec --process runs as its user's uid, gid and
// additional gids, taken as they are.
func TestOCIExecProcessUser(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	root := filepath.Join(t.TempDir(), "root")
	bundle := ociBundle(t, tk.id, false, "/probe", "pause")
	mustSucceed(t, ociRun(t, root, "run", "--detach", "--bundle", bundle, tk.id))
	defer ociRun(t, root, "delete", "--force", tk.id)
	p := map[string]any{"args": []string{"/bin/sh", "-c", `while read k a b c; do case $k in Uid:|Gid:|Groups:) echo "$k $a $b";; esac; done < /proc/self/status`},
		"env": []string{"PATH=/bin"}, "cwd": "/", "user": map[string]any{"uid": 1000, "gid": 1001, "additionalGids": []int{5, 7}}}
	body, _ := json.Marshal(p)
	pf := filepath.Join(t.TempDir(), "process.json")
	if err := os.WriteFile(pf, body, 0o600); err != nil {
		t.Fatal(err)
	}
	res := ociRun(t, root, "exec", "--process", pf, tk.id)
	mustSucceed(t, res)
	if want := "Uid: 1000 1000\nGid: 1001 1001\nGroups: 5 7\n"; res.stdout != want {
		t.Errorf("exec --process user: got\n%swant\n%s", res.stdout, want)
	}
}

// TestOCIUpdate: update --resources changes a running container's limits
// in the cgroups the runc shim reads; a malformed or refused document is
// an error that changes nothing.
func TestOCIUpdate(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	root := filepath.Join(t.TempDir(), "root")
	bundle := ociBundle(t, tk.id, false, "/probe", "pause")
	mustSucceed(t, ociRun(t, root, "run", "--detach", "--bundle", bundle, tk.id))
	defer ociRun(t, root, "delete", "--force", tk.id)
	pidsMax := filepath.Join("/sys/fs/cgroup/pids", cgroupParent, tk.id, "pids.max")
	dir := t.TempDir()
	for _, c := range []struct {
		body, want string
		ok         bool
	}{
		{`{"pids":{"limit":42}}`, "", true},
		{`{"pids":`, "--resources", false},
		{`{"devices":[{"allow":true,"type":"c","major":10,"minor":232,"access":"rwm"}]}`, "devices", false},
		{`{"memory":{"swappiness":101}}`, "linux.resources.memory.swappiness: 101 is above the maximum of 100", false},
		{`{"cpu":{"mems":"0-x"}}`, "linux.resources: Resources.CpusetMems", false},
	} {
		f := filepath.Join(dir, "r.json")
		if err := os.WriteFile(f, []byte(c.body), 0o600); err != nil {
			t.Fatal(err)
		}
		res := ociRun(t, root, "update", "--resources", f, tk.id)
		if c.ok {
			mustSucceed(t, res)
		} else if res.code == 0 || !strings.Contains(res.stderr, c.want) {
			t.Errorf("update %s: want an error naming %q:\n%s", c.body, c.want, res)
		}
		if b, err := os.ReadFile(pidsMax); err != nil || strings.TrimSpace(string(b)) != "42" {
			t.Errorf("after update %s: pids.max = %q, %v; want 42", c.body, b, err)
		}
	}
}

// TestOCIExecUnderFilter: an exec runs under the container's filter from
// the moment it takes on the container's credentials; what the exec helper
// needs to fork the command off (a pipe to hear of its failure) is made
// before, so a profile refusing pipe2 still lets the command run.
func TestOCIExecUnderFilter(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	b := atkBundle(t, tk, func(cfg map[string]any, _ string) {
		cfgLinux(cfg)["seccomp"] = map[string]any{"defaultAction": "SCMP_ACT_ALLOW",
			"syscalls": []map[string]any{{"names": []string{"pipe2", "pipe"}, "action": "SCMP_ACT_ERRNO"}}}
	}, "/bin/sleep", "100")
	mustSucceed(t, ociRun(t, tk.stateDir, "create", "--bundle", b, tk.id))
	defer ociRun(t, tk.stateDir, "delete", "--force", tk.id)
	mustSucceed(t, ociRun(t, tk.stateDir, "start", tk.id))
	res := ociRun(t, tk.stateDir, "exec", tk.id, "/bin/echo", "exec'd")
	mustSucceed(t, res)
	if strings.TrimSpace(res.stdout) != "exec'd" {
		t.Errorf("exec under a filter refusing pipe2: %s", res)
	}
	mustSucceed(t, ociRun(t, tk.stateDir, "delete", "--force", tk.id))
}

// TestOCIStartPausedCreated: a created container that was paused is not
// started (its init stage could not take the start while frozen); start
// says so at once, and the container starts once resumed.
func TestOCIStartPausedCreated(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	b := ociBundle(t, tk.id, false, "/bin/echo", "started")
	mustSucceed(t, ociRun(t, tk.stateDir, "create", "--bundle", b, tk.id))
	defer ociRun(t, tk.stateDir, "delete", "--force", tk.id)
	mustSucceed(t, ociRun(t, tk.stateDir, "pause", tk.id))
	mustFail(t, ociRun(t, tk.stateDir, "start", tk.id), "paused")
	mustSucceed(t, ociRun(t, tk.stateDir, "resume", tk.id))
	mustSucceed(t, ociRun(t, tk.stateDir, "start", tk.id))
	mustSucceed(t, ociRun(t, tk.stateDir, "delete", "--force", tk.id))
}
