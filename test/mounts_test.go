package test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berthrun/berth/internal/testutil"
	"golang.org/x/sys/unix"
)

// TestStandardMounts: the task's mount table holds its root and the
// standard mounts with their options, and none of the host's mounts.
func TestStandardMounts(t *testing.T) {
	t.Parallel()
	r := newTask(t).report(rootfsFlags(t), rootfsProbe...)

	want := []struct {
		point, fstype string
		opts          []string // per-mount options
		superOpts     []string // filesystem options
	}{
		{"/dev", "tmpfs", []string{"nosuid"}, []string{"mode=755"}},
		{"/proc", "proc", nil, nil},
		{"/dev/pts", "devpts", nil, []string{"ptmxmode=666"}},
		{"/dev/shm", "tmpfs", nil, []string{"size=65536k"}},
		{"/dev/mqueue", "mqueue", nil, nil},
		{"/sys", "sysfs", []string{"ro"}, nil},
	}
	for _, w := range want {
		m := r.mount(w.point)
		if m == nil {
			t.Errorf("no mount at %s", w.point)
			continue
		}
		if m.FSType != w.fstype {
			t.Errorf("%s: fstype %s, want %s", w.point, m.FSType, w.fstype)
		}
		for _, o := range w.opts {
			if !m.hasOpt(o) {
				t.Errorf("%s: options %q lack %q", w.point, m.Options, o)
			}
		}
		for _, o := range w.superOpts {
			if !m.hasSuperOpt(o) {
				t.Errorf("%s: filesystem options %q lack %q", w.point, m.SuperOptions, o)
			}
		}
	}

	// devpts is a new instance: its own superblock, not one of the host's.
	if m := r.mount("/dev/pts"); m != nil {
		for _, l := range hostMountinfo(t) {
			if l.FSType == "devpts" && l.MajorMinor == m.MajorMinor {
				t.Errorf("/dev/pts is the host's devpts %s (mounted at %s), want a new instance", m.MajorMinor, l.MountPoint)
			}
		}
	}

	// The old root is detached: every mount point is the root or under the
	// standard mounts.
	for _, m := range r.Mounts {
		p := m.MountPoint
		if p == "/" || p == "/dev" || p == "/proc" || p == "/sys" ||
			strings.HasPrefix(p, "/dev/") || strings.HasPrefix(p, "/proc/") || strings.HasPrefix(p, "/sys/") {
			continue
		}
		t.Errorf("unexpected mount in the task: %s (%s from %s)", p, m.FSType, m.Source)
	}
	for _, m := range r.Mounts {
		if m.FSType == "cgroup" || m.FSType == "cgroup2" {
			t.Errorf("host cgroup hierarchy visible in the task at %s", m.MountPoint)
		}
	}
}

// hostMountinfo parses the test process's mount table.
func hostMountinfo(t *testing.T) []Mount {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var ms []Mount
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		pre, post, ok := strings.Cut(l, " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 6 || len(g) < 2 {
			continue
		}
		m := Mount{MajorMinor: f[2], Root: f[3], MountPoint: f[4], Options: f[5], FSType: g[0], Source: g[1]}
		if len(g) > 2 {
			m.SuperOptions = g[2]
		}
		ms = append(ms, m)
	}
	return ms
}

// TestDevContents: /dev holds exactly the default devices, with the right
// numbers and modes, and the standard links and directories.
func TestDevContents(t *testing.T) {
	t.Parallel()
	r := newTask(t).report(rootfsFlags(t), rootfsProbe...)

	chars := map[string]string{"null": "1:3", "zero": "1:5", "full": "1:7", "random": "1:8", "urandom": "1:9", "tty": "5:0"}
	for name, rdev := range chars {
		d := r.dev(name)
		switch {
		case d == nil:
			t.Errorf("/dev/%s missing", name)
		case d.Type != "char" || d.Rdev != rdev || d.Mode != "0666":
			t.Errorf("/dev/%s is %s %s mode %s, want char %s mode 0666", name, d.Type, d.Rdev, d.Mode, rdev)
		}
	}
	links := map[string]string{"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"}
	for name, target := range links {
		d := r.dev(name)
		switch {
		case d == nil:
			t.Errorf("/dev/%s missing", name)
		case d.Type != "symlink" || d.Target != target:
			t.Errorf("/dev/%s is %s -> %q, want symlink -> %q", name, d.Type, d.Target, target)
		}
	}
	for _, name := range []string{"pts", "shm", "mqueue"} {
		if d := r.dev(name); d == nil || d.Type != "dir" {
			t.Errorf("/dev/%s: %+v, want a directory", name, d)
		}
	}
	// No host device may reach the task.
	for _, d := range r.Dev {
		if d.Type == "block" {
			t.Errorf("block device /dev/%s (%s) in the task", d.Name, d.Rdev)
		}
		if _, ok := chars[d.Name]; d.Type == "char" && !ok {
			t.Errorf("unexpected char device /dev/%s (%s) in the task", d.Name, d.Rdev)
		}
	}
}

// maskedFiles and maskedDirs are DESIGN.md's masked paths.
var (
	maskedFiles = []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/latency_stats"}
	maskedDirs  = []string{"/proc/acpi", "/proc/scsi", "/sys/firmware"}
)

// TestMaskedPaths: masked files are /dev/null (char 1:3, nothing to read);
// masked directories are empty read-only tmpfs. A path the host's kernel
// does not have is not in the task either and is not checked.
func TestMaskedPaths(t *testing.T) {
	t.Parallel()
	checked := 0
	for _, p := range maskedFiles {
		if !hostHas(p) {
			continue
		}
		checked++
		t.Run(p, func(t *testing.T) {
			t.Parallel()
			tk := newTask(t)
			st := tk.probeStat(rootfsFlags(t), rootfsProbe, p)
			if !st.Exists || st.Type != "char" || st.Rdev != "1:3" {
				t.Errorf("%s: %+v, want char 1:3 (/dev/null)", p, st)
			}
			rd := newTask(t).probeIO(rootfsFlags(t), rootfsProbe, "read", p)
			if !rd.OK || rd.Len != 0 {
				t.Errorf("read %s: %+v, want ok and 0 bytes", p, rd)
			}
		})
	}
	var dirs []string
	for _, p := range maskedDirs {
		if hostHas(p) {
			dirs = append(dirs, p)
		}
	}
	checked += len(dirs)
	if checked == 0 {
		t.Fatal("none of the masked paths exists on the host: the test checks nothing")
	}
	t.Run("dirs", func(t *testing.T) {
		t.Parallel()
		r := newTask(t).report(rootfsFlags(t), rootfsProbe...)
		for _, p := range dirs {
			m := r.mount(p)
			if m == nil {
				t.Errorf("%s: not masked (no mount there)", p)
				continue
			}
			if m.FSType != "tmpfs" || !m.hasOpt("ro") {
				t.Errorf("%s: %s mounted %s, want a read-only tmpfs", p, m.FSType, m.Options)
			}
		}
		for _, p := range dirs {
			st := newTask(t).probeStat(rootfsFlags(t), rootfsProbe, p)
			if !st.Exists || st.Type != "dir" || st.Entries == nil || *st.Entries != 0 {
				t.Errorf("%s: %+v, want an empty directory", p, st)
			}
		}
	})
}

// TestReadOnlyPaths: /proc/sys, /proc/sysrq-trigger, /proc/irq and
// /proc/bus are read-only inside the task.
func TestReadOnlyPaths(t *testing.T) {
	t.Parallel()
	t.Run("writes", func(t *testing.T) {
		t.Parallel()
		// Harmless writes should they get through: the hostname sysctl
		// gets the host's own name back (the task's uts namespace is
		// private anyway), and an empty write to sysrq-trigger triggers
		// nothing.
		hostname, err := os.Hostname()
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range [][]string{
			{"/proc/sys/kernel/hostname", hostname},
			{"/proc/sysrq-trigger", ""},
		} {
			if !hostHas(w[0]) {
				// A kernel without CONFIG_MAGIC_SYSRQ has no
				// sysrq-trigger: nothing to protect.
				continue
			}
			res := newTask(t).probeIO(rootfsFlags(t), rootfsProbe, "write", w[0], w[1])
			if res.OK || res.Error != "read-only file system" {
				t.Errorf("write %s: %+v, want error %q", w[0], res, "read-only file system")
			}
		}
	})
	t.Run("mountinfo", func(t *testing.T) {
		t.Parallel()
		r := newTask(t).report(rootfsFlags(t), rootfsProbe...)
		for _, p := range []string{"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus"} {
			if !hostHas(p) {
				continue
			}
			m := r.mount(p)
			if m == nil || !m.hasOpt("ro") {
				t.Errorf("%s: %+v, want a read-only mount", p, m)
			}
		}
	})
}

// TestBindMounts: --mount binds a host directory read-write or read-only,
// creating a missing mount point in the root.
func TestBindMounts(t *testing.T) {
	t.Parallel()
	rw, ro := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(ro, "hello"), []byte("hi from host"), 0o644); err != nil {
		t.Fatal(err)
	}
	root := newRootfs(t)
	flags := []string{"--rootfs", root, "--mount", rw + ":/data", "--mount", ro + ":/deep/new/ro:ro"}

	w := newTask(t).probeIO(flags, rootfsProbe, "write", "/data/written", "from task")
	if !w.OK {
		t.Errorf("write to the read-write bind: %+v", w)
	}
	if b, err := os.ReadFile(filepath.Join(rw, "written")); err != nil || string(b) != "from task" {
		t.Errorf("host side of the read-write bind: %q, %v; want %q", b, err, "from task")
	}

	rd := newTask(t).probeIO(flags, rootfsProbe, "read", "/deep/new/ro/hello")
	if !rd.OK || rd.Content != "hi from host" {
		t.Errorf("read through the read-only bind: %+v, want %q", rd, "hi from host")
	}
	w = newTask(t).probeIO(flags, rootfsProbe, "write", "/deep/new/ro/x")
	if w.OK || w.Error != "read-only file system" {
		t.Errorf("write to the read-only bind: %+v, want error %q", w, "read-only file system")
	}
	if hostHas(filepath.Join(ro, "x")) {
		t.Errorf("a write through the read-only bind reached the host")
	}

	r := newTask(t).report(flags, rootfsProbe...)
	var points []string
	for _, m := range r.Mounts {
		points = append(points, m.MountPoint)
	}
	for _, p := range []string{"/data", "/deep/new/ro"} {
		if !slices.Contains(points, p) {
			t.Errorf("no mount at %s; mounts: %q", p, points)
		}
	}
	if m := r.mount("/deep/new/ro"); m != nil && !m.hasOpt("ro") {
		t.Errorf("/deep/new/ro mounted %s, want ro", m.Options)
	}
	if m := r.mount("/data"); m != nil && m.hasOpt("ro") {
		t.Errorf("/data mounted %s, want rw", m.Options)
	}
}

// TestMountPropagation: a mount made inside the task never reaches the
// host, even below a bind of a host mount that is shared (whose peers
// would receive it if the task's mounts were not made slave or private).
// Not parallel: it changes the host's mount table while it runs, which
// the other tests' leftover checks would see.
func TestMountPropagation(t *testing.T) {
	testutil.RequireRoot(t)
	shared := t.TempDir()
	if err := unix.Mount("tmpfs", shared, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", shared, err)
	}
	// Detaching takes along anything that propagated below it.
	t.Cleanup(func() {
		if err := unix.Unmount(shared, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", shared, err)
		}
	})
	if err := unix.Mount("", shared, "", unix.MS_SHARED, ""); err != nil {
		t.Fatalf("make %s shared: %v", shared, err)
	}

	tk := newTask(t)
	res := tk.probeIO(rootfsFlags(t, "--cap-add", "SYS_ADMIN", "--mount", shared+":/data"), rootfsProbe, "mount-tmpfs", "/data/sub")
	if !res.OK {
		t.Fatalf("mount in the task: %+v, want ok (the test needs the task's mount to happen)", res)
	}
	for _, m := range hostMountinfo(t) {
		if strings.HasPrefix(m.MountPoint, shared+"/") {
			t.Errorf("the task's mount reached the host at %s", m.MountPoint)
		}
	}
}

// TestNoDeviceNodes: a task holds CAP_MKNOD by default, but the device
// cgroup refuses a node for a host device (here /dev/kmsg, 1:11) wherever
// it would be made: not in /dev, /tmp or /dev/shm of the default task dir,
// not in a --rootfs task dir, not in a read-write --mount (see also
// devices_test.go). Its standard devices (bind mounts of the host's) still
// work.
func TestNoDeviceNodes(t *testing.T) {
	t.Parallel()
	type mknodResult struct {
		Path   string `json:"path"`
		Made   bool   `json:"made"`
		Opened bool   `json:"opened"`
		Error  string `json:"error"`
	}
	rw := t.TempDir()
	cases := []struct {
		name  string
		flags []string
		probe []string
		path  string
	}{
		{"default dev", probeMount(), hostProbe, "/dev/berth-kmsg"},
		{"default tmp", probeMount(), hostProbe, "/tmp/berth-kmsg"},
		{"default shm", probeMount(), hostProbe, "/dev/shm/berth-kmsg"},
		{"rootfs", rootfsFlags(t), rootfsProbe, "/berth-kmsg"},
		{"rw mount", rootfsFlags(t, "--mount", rw+":/data"), rootfsProbe, "/data/berth-kmsg"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := newTask(t).run(c.flags, append(c.probe, "mknod", c.path)...)
			mustSucceed(t, res)
			var m mknodResult
			decodeOne(t, res, &m)
			if m.Made || m.Opened || m.Error != "operation not permitted" {
				t.Errorf("mknod of a node for /dev/kmsg at %s: %+v, want refused with EPERM (device cgroup)", c.path, m)
			}
		})
	}
	w := newTask(t).probeIO(probeMount(), hostProbe, "write", "/dev/null", "x")
	if !w.OK {
		t.Errorf("write to /dev/null: %+v", w)
	}
}
