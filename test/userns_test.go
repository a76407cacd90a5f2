package test

// Containers in a user namespace of their own (linux.uidMappings): root
// inside is a mapped host id, and that holds for every process of the
// container, the init stage held before its start and a process exec'd
// into it included. Each test is an attack's shape: a container root with
// every capability going for what only the host's root may do.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// usernsBase is the first host id the tests map the container's ids to.
const usernsBase = 100000

// allCaps is a container root's every capability worth having.
var allCaps = []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_MKNOD", "CAP_SYS_CHROOT", "CAP_SYS_MODULE"}

// usernsBundle is atkBundle in a user namespace mapping 65536 ids from 0
// to usernsBase, with every capability, no masked or read-only paths (the
// user namespace alone must hold), and the host dir hostDir bound
// writable at /host. The bundle's directories are opened to others: the
// mapped root must reach its rootfs.
func usernsBundle(t *testing.T, tk *task, hostDir string, patch func(cfg map[string]any), args ...string) string {
	t.Helper()
	b := atkBundle(t, tk, func(cfg map[string]any, _ string) {
		l := cfgLinux(cfg)
		l["namespaces"] = append(l["namespaces"].([]any), map[string]any{"type": "user"})
		l["uidMappings"] = []map[string]any{{"containerID": 0, "hostID": usernsBase, "size": 65536}}
		l["gidMappings"] = []map[string]any{{"containerID": 0, "hostID": usernsBase, "size": 65536}}
		l["maskedPaths"], l["readonlyPaths"] = []string{}, []string{}
		setCaps(cfg, allCaps...)
		cfgProcess(cfg)["noNewPrivileges"] = false
		if hostDir != "" {
			addMount(cfg, map[string]any{"destination": "/host", "type": "bind", "source": hostDir, "options": []string{"rbind"}})
		}
		if patch != nil {
			patch(cfg)
		}
	}, args...)
	// The mapped root cannot make the mount point in a root-owned rootfs.
	if err := os.Mkdir(filepath.Join(b, "rootfs", "host"), 0o755); err != nil {
		t.Fatal(err)
	}
	for d := b; d != "/tmp" && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// hostSecrets makes a host dir as root: secret (0600), and mine/, which
// the container's root owns on the host.
func hostSecrets(t *testing.T) string {
	t.Helper()
	d := filepath.Join(t.TempDir(), "host")
	if err := os.MkdirAll(filepath.Join(d, "mine"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(d), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "secret"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(d, "mine"), usernsBase, usernsBase); err != nil {
		t.Fatal(err)
	}
	return d
}

// usernsProbe tries what the host's root could do and the container's must
// not, printing a word for each that worked.
const usernsProbe = `cat /proc/self/uid_map /proc/self/gid_map
cat /host/secret 2>/dev/null && echo READ-SECRET
echo x 2>/dev/null > /host/planted && echo WROTE-HOST
chmod 4755 /host/mine 2>/dev/null; echo y > /host/mine/file && echo WROTE-MINE
cat /proc/sys/kernel/core_pattern > /tmp/cp && cat /tmp/cp 2>/dev/null > /proc/sys/kernel/core_pattern && echo WROTE-SYSCTL
mknod /tmp/sda b 8 0 2>/dev/null && echo MKNOD
echo 1 2>/dev/null > /proc/sysrq-trigger && echo SYSRQ
true`

// checkUsernsProbe checks usernsProbe's output and what it left on the
// host.
func checkUsernsProbe(t *testing.T, who, out, hostDir string) {
	t.Helper()
	fields := strings.Fields(out)
	want := []string{"0", strconv.Itoa(usernsBase), "65536", "0", strconv.Itoa(usernsBase), "65536", "WROTE-MINE"}
	if strings.Join(fields, " ") != strings.Join(want, " ") {
		t.Errorf("%s: want the mapping and only WROTE-MINE, got:\n%s", who, out)
	}
	if _, err := os.Lstat(filepath.Join(hostDir, "planted")); err == nil {
		t.Errorf("%s: planted a file in a root-owned host dir", who)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(hostDir, "mine", "file"), &st); err != nil {
		t.Fatalf("%s: %v", who, err)
	}
	if st.Uid != usernsBase || st.Gid != usernsBase {
		t.Errorf("%s: a file the container's root made is %d:%d on the host, want %d:%d", who, st.Uid, st.Gid, usernsBase, usernsBase)
	}
	os.Remove(filepath.Join(hostDir, "mine", "file"))
}

// hostIDs is a process's uid and gid lines from the host's /proc: real,
// effective, saved, filesystem.
func hostIDs(t *testing.T, pid int) (uids, gids []string) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Uid:"); ok {
			uids = strings.Fields(v)
		}
		if v, ok := strings.CutPrefix(l, "Gid:"); ok {
			gids = strings.Fields(v)
		}
	}
	return uids, gids
}

func allIDs(ids []string, want int) bool {
	if len(ids) != 4 {
		return false
	}
	for _, id := range ids {
		if id != strconv.Itoa(want) {
			return false
		}
	}
	return true
}

// TestUsernsRootIsNotHostRoot: a container root with every capability in
// its user namespace reads no root-only host file, writes no root-owned
// host dir, no host sysctl, no sysrq, makes no device node; what it writes
// where it may is owned by its mapped id on the host, never by root.
func TestUsernsRootIsNotHostRoot(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	host := hostSecrets(t)
	b := usernsBundle(t, tk, host, nil, "/bin/sh", "-c", usernsProbe)
	res := ociRun(t, tk.stateDir, "run", "--bundle", b, tk.id)
	mustSucceed(t, res)
	checkUsernsProbe(t, "container", res.stdout, host)
}

// TestUsernsHeldInitIsNotHostRoot: the init stage held at the start gate
// is already the user namespace's root, a mapped host id: were it the
// host's root with capabilities in the container's namespaces, a process
// of the container holding CAP_SYS_PTRACE there could take it over.
func TestUsernsHeldInitIsNotHostRoot(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	b := usernsBundle(t, tk, "", nil, "/bin/true")
	pidFile := filepath.Join(t.TempDir(), "pid")
	mustSucceed(t, ociRun(t, tk.stateDir, "create", "--bundle", b, "--pid-file", pidFile, tk.id))
	defer ociRun(t, tk.stateDir, "delete", "--force", tk.id)
	pid := pidFromFile(t, pidFile)
	uids, gids := hostIDs(t, pid)
	if !allIDs(uids, usernsBase) || !allIDs(gids, usernsBase) {
		t.Errorf("held init stage: uids %v gids %v on the host, want all %d", uids, gids, usernsBase)
	}
	mustSucceed(t, ociRun(t, tk.stateDir, "delete", "--force", tk.id))
	waitGone(t, pid)
}

// TestUsernsExecJoinsTheUserNamespace: a process exec'd into the container
// is in its user namespace, as its mapped root: joined to the container's
// other namespaces from the host's, it would be the host's root with every
// capability there, in the container's mount namespace.
func TestUsernsExecJoinsTheUserNamespace(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	host := hostSecrets(t)
	b := usernsBundle(t, tk, host, nil, "/bin/sleep", "100")
	mustSucceed(t, ociRun(t, tk.stateDir, "create", "--bundle", b, tk.id))
	defer ociRun(t, tk.stateDir, "delete", "--force", tk.id)
	mustSucceed(t, ociRun(t, tk.stateDir, "start", tk.id))
	res := ociRun(t, tk.stateDir, "exec", tk.id, "/bin/sh", "-c", usernsProbe)
	mustSucceed(t, res)
	checkUsernsProbe(t, "exec", res.stdout, host)

	// Seen from the host while it runs.
	pidFile := filepath.Join(t.TempDir(), "pid")
	mustSucceed(t, ociRun(t, tk.stateDir, "exec", "--detach", "--pid-file", pidFile, tk.id, "/bin/sleep", "100"))
	pid := pidFromFile(t, pidFile)
	uids, gids := hostIDs(t, pid)
	if !allIDs(uids, usernsBase) || !allIDs(gids, usernsBase) {
		t.Errorf("exec'd process: uids %v gids %v on the host, want all %d", uids, gids, usernsBase)
	}
	st := ociStateOf(t, tk.stateDir, tk.id)
	own, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", st.Pid))
	execd, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", pid))
	if own == "" || own != execd {
		t.Errorf("exec'd process in user namespace %q, the container in %q", execd, own)
	}
	mustSucceed(t, ociRun(t, tk.stateDir, "delete", "--force", tk.id))
	waitGone(t, pid)
}

// TestUsernsDeviceNodes: a device the bundle lists is the host's node bound
// in (a user namespace cannot mknod), and only when the host's node at
// that path is that device.
func TestUsernsDeviceNodes(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	kmsg := map[string]any{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11}
	b := usernsBundle(t, tk, "", func(cfg map[string]any) {
		cfgLinux(cfg)["devices"] = []map[string]any{kmsg}
	}, "/bin/stat", "-c", "%t:%T", "/dev/kmsg")
	res := ociRun(t, tk.stateDir, "run", "--bundle", b, tk.id)
	mustSucceed(t, res)
	if strings.TrimSpace(res.stdout) != "1:b" {
		t.Errorf("/dev/kmsg in the container: want 1:b (hex), got %q", res.stdout)
	}

	tk2 := newTask(t)
	kmsg["minor"] = 3
	b = usernsBundle(t, tk2, "", func(cfg map[string]any) {
		cfgLinux(cfg)["devices"] = []map[string]any{kmsg}
	}, "/bin/true")
	mustFail(t, ociRun(t, tk2.stateDir, "run", "--bundle", b, tk2.id), "not the c device 1:3")
}

// TestUsernsRefusals: what a user namespace cannot be given is refused
// before anything is made, naming the field.
func TestUsernsRefusals(t *testing.T) {
	t.Parallel()
	one := []map[string]any{{"containerID": 0, "hostID": usernsBase, "size": 65536}}
	for _, c := range []struct {
		name  string
		patch func(cfg map[string]any)
		want  string
	}{
		{"no mappings", func(cfg map[string]any) { delete(cfgLinux(cfg), "uidMappings") }, "a new user namespace needs both"},
		{"no namespace", func(cfg map[string]any) {
			l := cfgLinux(cfg)
			ns := l["namespaces"].([]any)
			l["namespaces"] = ns[:len(ns)-1]
		}, "given without a user namespace"},
		{"root unmapped", func(cfg map[string]any) {
			cfgLinux(cfg)["uidMappings"] = []map[string]any{{"containerID": 1, "hostID": usernsBase, "size": 10}}
		}, "uid mappings: must map uid 0"},
		{"empty range", func(cfg map[string]any) {
			cfgLinux(cfg)["gidMappings"] = []map[string]any{{"containerID": 0, "hostID": usernsBase, "size": 0}}
		}, "gid mappings: [0]: size 0"},
		{"overlap", func(cfg map[string]any) {
			cfgLinux(cfg)["uidMappings"] = append(one, map[string]any{"containerID": 70000, "hostID": usernsBase + 10, "size": 5})
		}, "uid mappings: [0] and [1]: host ids overlap"},
		{"past the end", func(cfg map[string]any) {
			cfgLinux(cfg)["uidMappings"] = append(one, map[string]any{"containerID": 70000, "hostID": 1<<32 - 2, "size": 5})
		}, "past the last id"},
		{"user by path", func(cfg map[string]any) {
			l := cfgLinux(cfg)
			ns := l["namespaces"].([]any)
			l["namespaces"] = append(ns[:len(ns)-1], map[string]any{"type": "user", "path": "/proc/1/ns/user"})
		}, "linux.namespaces user: joining it by path is not supported"},
		{"net by path", func(cfg map[string]any) {
			cfgLinux(cfg)["namespaces"] = []map[string]any{{"type": "pid"}, {"type": "network", "path": "/proc/1/ns/net"},
				{"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "user"}}
		}, "net namespace path"},
		{"unmapped user", func(cfg map[string]any) {
			cfgProcess(cfg)["user"] = map[string]any{"uid": 70000, "gid": 0}
		}, "credentials: uid 70000: not in the uid mappings"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tk := newTask(t)
			b := usernsBundle(t, tk, "", c.patch, "/bin/true")
			mustFail(t, ociRun(t, tk.stateDir, "run", "--bundle", b, tk.id), c.want)
		})
	}
}

// pidFromFile is the pid a --pid-file holds.
func pidFromFile(t *testing.T, p string) int {
	t.Helper()
	body, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(body)))
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return pid
}
