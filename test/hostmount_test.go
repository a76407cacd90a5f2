package test

// A bundle without a mount namespace: the container shares the host's,
// set up in it and chrooted into its rootfs, as runc does. What berth
// mounts on the host for it goes with delete; the caller's own mount at
// the rootfs (containerd's overlay) stays.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// mountsUnder lists the host's mount points at or below dir.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			out = append(out, f[4])
		}
	}
	return out
}

func TestOCIHostMountNamespace(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	b := atkBundle(t, tk, func(cfg map[string]any, _ string) {
		cfgLinux(cfg)["namespaces"] = []map[string]any{{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}}
	}, "/bin/sh", "-c", "readlink /proc/1/ns/mnt >/dev/null; readlink /proc/self/ns/mnt; ls /; sleep 100")
	rootfs := filepath.Join(b, "rootfs")
	// The caller's own mount at the rootfs, as containerd's overlay is.
	if err := unix.Mount(rootfs, rootfs, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(rootfs, unix.MNT_DETACH)
	before := mountsUnder(t, rootfs)
	host, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(t.TempDir(), "out")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mustSucceed(t, ociRun(t, tk.stateDir, "create", "--bundle", b, tk.id))
	defer ociRun(t, tk.stateDir, "delete", "--force", tk.id)
	mustSucceed(t, ociRun(t, tk.stateDir, "start", tk.id))
	if during := mountsUnder(t, rootfs); len(during) <= len(before) {
		t.Errorf("the container's mounts are not on the host: %q", during)
	}
	// An exec is in the container's root too, not the host's "/".
	res := ociRun(t, tk.stateDir, "exec", tk.id, "/bin/sh", "-c", "readlink /proc/self/ns/mnt; ls /")
	mustSucceed(t, res)
	lines := strings.Fields(res.stdout)
	if len(lines) == 0 || lines[0] != host || !strings.Contains(res.stdout, "probe") || strings.Contains(res.stdout, "usr") {
		t.Errorf("exec: want the host's mount namespace and the container's root (probe, no usr), got:\n%s", res.stdout)
	}
	mustSucceed(t, ociRun(t, tk.stateDir, "delete", "--force", tk.id))
	after := mountsUnder(t, rootfs)
	if strings.Join(after, " ") != strings.Join(before, " ") {
		t.Errorf("host mounts at the rootfs after delete: %q, want the caller's own only: %q", after, before)
	}
}

// TestOCIHostMountNamespaceFailedCreate: a create that fails after mounts
// were made on the host leaves none of them.
func TestOCIHostMountNamespaceFailedCreate(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	b := atkBundle(t, tk, func(cfg map[string]any, _ string) {
		cfgLinux(cfg)["namespaces"] = []map[string]any{{"type": "pid"}, {"type": "uts"}}
	}, "/no-such-command") // found missing after every mount was made
	before := mountsUnder(t, filepath.Join(b, "rootfs"))
	mustFail(t, ociRun(t, tk.stateDir, "create", "--bundle", b, tk.id), "/no-such-command")
	if after := mountsUnder(t, filepath.Join(b, "rootfs")); len(after) != len(before) {
		t.Errorf("a failed create left host mounts: %q", after)
	}
}
