package test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Device control: a task holds CAP_MKNOD, and a node it makes in a
// writable bind (or in a --rootfs directory) lives on the host's disk,
// where any host user could open it. The device cgroup refuses the mknod
// (and the open of any device but the defaults and those bound in on
// purpose), in the task and in everything exec'd into it.

// plantScript tries to make a node, world-writable, in /w for each device
// a host user must not reach through a task: /dev/kvm, /dev/loop-control,
// the block device loop0, a pty of the host's devpts (136:0) and
// /dev/kmsg. It prints "made NAME" or "denied NAME" for each.
const plantScript = `for n in "kvm c 10 232" "loop-control c 10 237" "loop0 b 7 0" "pts0 c 136 0" "kmsg c 1 11"; do
	set -- $n
	if mknod -m 666 /w/$1 $2 $3 $4 2>/dev/null; then echo "made $1"; else echo "denied $1"; fi
done`

// assertPlantDenied checks plantScript's output: every mknod refused.
func assertPlantDenied(t *testing.T, res result) {
	t.Helper()
	for _, name := range []string{"kvm", "loop-control", "loop0", "pts0", "kmsg"} {
		if !strings.Contains(res.stdout, "denied "+name+"\n") {
			t.Errorf("mknod of a node for %s in a writable bind was not refused:\n%s", name, res)
		}
	}
}

// assertNoNodes fails if dir on the host holds any device node, and
// says whether a host process could open it.
func assertNoNodes(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeDevice == 0 {
			return nil
		}
		opened := "and the host cannot open it"
		if fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0); err == nil {
			unix.Close(fd)
			opened = "AND THE HOST OPENS IT"
		}
		t.Errorf("the task left a device node on the host's disk: %s (%v) %s", path, d.Type(), opened)
		return os.Remove(path)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestTaskCannotPlantDeviceNodeInBind: a task cannot make a node for a
// host device in a writable bind of a host directory: mknod fails with
// EPERM and nothing is left on the host.
func TestTaskCannotPlantDeviceNodeInBind(t *testing.T) {
	t.Parallel()
	host := t.TempDir()
	res := newTask(t).run([]string{"--mount", host + ":/w"}, "/bin/sh", "-c",
		`mknod /w/kvm c 10 232; echo "mknod=$?"; `+plantScript)
	if res.code != 0 {
		t.Fatalf("want exit 0:\n%s", res)
	}
	if !strings.Contains(res.stdout, "mknod=1\n") || !strings.Contains(res.stderr, "Operation not permitted") {
		t.Errorf("mknod /w/kvm c 10 232: want it refused with EPERM:\n%s", res)
	}
	assertPlantDenied(t, res)
	assertNoNodes(t, host)
}

// TestTaskCannotPlantDeviceNodeInRootfs: the same in a --rootfs task dir,
// which is a host directory too.
func TestTaskCannotPlantDeviceNodeInRootfs(t *testing.T) {
	t.Parallel()
	type mknodResult struct {
		Made  bool   `json:"made"`
		Error string `json:"error"`
	}
	flags := rootfsFlags(t)
	root := flags[1]
	res := newTask(t).run(flags, append(rootfsProbe, "mknod", "/tmp/berth-kmsg")...)
	mustSucceed(t, res)
	var m mknodResult
	decodeOne(t, res, &m)
	if m.Made || m.Error != "operation not permitted" {
		t.Errorf("mknod of /dev/kmsg (1:11) in the --rootfs dir: %+v, want refused with EPERM", m)
	}
	assertNoNodes(t, root)
}

// TestExecCannotPlantDeviceNode: a process exec'd into a running task
// (it lives in a leaf below the task's cgroup) is held the same way.
func TestExecCannotPlantDeviceNode(t *testing.T) {
	t.Parallel()
	host := t.TempDir()
	d := newDetached(t)
	d.detach([]string{"--mount", host + ":/w"}, "/bin/sh", "-c", "echo up; exec sleep 1000")
	d.waitOut("up")
	res := d.exec(nil, "/bin/sh", "-c", plantScript)
	if res.code != 0 {
		t.Fatalf("want exit 0:\n%s", res)
	}
	assertPlantDenied(t, res)
	assertNoNodes(t, host)
}

// TestDefaultDevicesWork: the task's own devices still work: null, zero,
// full, random, urandom, and ptmx of its devpts.
func TestDefaultDevicesWork(t *testing.T) {
	t.Parallel()
	script := `cat /dev/null && echo null-read
echo x > /dev/null && echo null-write
[ "$(head -c 16 /dev/zero | wc -c)" = 16 ] && echo zero
[ "$(head -c 16 /dev/urandom | wc -c)" = 16 ] && echo urandom
[ "$(head -c 16 /dev/random | wc -c)" = 16 ] && echo random
[ "$(head -c 16 /dev/full | wc -c)" = 16 ] && echo full-read
dd if=/dev/zero of=/dev/full bs=1 count=1 2>&1 | grep -q "No space left" && echo full-write
exec 3<>/dev/ptmx && echo ptmx`
	res := newTask(t).run(nil, "/bin/sh", "-c", script)
	mustSucceed(t, res)
	for _, w := range []string{"null-read", "null-write", "zero", "urandom", "random", "full-read", "full-write", "ptmx"} {
		if !strings.Contains(res.stdout, w+"\n") {
			t.Errorf("%s did not work in the task:\n%s", w, res)
		}
	}
}

// boundDevice is a host character device only root may open, to bind into
// a task: /dev/kvm where the host has it, else another.
func boundDevice(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/dev/kvm", "/dev/net/tun", "/dev/loop-control"} {
		var st unix.Stat_t
		if unix.Stat(p, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFCHR {
			return p
		}
	}
	t.Skip("host has none of /dev/kvm, /dev/net/tun, /dev/loop-control to bind")
	return ""
}

// TestBoundDeviceOpens: a device the user binds in on purpose
// (--mount /dev/kvm:/dev/kvm) opens inside, for reading and writing;
// other devices are still refused (a node for /dev/kmsg, even in the
// task's own nodev /tmp).
func TestBoundDeviceOpens(t *testing.T) {
	t.Parallel()
	dev := boundDevice(t)
	res := newTask(t).run([]string{"--mount", dev + ":" + dev}, "/bin/sh", "-c",
		`exec 3<>`+dev+` && echo opened; mknod /tmp/kmsg c 1 11 2>/dev/null && echo made-kmsg; true`)
	if res.code != 0 || !strings.Contains(res.stdout, "opened\n") {
		t.Errorf("%s bound in: want it to open for reading and writing:\n%s", dev, res)
	}
	if strings.Contains(res.stdout, "made-kmsg") {
		t.Errorf("a task given %s could make a node for /dev/kmsg, a device not bound in:\n%s", dev, res)
	}
}

// TestBoundDeviceCannotBeCopiedToHost: binding /dev/kvm in lets the task
// use it, not make a node for it in a writable bind, where every host
// user could open the device through it.
func TestBoundDeviceCannotBeCopiedToHost(t *testing.T) {
	t.Parallel()
	dev := boundDevice(t)
	var st unix.Stat_t
	if err := unix.Stat(dev, &st); err != nil {
		t.Fatal(err)
	}
	host := t.TempDir()
	res := newTask(t).run([]string{"--mount", dev + ":/bound", "--mount", host + ":/w"}, "/bin/sh", "-c",
		`exec 3<>/bound && echo opened; mknod -m 666 /w/copy c `+
			strconv.FormatUint(uint64(unix.Major(st.Rdev)), 10)+" "+strconv.FormatUint(uint64(unix.Minor(st.Rdev)), 10)+` && echo made`)
	if !strings.Contains(res.stdout, "opened\n") {
		t.Errorf("%s bound in: want it to open:\n%s", dev, res)
	}
	if strings.Contains(res.stdout, "made") {
		t.Errorf("the task made a node for the bound %s in a writable bind:\n%s", dev, res)
	}
	assertNoNodes(t, host)
}
