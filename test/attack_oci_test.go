package test

// Attacks on berth-oci that held: a hostile bundle (its config and its
// rootfs), a hostile container, a careless caller. Each test is the
// attack's shape and asserts the defence. The attacks that got through
// are in attack_oci_holes_test.go.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/berthrun/berth/internal/testutil"
	"golang.org/x/sys/unix"
)

// atkBundle is ociBundle with the task's marker in the process's
// environment (so the leak check finds a leftover), more busybox applets,
// and patch applied to the config (decoded as generic JSON) and the
// rootfs.
func atkBundle(t *testing.T, tk *task, patch func(cfg map[string]any, rootfs string), args ...string) string {
	t.Helper()
	b := ociBundle(t, tk.id, false, args...)
	rootfs := filepath.Join(b, "rootfs")
	for _, c := range []string{"ls", "readlink", "grep", "find", "mknod", "head", "stat", "id", "pwd", "mount", "cut"} {
		if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", c)); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(b, "config.json")
	var cfg map[string]any
	body, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(body, &cfg); err != nil {
		t.Fatal(err)
	}
	proc := cfg["process"].(map[string]any)
	proc["env"] = append(proc["env"].([]any), tk.marker)
	if patch != nil {
		patch(cfg, rootfs)
	}
	body, err = json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, body, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// cfgLinux and cfgProcess are a generic config's sections.
func cfgLinux(cfg map[string]any) map[string]any   { return cfg["linux"].(map[string]any) }
func cfgProcess(cfg map[string]any) map[string]any { return cfg["process"].(map[string]any) }

func setCaps(cfg map[string]any, caps ...string) {
	cfgProcess(cfg)["capabilities"] = map[string]any{"bounding": caps, "effective": caps, "permitted": caps}
}

func addMount(cfg map[string]any, m map[string]any) {
	cfg["mounts"] = append(cfg["mounts"].([]any), m)
}

// mustFail wants a berth-oci failure whose stderr says want.
func mustFail(t *testing.T, res result, want string) {
	t.Helper()
	if res.code == 0 || !strings.Contains(res.stderr, want) {
		t.Errorf("want a failure saying %q:\n%s", want, res)
	}
}

// TestAttackOCIGatedInitClosed: the init stage held at the start gate
// keeps an O_PATH fd of start.fifo in the host's state dir, and its exe is
// berth-init on the host. Neither a process exec'd into the created
// container nor a second container sharing the host's pid namespace (both
// root, without CAP_SYS_PTRACE) can read its /proc entries: it is not
// dumpable.
func TestAttackOCIGatedInitClosed(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	root := tk.stateDir
	bundle := atkBundle(t, tk, nil, "/bin/sh", "-c", "echo started")
	pidFile := filepath.Join(t.TempDir(), "pid")
	mustSucceed(t, ociRun(t, root, "create", "--bundle", bundle, "--pid-file", pidFile, tk.id))
	b, _ := os.ReadFile(pidFile)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	probe := `for p in %[1]s/exe %[1]s/fd/4 %[1]s/root %[1]s/cwd; do
		readlink $p >/dev/null 2>&1 && echo "LINK $p"
	done
	head -c 1 %[1]s/exe >/dev/null 2>&1 && echo "OPEN %[1]s/exe"
	ls %[1]s/root/ >/dev/null 2>&1 && echo "LIST %[1]s/root"
	true`
	res := ociRun(t, root, "exec", tk.id, "/bin/sh", "-c", fmt.Sprintf(probe, "/proc/1"))
	if res.code != 0 || res.stdout != "" {
		t.Errorf("an exec'd process reached the gated init stage's /proc entries:\n%s", res)
	}

	// A second container, in the host's pid namespace, with the same
	// user and capabilities.
	tk2 := newTask(t)
	bundle2 := atkBundle(t, tk2, func(cfg map[string]any, _ string) {
		cfgLinux(cfg)["namespaces"] = []map[string]any{{"type": "mount"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}}
	}, "/bin/sh", "-c", fmt.Sprintf(probe, "/proc/"+strconv.Itoa(pid)))
	res = ociRun(t, tk2.stateDir, "run", "--bundle", bundle2, tk2.id)
	if res.code != 0 || res.stdout != "" {
		t.Errorf("a container in the host's pid namespace reached the gated init stage's /proc entries:\n%s", res)
	}
	mustSucceed(t, ociRun(t, root, "start", tk.id))
	waitGone(t, pid)
	mustSucceed(t, ociRun(t, root, "delete", tk.id))
}

// TestAttackOCIStartGateClosedToOtherUsers: a host user other than root
// can neither start a created container (open its start.fifo for
// reading) nor read its state dir.
func TestAttackOCIStartGateClosedToOtherUsers(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	root := tk.stateDir
	// As /run is: the defence must be berth's own, not this test's dir's.
	must(t, os.Chmod(root, 0o755))
	bundle := atkBundle(t, tk, nil, "/bin/true")
	mustSucceed(t, ociRun(t, root, "create", "--bundle", bundle, tk.id))
	defer func() { mustSucceed(t, ociRun(t, root, "delete", "--force", tk.id)) }()
	fifo := filepath.Join(root, tk.id, "start.fifo")
	if _, err := os.Lstat(fifo); err != nil {
		t.Fatalf("the created container has no start gate: %v", err)
	}
	errs := make(chan []string, 1)
	go func() {
		// fsuid is per thread; the thread is dropped with the goroutine
		// (never unlocked), so no other goroutine runs as nobody.
		runtime.LockOSThread()
		unix.Setfsgid(65534)
		unix.Setfsuid(65534)
		var got []string
		// The control: root's own 0600 file is closed to nobody.
		if fd, err := unix.Open(filepath.Join(root, tk.id, "state.json"), unix.O_RDONLY, 0); err == nil {
			unix.Close(fd)
			got = append(got, "read state.json (the fsuid switch did not take)")
		}
		if fd, err := unix.Open(fifo, unix.O_RDONLY|unix.O_NONBLOCK, 0); err == nil {
			unix.Close(fd)
			got = append(got, "opened start.fifo for reading")
		}
		for _, f := range []string{"state.json", "exec.json", "oci.json"} {
			if fd, err := unix.Open(filepath.Join(root, tk.id, f), unix.O_RDWR, 0); err == nil {
				unix.Close(fd)
				got = append(got, "opened "+f+" for writing")
			}
		}
		errs <- got
	}()
	if got := <-errs; len(got) > 0 {
		t.Errorf("uid 65534: %s", strings.Join(got, "; "))
	}
	if st := ociStateOf(t, root, tk.id); st.Status != "created" {
		t.Errorf("state after the attempts: %+v, want created", st)
	}
}

// TestAttackOCIContainerCannotFindItsState: a running container looks for
// its start gate and state files everywhere it can see: none of them is
// there.
func TestAttackOCIContainerCannotFindItsState(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	bundle := atkBundle(t, tk, nil, "/bin/sh", "-c",
		`find / -xdev \( -name start.fifo -o -name exec.json -o -name oci.json -o -name state.json \) 2>/dev/null
		find /proc/self/fd /proc/1/fd -type l 2>/dev/null | while read f; do readlink $f; done | grep -e fifo -e "\.json" ; true`)
	res := ociRun(t, tk.stateDir, "run", "--bundle", bundle, tk.id)
	if res.code != 0 || strings.TrimSpace(res.stdout) != "" {
		t.Errorf("the container found berth's state:\n%s", res)
	}
}

// TestAttackOCIHostileIDs: ids with "/" or "..", or not a file name at
// all, name no container: every verb refuses them, and a directory beside
// the root that such an id would reach survives delete --force.
func TestAttackOCIHostileIDs(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	root := tk.stateDir
	// "../victim" from the root.
	victim := filepath.Join(filepath.Dir(root), "victim")
	if err := os.Mkdir(victim, 0o700); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(victim)
	if err := os.WriteFile(filepath.Join(victim, "state.json"), []byte(`{"id":"victim","pid":1,"status":"running"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	bundle := atkBundle(t, tk, nil, "/bin/true")
	for _, id := range []string{"../victim", "..", ".", "a/b", "/", "-x", strings.Repeat("a", 129), "a\nb"} {
		for _, verb := range [][]string{{"state"}, {"start"}, {"kill"}, {"kill", "--all"}, {"pause"}, {"resume"}, {"ps"}, {"delete"}} {
			args := append(append([]string{}, verb...), "--", id)
			if res := ociRun(t, root, args...); res.code == 0 {
				t.Errorf("%s of id %q succeeded:\n%s", verb, id, res)
			}
		}
		if res := ociRun(t, root, "exec", id, "/bin/true"); res.code == 0 {
			t.Errorf("exec in id %q succeeded:\n%s", id, res)
		}
		if res := ociRun(t, root, "create", "--bundle", bundle, "--", id); res.code == 0 {
			t.Errorf("create of id %q succeeded:\n%s", id, res)
		}
		_ = ociRun(t, root, "delete", "--force", "--", id)
	}
	if _, err := os.Stat(filepath.Join(victim, "state.json")); err != nil {
		t.Errorf("the directory beside the root lost its file: %v", err)
	}
}

// TestAttackOCIMountDestinationsStayInRootfs: symlinks planted in the
// rootfs (absolute, and relative climbing out) under a mount's
// destination, a cwd, and the default device binds: every path resolves
// inside the rootfs, nothing is created on the host, and a symlink where
// berth would mount is refused.
func TestAttackOCIMountDestinationsStayInRootfs(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "hostfile"), []byte("HOST\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bundle := atkBundle(t, tk, func(cfg map[string]any, rootfs string) {
		must(t, os.Symlink(host, filepath.Join(rootfs, "abs")))
		must(t, os.Symlink(strings.Repeat("../", 20)+strings.TrimPrefix(host, "/"), filepath.Join(rootfs, "rel")))
		for _, d := range []string{"newdir/t", "newdir2/t", "bound"} {
			must(t, os.MkdirAll(filepath.Join(rootfs, host, d), 0o755))
		}
		// The host dir is under /tmp: no tmpfs there, so that the links
		// resolve to the rootfs's copy of the path.
		dropMount(cfg, "/tmp")
		addMount(cfg, map[string]any{"destination": "/abs/newdir/t", "type": "tmpfs", "source": "tmpfs"})
		addMount(cfg, map[string]any{"destination": "/rel/newdir2/t", "type": "tmpfs", "source": "tmpfs"})
		addMount(cfg, map[string]any{"destination": "/rel/bound", "type": "bind", "source": "rootfs/etc", "options": []string{"bind", "ro"}})
		cfgProcess(cfg)["cwd"] = "/abs"
	}, "/bin/sh", "-c", "pwd; ls "+host+"; grep -c "+host+" /proc/self/mountinfo")
	res := ociRun(t, tk.stateDir, "run", "--bundle", bundle, tk.id)
	mustSucceed(t, res)
	got := strings.Fields(res.stdout)
	want := []string{host, "bound", "newdir", "newdir2", "3"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("cwd, the rootfs's copy of the host dir, mounts there = %q, want %q", got, want)
	}
	// A destination to create through the links: refused, or made in
	// the rootfs; never on the host.
	for _, dest := range []string{"/abs/fresh/t", "/rel/fresh2"} {
		tk := newTask(t)
		bundle := atkBundle(t, tk, func(cfg map[string]any, rootfs string) {
			must(t, os.Symlink(host, filepath.Join(rootfs, "abs")))
			must(t, os.Symlink(strings.Repeat("../", 20)+strings.TrimPrefix(host, "/"), filepath.Join(rootfs, "rel")))
			must(t, os.MkdirAll(filepath.Join(rootfs, host), 0o755))
			dropMount(cfg, "/tmp")
			cfg["root"].(map[string]any)["readonly"] = false
			addMount(cfg, map[string]any{"destination": dest, "type": "tmpfs", "source": "tmpfs"})
		}, "/bin/true")
		_ = ociRun(t, tk.stateDir, "run", "--bundle", bundle, tk.id)
	}
	if ents, _ := os.ReadDir(host); len(ents) != 1 {
		t.Errorf("the host dir the symlinks name got entries: %v", ents)
	}

	// With no tmpfs on /dev, the default device binds go to the rootfs's
	// /dev: a symlink there is refused, not followed.
	tk2 := newTask(t)
	bundle = atkBundle(t, tk2, func(cfg map[string]any, rootfs string) {
		must(t, os.Symlink(filepath.Join(host, "hostfile"), filepath.Join(rootfs, "dev/null")))
		dropMount(cfg, "/dev", "/dev/pts", "/dev/shm")
	}, "/bin/true")
	mustFail(t, ociRun(t, tk2.stateDir, "run", "--bundle", bundle, tk2.id), "symlink")
	if b, _ := os.ReadFile(filepath.Join(host, "hostfile")); string(b) != "HOST\n" {
		t.Errorf("the host file behind the symlink changed: %q", b)
	}

	// The rootfs's /dev itself a symlink out: refused before anything.
	tk3 := newTask(t)
	bundle = atkBundle(t, tk3, func(cfg map[string]any, rootfs string) {
		must(t, os.Remove(filepath.Join(rootfs, "dev")))
		must(t, os.Symlink(host, filepath.Join(rootfs, "dev")))
	}, "/bin/true")
	mustFail(t, ociRun(t, tk3.stateDir, "run", "--bundle", bundle, tk3.id), "/dev is a symlink")
	if ents, _ := os.ReadDir(host); len(ents) != 1 {
		t.Errorf("the host dir behind rootfs/dev got entries: %v", ents)
	}
}

// dropMount removes the config's mounts at dests.
func dropMount(cfg map[string]any, dests ...string) {
	var ms []any
	for _, m := range cfg["mounts"].([]any) {
		d, _ := m.(map[string]any)["destination"].(string)
		if !slices.Contains(dests, d) {
			ms = append(ms, m)
		}
	}
	cfg["mounts"] = ms
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestAttackOCIMaskedSymlinkRefused: a masked path that the rootfs made a
// symlink (to a host path) is refused, not followed.
func TestAttackOCIMaskedSymlinkRefused(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	host := t.TempDir()
	bundle := atkBundle(t, tk, func(cfg map[string]any, rootfs string) {
		must(t, os.Symlink(host, filepath.Join(rootfs, "etc/lnk")))
		l := cfgLinux(cfg)
		l["maskedPaths"] = append(l["maskedPaths"].([]any), "/etc/lnk")
	}, "/bin/true")
	mustFail(t, ociRun(t, tk.stateDir, "run", "--bundle", bundle, tk.id), "symlink")
}

// TestAttackOCIKernelFilesystems: a writable bind of the host's /proc or
// of a cgroup hierarchy is refused; a "cgroup" mount asked writable is
// read-only; devpts without newinstance is still the container's own
// instance, without the host's ptys.
func TestAttackOCIKernelFilesystems(t *testing.T) {
	t.Parallel()
	for _, src := range []string{"/proc", "/sys/fs/cgroup/unified", "/sys"} {
		tk := newTask(t)
		bundle := atkBundle(t, tk, func(cfg map[string]any, _ string) {
			addMount(cfg, map[string]any{"destination": "/host", "type": "bind", "source": src, "options": []string{"bind", "rw"}})
		}, "/bin/true")
		mustFail(t, ociRun(t, tk.stateDir, "run", "--bundle", bundle, tk.id), "a writable bind of it reaches the host")
	}
	pty := testutil.OpenPty(t)
	_ = pty
	tk := newTask(t)
	bundle := atkBundle(t, tk, func(cfg map[string]any, _ string) {
		addMount(cfg, map[string]any{"destination": "/cg", "type": "cgroup", "source": "cgroup", "options": []string{"rw", "nosuid"}})
		for _, m := range cfg["mounts"].([]any) {
			if m := m.(map[string]any); m["destination"] == "/dev/pts" {
				m["options"] = []string{"nosuid", "noexec", "ptmxmode=0666", "mode=0620"}
			}
		}
	}, "/bin/sh", "-c", `grep " /cg " /proc/self/mountinfo | cut -d" " -f6 | cut -d, -f1; ls /dev/pts`)
	res := ociRun(t, tk.stateDir, "run", "--bundle", bundle, tk.id)
	mustSucceed(t, res)
	if got := strings.Fields(res.stdout); len(got) != 2 || got[0] != "ro" || got[1] != "ptmx" {
		t.Errorf("/cg's mount flags and /dev/pts = %q, want ro and only ptmx", got)
	}
}

// TestAttackOCIRefusedConfigs: what a config may not ask is refused,
// naming it, leaving nothing behind: sysctls that are not names or not the
// container's own namespaces', NUL bytes, allowing every device, limits
// above berth's own.
func TestAttackOCIRefusedConfigs(t *testing.T) {
	t.Parallel()
	sysctl := func(k, v string) func(map[string]any, string) {
		return func(c map[string]any, _ string) { cfgLinux(c)["sysctl"] = map[string]string{k: v} }
	}
	cases := []struct {
		name, want string
		patch      func(map[string]any, string)
	}{
		{"sysctl with /", "not a kernel parameter's name", sysctl("net/ipv4/ip_forward", "1")},
		{"sysctl with ..", "not a kernel parameter's name", sysctl("net...ipv4", "1")},
		{"sysctl of /proc/sys/..", "not a kernel parameter's name", sysctl("../../../proc/sysrq-trigger", "c")},
		{"host sysctl", "would change the host's", sysctl("kernel.core_pattern", "|/bin/true")},
		{"host vm sysctl", "would change the host's", sysctl("vm.overcommit_memory", "1")},
		{"sysctl value NUL", "NUL", sysctl("net.ipv4.ip_forward", "1\x00")},
		{"uts sysctl without uts", "uts", func(c map[string]any, r string) {
			sysctl("kernel.domainname", "x")(c, r)
			delete(c, "hostname")
			cfgLinux(c)["namespaces"] = []map[string]any{{"type": "mount"}, {"type": "network"}, {"type": "pid"}}
		}},
		{"net sysctl without net", "network", func(c map[string]any, r string) {
			sysctl("net.ipv4.ip_forward", "1")(c, r)
			cfgLinux(c)["namespaces"] = []map[string]any{{"type": "mount"}, {"type": "uts"}, {"type": "pid"}}
		}},
		{"ipc sysctl without ipc", "ipc", func(c map[string]any, r string) {
			sysctl("fs.mqueue.msg_max", "20")(c, r)
			cfgLinux(c)["namespaces"] = []map[string]any{{"type": "mount"}, {"type": "uts"}, {"type": "pid"}}
		}},
		{"devices allow a", "allowing every device", func(c map[string]any, _ string) {
			cfgLinux(c)["resources"] = map[string]any{"devices": []map[string]any{{"allow": true, "type": "a", "access": "rwm"}}}
		}},
		{"devices allow all untyped", "allowing every device", func(c map[string]any, _ string) {
			cfgLinux(c)["resources"] = map[string]any{"devices": []map[string]any{{"allow": true, "access": "rwm"}}}
		}},
		{"hostname NUL", "NUL", func(c map[string]any, _ string) { c["hostname"] = "a\x00b" }},
		{"env NUL", "NUL", func(c map[string]any, _ string) {
			cfgProcess(c)["env"] = []string{"PATH=/bin", "A=b\x00LD_PRELOAD=/x"}
		}},
		{"arg NUL", "NUL", func(c map[string]any, _ string) { cfgProcess(c)["args"] = []string{"/bin/true", "a\x00b"} }},
		{"rlimit above berth's", "CAP_SYS_RESOURCE", func(c map[string]any, _ string) {
			cfgProcess(c)["rlimits"] = []map[string]any{{"type": "RLIMIT_NOFILE", "hard": 1 << 30, "soft": 1 << 30}}
		}},
		{"unknown capability", "CAP_NOT_A_CAP", func(c map[string]any, _ string) { setCaps(c, "CAP_NOT_A_CAP") }},
		{"cgroupsPath climbing", `linux.cgroupsPath "/../../x/../`, func(c map[string]any, _ string) {
			cfgLinux(c)["cgroupsPath"] = "/../../x/../" + c["__id"].(string)
		}},
		{"cgroupsPath climbing out of its own", `must not contain ".."`, func(c map[string]any, _ string) {
			cfgLinux(c)["cgroupsPath"] = "/berth/" + c["__id"].(string) + "/.."
		}},
		{"cgroupsPath relative climbing", `linux.cgroupsPath "x/../../y": must not contain ".."`, func(c map[string]any, _ string) {
			cfgLinux(c)["cgroupsPath"] = "x/../../y"
		}},
		{"cgroupsPath the root", `linux.cgroupsPath "/": names the cgroup root`, func(c map[string]any, _ string) {
			cfgLinux(c)["cgroupsPath"] = "/"
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tk := newTask(t)
			bundle := atkBundle(t, tk, func(cfg map[string]any, rootfs string) {
				cfg["__id"] = tk.id
				c.patch(cfg, rootfs)
				delete(cfg, "__id")
			}, "/bin/true")
			mustFail(t, ociRun(t, tk.stateDir, "run", "--bundle", bundle, tk.id), c.want)
		})
	}
}

// TestAttackOCIOOMScoreAdjNotBelowBerth: a config asking oom_score_adj
// -1000 (never OOM-killed) does not get below berth's own score: without
// CAP_SYS_RESOURCE it is refused.
func TestAttackOCIOOMScoreAdjNotBelowBerth(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	bundle := atkBundle(t, tk, func(cfg map[string]any, _ string) { cfgProcess(cfg)["oomScoreAdj"] = -1000 },
		"/bin/cat", "/proc/self/oom_score_adj")
	res := ociRun(t, tk.stateDir, "run", "--bundle", bundle, tk.id)
	// This machine's bounding set lacks CAP_SYS_RESOURCE: the score is
	// refused naming it, never quietly changed.
	if res.code == 0 || !strings.Contains(res.stderr, "oom_score_adj -1000") || !strings.Contains(res.stderr, "CAP_SYS_RESOURCE") {
		t.Errorf("oomScoreAdj -1000 without CAP_SYS_RESOURCE: want a refusal naming it:\n%s", res)
	}
}

// TestAttackOCIExecCannotRaiseItself: exec --process asking capabilities
// the container lacks, and new privileges, gets the container's.
func TestAttackOCIExecCannotRaiseItself(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	root := tk.stateDir
	bundle := atkBundle(t, tk, nil, "/bin/sleep", "1000")
	mustSucceed(t, ociRun(t, root, "run", "--detach", "--bundle", bundle, tk.id))
	defer func() { mustSucceed(t, ociRun(t, root, "delete", "--force", tk.id)) }()
	all := []string{"CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_MODULE", "CAP_MKNOD", "CAP_DAC_READ_SEARCH"}
	p := map[string]any{"args": []string{"/bin/grep", "-E", "^(CapEff|CapBnd|CapAmb|NoNewPrivs)", "/proc/self/status"},
		"env": []string{"PATH=/bin", tk.marker}, "cwd": "/", "user": map[string]any{"uid": 0, "gid": 0},
		"noNewPrivileges": false,
		"capabilities":    map[string]any{"bounding": all, "effective": all, "permitted": all, "inheritable": all, "ambient": all}}
	body, _ := json.Marshal(p)
	pf := filepath.Join(t.TempDir(), "process.json")
	must(t, os.WriteFile(pf, body, 0o600))
	res := ociRun(t, root, "exec", "--process", pf, tk.id)
	mustSucceed(t, res)
	// CAP_AUDIT_WRITE, CAP_KILL, CAP_NET_BIND_SERVICE: the bundle's.
	want := "CapEff:\t0000000020000420\nCapBnd:\t0000000020000420\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\n"
	if res.stdout != want {
		t.Errorf("the exec'd process's capabilities:\n%s\nwant the container's:\n%s", res.stdout, want)
	}
}

// TestAttackOCISameIDElsewhere: a container of the same id under another
// --root (same cgroupsPath) cannot be created over a running one, and
// delete --force there does not touch it; a container whose cgroupsPath
// nests in a running one's cgroup is refused and leaves nothing.
func TestAttackOCISameIDElsewhere(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	root := tk.stateDir
	bundle := atkBundle(t, tk, nil, "/bin/sleep", "1000")
	mustSucceed(t, ociRun(t, root, "run", "--detach", "--bundle", bundle, tk.id))
	defer func() { mustSucceed(t, ociRun(t, root, "delete", "--force", tk.id)) }()
	pid := ociStateOf(t, root, tk.id).Pid

	other := t.TempDir()
	mustFail(t, ociRun(t, other, "create", "--bundle", bundle, tk.id), "in use")
	_ = ociRun(t, other, "delete", "--force", tk.id)
	_ = ociRun(t, other, "kill", "--all", tk.id, "KILL")
	if st := ociStateOf(t, root, tk.id); st.Status != "running" || st.Pid != pid {
		t.Errorf("the container after another root's create and delete of its id: %+v", st)
	}
	testutil.AssertEmptyDir(t, other)

	tk2 := newTask(t)
	tk2.cgParent = cgroupParent + "/" + tk.id
	bundle2 := atkBundle(t, tk2, func(cfg map[string]any, _ string) {
		cfgLinux(cfg)["cgroupsPath"] = "/" + cgroupParent + "/" + tk.id + "/" + tk2.id
	}, "/bin/sleep", "1000")
	if res := ociRun(t, tk2.stateDir, "run", "--detach", "--bundle", bundle2, tk2.id); res.code == 0 {
		t.Errorf("a container nested in another's cgroup was created:\n%s", res)
		mustSucceed(t, ociRun(t, tk2.stateDir, "delete", "--force", tk2.id))
	}
	if st := ociStateOf(t, root, tk.id); st.Status != "running" || st.Pid != pid {
		t.Errorf("the container after a nested one's attempt: %+v", st)
	}
}

// TestAttackOCIConcurrentCreate: callers sharing a --root race to create
// the same id: one wins, the others fail, nothing is left of them.
func TestAttackOCIConcurrentCreate(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	root := tk.stateDir
	bundle := atkBundle(t, tk, nil, "/bin/sleep", "1000")
	const n = 6
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(berthOCIBin, "--root", root, "create", "--bundle", bundle, tk.id)
			if err := cmd.Run(); err != nil {
				codes[i] = 1
			}
		}()
	}
	wg.Wait()
	won := 0
	for _, c := range codes {
		if c == 0 {
			won++
		}
	}
	if won != 1 {
		t.Errorf("%d of %d concurrent creates of one id succeeded, want 1", won, n)
	}
	res := ociRun(t, root, "list", "--format", "json")
	var l []ociState
	if err := json.Unmarshal([]byte(res.stdout), &l); err != nil || len(l) != 1 || l[0].Status != "created" {
		t.Errorf("list after the race: %s (%v)", res.stdout, err)
	}
	mustSucceed(t, ociRun(t, root, "delete", "--force", tk.id))
}

// TestAttackOCIPidFileSymlink: a --pid-file path that is a symlink to
// another file gets the pid file in its place; the file it named is
// untouched.
func TestAttackOCIPidFileSymlink(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	must(t, os.WriteFile(victim, []byte("VICTIM"), 0o600))
	pidFile := filepath.Join(dir, "pid")
	must(t, os.Symlink(victim, pidFile))
	bundle := atkBundle(t, tk, nil, "/bin/true")
	mustSucceed(t, ociRun(t, tk.stateDir, "create", "--bundle", bundle, "--pid-file", pidFile, tk.id))
	mustSucceed(t, ociRun(t, tk.stateDir, "delete", "--force", tk.id))
	if b, _ := os.ReadFile(victim); string(b) != "VICTIM" {
		t.Errorf("the symlink's target was written: %q", b)
	}
	if fi, err := os.Lstat(pidFile); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("the pid file is not a regular file in the symlink's place: %v %v", fi, err)
	}
}
