package test

// Attacks of the outside pass on issue 9's hardening that got through, in
// their attack's shape; each failed until its fix (a read-only device
// bind was writable, writable binds of the host's /proc and cgroup
// filesystems, i386 socketcall past the socket rules, open_by_handle_at
// with CAP_DAC_READ_SEARCH, a fifo or /dev/zero as a seccomp profile).

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestHoleReadOnlyDeviceBindIsWritable: `--mount DEV:DEV:ro` is meant to
// give the task the device for reading only; a read-only bind does not
// stop writes to a device node, so berth relies on the device program's
// "r" rule (executor/boundDevices). That program is made by
// cgroup2.DeviceFilter, whose access test is "(requested & allowed) != 0":
// an open for reading and writing asks for r|w, shares the r bit, and is
// let through. A task given a disk read-only writes the host's disk.
func TestHoleReadOnlyDeviceBindIsWritable(t *testing.T) {
	t.Parallel()
	bins := attackBins(t)
	dev := boundDevice(t)
	got := attackLines(t, newTask(t), append(attackMount(bins), "--mount", dev+":/dev/bound:ro"),
		"/a/attack open /dev/bound r; /a/attack open /dev/bound rw")
	if len(got) != 2 || !strings.HasPrefix(got[0], "ok ") {
		t.Fatalf("%s bound read-only: want it to open for reading: %q", dev, got)
	}
	if got[1] != "err EPERM" {
		t.Errorf("%s bound read-only opened for reading AND WRITING (%q), want EPERM from the device program", dev, got[1])
	}

	// The same with a block device whose writes land in a host file: a
	// loop device over a file of the test, bound read-only.
	if _, err := exec.LookPath("losetup"); err != nil {
		t.Fatalf("losetup not found: %v", err)
	}
	img := filepath.Join(t.TempDir(), "disk.img")
	orig := strings.Repeat("\x00", 1<<20)
	if err := os.WriteFile(img, []byte(orig), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "--find", "--show", img).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup: %v\n%s", err, out)
	}
	loop := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", loop).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v\n%s", loop, err, out)
		}
	})
	res := newTask(t).run([]string{"--mount", loop + ":/dev/disk:ro"}, "/bin/sh", "-c",
		`exec 3<>/dev/disk && printf WRITTEN-BY-TASK >&3; echo "write=$?"`)
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(string(b), "WRITTEN-BY-TASK") {
		t.Errorf("a task given %s READ-ONLY wrote to it: the host file behind it now starts %q:\n%s", loop, b[:15], res)
	}
}

// TestHoleI386SocketcallBypassesSocketFilter: Docker's profile refuses
// socket(2) for some families (AF_VSOCK, AF_ALG, ...) by its first
// argument; an i386 binary creates the same socket through socketcall(2),
// whose arguments are behind a pointer the filter cannot read. AF_VSOCK is
// global across network namespaces on this kernel: with --net none the
// task still reaches the hypervisor and every VM on it.
func TestHoleI386SocketcallBypassesSocketFilter(t *testing.T) {
	t.Parallel()
	bins := attackBins(t)
	got := attackLines(t, newTask(t), append(attackMount(bins), "--net", "none"), fmt.Sprintf(
		"/a/attack socket %d %d; /a/attack386 socket %d %d", unix.AF_VSOCK, unix.SOCK_STREAM, unix.AF_VSOCK, unix.SOCK_STREAM))
	if len(got) != 2 || got[0] != "err EPERM" {
		t.Fatalf("x86_64 socket(AF_VSOCK): want EPERM from the filter: %q", got)
	}
	// EPERM as on x86_64, or ENOSYS if socketcall itself is refused.
	if got[1] != "err EPERM" && got[1] != "err ENOSYS" {
		t.Errorf("i386 socketcall(SYS_SOCKET, AF_VSOCK) = %q, want it refused as on x86_64 (the filter's socket families bypassed)", got[1])
	}
}

// TestHoleCgroupfsBindEscapesDeviceControl: a writable bind of the host's
// cgroup2 hierarchy (--mount /sys/fs/cgroup/unified:/cg, or the whole
// /sys: only binds onto /sys are refused, not from it) lets the task, root
// with CAP_DAC_OVERRIDE, move itself to the root cgroup: out of the device
// program (it makes a node for /dev/kvm in a writable bind, which any host
// user can then open) and out of berth's freeze, kill and limits. A cgroup
// namespace does not stop it: the host's cgroup2 is mounted without
// nsdelegate. Berth refusing the bind (exit 125) also counts as held.
func TestHoleCgroupfsBindEscapesDeviceControl(t *testing.T) {
	t.Parallel()
	bins := attackBins(t)
	for _, c := range []struct{ src, cg string }{
		{cgroup2Root(t), "/cg"},
		{"/sys", "/cg" + strings.TrimPrefix(cgroup2Root(t), "/sys")},
	} {
		host := t.TempDir()
		flags := append(attackMount(bins), "--mount", c.src+":/cg", "--mount", host+":/w")
		res := newTask(t).run(flags, "/bin/sh", "-c", "/a/attack cgmove "+c.cg+" /w/kvm")
		if res.code == 125 && strings.Contains(res.stderr, c.src+":/cg") {
			continue
		}
		got := strings.Split(strings.TrimSpace(res.stdout), "\n")
		if res.code != 0 || len(got) != 2 {
			t.Fatalf("want exit 0 and 2 lines, or a refusal of the bind:\n%s", res)
		}
		if got[0] == "move ok" || got[1] == "mknod ok" {
			t.Errorf("--mount %s:/cg: move to the root cgroup: %q, then mknod of /dev/kvm in a writable bind: %q; want both refused", c.src, got[0], got[1])
		}
		assertNoNodes(t, host)
	}
}

// TestHoleWritableHostProcBind: berth refuses binds onto /proc (its masks
// and read-only /proc/sys), but not a writable bind of the host's /proc
// somewhere else (--mount /proc:/hp, as monitoring agents ask for, often
// without :ro). Through it the task writes global sysctls as host root:
// kernel.core_pattern ("|/path" runs a program as root on the host at the
// next crash). The test writes back the value the host has. Berth
// refusing the bind (exit 125) counts as held.
func TestHoleWritableHostProcBind(t *testing.T) {
	t.Parallel()
	res := newTask(t).run([]string{"--mount", "/proc:/hp"}, "/bin/sh", "-c",
		`v=$(cat /hp/sys/kernel/core_pattern) && printf "%s\n" "$v" > /hp/sys/kernel/core_pattern && echo wrote-core-pattern`)
	if res.code == 125 && strings.Contains(res.stderr, "/proc:/hp") {
		return
	}
	if strings.Contains(res.stdout, "wrote-core-pattern") {
		t.Errorf("through a writable bind of the host's /proc the task wrote the host's kernel.core_pattern:\n%s", res)
	}
}

// TestHoleDacReadSearchAloneReadsHiddenFiles: SECURITY.md warns against
// CAP_DAC_READ_SEARCH together with a --mount of the same filesystem. With
// it alone, and only the default task dir's idmapped system binds, the
// task opens any inode of the host's root filesystem by handle (ext4 does
// not check a zero generation) through the /etc bind: the idmapping limits
// it to files "others" may read, but not to files an unprivileged host
// user can reach: a 0644 file in a root 0700 directory reads fine.
func TestHoleDacReadSearchAloneReadsHiddenFiles(t *testing.T) {
	t.Parallel()
	bins := attackBins(t)
	dir := t.TempDir() // 0700, root's
	secret := filepath.Join(dir, "notes")
	if err := os.WriteFile(secret, []byte("berth secret behind 0700"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(secret, 0o644); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(secret, &st); err != nil {
		t.Fatal(err)
	}
	var etc unix.Statfs_t
	var tmp unix.Statfs_t
	if unix.Statfs("/etc", &etc) != nil || unix.Statfs(dir, &tmp) != nil || etc.Fsid != tmp.Fsid {
		t.Fatalf("the test needs %s on the filesystem of /etc", dir)
	}
	helper, err := os.Open(filepath.Join(bins, "attack"))
	if err != nil {
		t.Fatal(err)
	}
	defer helper.Close()
	// No --mount at all: the helper comes in on stdin, into the task's
	// own /tmp.
	tk := newTask(t)
	res := tk.runBerth(helper, tk.runArgs([]string{"--cap-add", "DAC_READ_SEARCH"}, "/bin/sh", "-c",
		"cat > /tmp/a && chmod 755 /tmp/a && /tmp/a handle /etc "+strconv.FormatUint(st.Ino, 10))...)
	if res.code != 0 {
		t.Fatalf("want exit 0:\n%s", res)
	}
	if strings.Contains(res.stdout, "berth secret") {
		t.Errorf("with CAP_DAC_READ_SEARCH alone the task read %s, inside a 0700 directory no unprivileged host user can enter:\n%s", secret, res)
	}
}

// TestHoleSeccompProfileSpecialFiles: --seccomp reads the file whole with
// os.ReadFile: a fifo blocks berth for ever, /dev/zero (or a huge file)
// grows its memory until the OOM killer or the Go runtime stops it. Either
// should be one clear error.
func TestHoleSeccompProfileSpecialFiles(t *testing.T) {
	t.Parallel()
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	tk := newTask(t)
	for _, file := range []string{fifo, "/dev/zero"} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		// Bounded address space: the /dev/zero case must not take the
		// host's memory with it.
		args := append([]string{"-c", `ulimit -v 2000000; exec "$0" "$@"`, berthBin, "--state-dir", tk.stateDir},
			tk.runArgs([]string{"--seccomp", file}, "/bin/true")...)
		c := exec.CommandContext(ctx, "/bin/sh", args...)
		c.Env = append(os.Environ(), "TMPDIR="+tk.tmpDir)
		out, _ := c.CombinedOutput()
		timedOut := ctx.Err() != nil
		cancel()
		code := -1
		if c.ProcessState != nil {
			code = c.ProcessState.ExitCode()
		}
		if timedOut || code != 125 || !strings.HasPrefix(string(out), "berth: ") {
			hung := ""
			if timedOut {
				hung = " (still blocked after 20s, killed)"
			}
			t.Errorf("--seccomp %s: exit %d%s, want 125 and one berth error line:\n%.400s", file, code, hung, out)
		}
	}
}
