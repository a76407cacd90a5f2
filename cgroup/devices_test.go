package cgroup

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// devicesHelperEnv makes the test binary, re-executed, try device
// operations: each argument "mknod:PATH" (a char node for 10:232, the
// host's /dev/kvm) or "open:PATH" (read-only), printing one line
// "OP PATH RESULT" each, RESULT "ok" or the errno's name. With
// devicesWaitEnv it first waits for a line on stdin: the release, once it
// has joined its v1 cgroup.
const (
	devicesHelperEnv = "BERTH_CGROUP_TEST_DEVICES"
	devicesWaitEnv   = "BERTH_CGROUP_TEST_DEVICES_WAIT"
)

// kvmMajor, kvmMinor number the device the tests try: /dev/kvm, which
// only root may open on this host, the kind of node a task must not leave
// behind world-writable.
const kvmMajor, kvmMinor = 10, 232

func init() {
	if os.Getenv(devicesHelperEnv) != "" {
		devicesHelper()
		os.Exit(0)
	}
}

// devicesHelper runs in the re-executed test binary, inside the cgroup
// under test.
func devicesHelper() {
	if os.Getenv(devicesWaitEnv) != "" {
		if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
			os.Exit(2)
		}
	}
	for _, arg := range os.Args[1:] {
		op, path, _ := strings.Cut(arg, ":")
		var err error
		switch op {
		case "mknod":
			err = unix.Mknod(path, unix.S_IFCHR|0o600, int(unix.Mkdev(kvmMajor, kvmMinor)))
		case "open":
			var fd int
			if fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
				unix.Close(fd)
			}
		default:
			err = fmt.Errorf("unknown-op-%s", op)
		}
		result := "ok"
		var errno unix.Errno
		switch {
		case errors.As(err, &errno):
			result = unix.ErrnoName(errno)
		case err != nil:
			result = err.Error()
		}
		fmt.Printf("%s %s %s\n", op, path, result)
	}
}

// tryDevices runs devicesHelper with ops, placed by attr (clone3 into a
// cgroup) or by join (after the start, before the release), and returns
// its results by "OP PATH".
func tryDevices(t *testing.T, attr *syscall.SysProcAttr, join func(pid int), ops ...string) map[string]string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, ops...)
	cmd.Env = append(os.Environ(), devicesHelperEnv+"=1")
	if join != nil {
		cmd.Env = append(cmd.Env, devicesWaitEnv+"=1")
	}
	cmd.SysProcAttr = attr
	c := startChild(t, cmd)
	if join != nil {
		join(cmd.Process.Pid)
		c.release(t)
	}
	c.stdin.Close()
	got := map[string]string{}
	for range ops {
		line, err := c.out.ReadString('\n')
		if err != nil {
			t.Fatalf("device helper %v: read: %v (got %v)", ops, err, got)
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("device helper: line %q", line)
		}
		got[f[0]+" "+f[1]] = f[2]
	}
	if err := c.wait(); err != nil {
		t.Fatalf("device helper %v: %v", ops, err)
	}
	return got
}

// assertDevices fails unless each "OP PATH" of want got its result.
func assertDevices(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %s: %q, want %q", what, k, got[k], w)
		}
	}
}

// devicesParent names a cgroup parent of the test's own,
// berth-test-devices-<random>, and removes it from every hierarchy when
// the test ends, after the cgroups below it (cleanups run last first).
func devicesParent(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	parent := "berth-test-devices-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		dirs := []string{filepath.Join(unifiedMount, parent)}
		for _, name := range v1Names {
			dirs = append(dirs, filepath.Join(defaultRoot, name, parent))
		}
		for _, dir := range dirs {
			if err := unix.Rmdir(dir); err != nil && !errors.Is(err, unix.ENOENT) {
				t.Errorf("remove test cgroup parent %s: %v", dir, err)
			}
		}
	})
	return parent
}

// attached lists the device programs attached to the cgroup dir itself
// and their attach flags.
func attached(t *testing.T, dir string) ([]uint32, uint32) {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	ids, flags, err := bpfQueryDevice(fd)
	if err != nil {
		t.Fatalf("query %s: %v", dir, err)
	}
	return ids, flags
}

// assertProgramFreed waits until no program has id: the kernel puts a
// removed cgroup's programs from a workqueue, shortly after the rmdir.
// The 10 s bound only keeps a leak from hanging the test.
func assertProgramFreed(t *testing.T, what string, id uint32) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := bpfProgTag(id)
		if errors.Is(err, unix.ENOENT) {
			return
		}
		if err != nil {
			t.Fatalf("%s: program %d: %v", what, id, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: program %d still loaded 10s after its cgroup was removed", what, id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// bpfProgFDs counts the bpf program fds this process holds.
func bpfProgFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && l == "anon_inode:bpf-prog" {
			n++
		}
	}
	return n
}

func TestDeviceRuleString(t *testing.T) {
	for _, tc := range []struct {
		r    DeviceRule
		want string
	}{
		{DeviceRule{Type: "c", Major: 10, Minor: 232, Access: "rw"}, "c 10:232 rw"},
		{DeviceRule{Type: "c", Major: 136, Minor: -1, Access: "rw"}, "c 136:* rw"},
		{DeviceRule{Type: "b", Major: -1, Minor: -1, Access: "m"}, "b *:* m"},
	} {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.r, got, tc.want)
		}
	}
}

// TestDeviceRulesValidated: New refuses a bad rule naming the field, before
// it touches any cgroup.
func TestDeviceRulesValidated(t *testing.T) {
	root := t.TempDir()
	for _, tc := range []struct {
		r    DeviceRule
		want string
	}{
		{DeviceRule{Type: "a", Major: 1, Minor: 3, Access: "rw"}, `Devices[1]: type "a": want c or b`},
		{DeviceRule{Type: "c", Major: -2, Minor: 3, Access: "rw"}, "Devices[1]: major -2: want -1 (any) to 4095"},
		{DeviceRule{Type: "c", Major: 4096, Minor: 3, Access: "rw"}, "Devices[1]: major 4096"},
		{DeviceRule{Type: "b", Major: 8, Minor: 1 << 20, Access: "r"}, "Devices[1]: minor 1048576: want -1 (any) to 1048575"},
		{DeviceRule{Type: "c", Major: 1, Minor: 3, Access: ""}, "Devices[1]: access is empty"},
		{DeviceRule{Type: "c", Major: 1, Minor: 3, Access: "rx"}, `Devices[1]: access "rx": want some of rwm, each once`},
		{DeviceRule{Type: "c", Major: 1, Minor: 3, Access: "rr"}, `Devices[1]: access "rr"`},
	} {
		ok := DeviceRule{Type: "c", Major: 10, Minor: 200, Access: "rw"}
		_, err := New(Config{Version: V2, V2Mount: root, ID: "t1", Devices: []DeviceRule{ok, tc.r}}, nil)
		wantErr(t, err, tc.want)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("a refused New left %v in %s", entries, root)
	}
}

// TestDefaultDevicesCopy: DefaultDevices hands out a copy; no importer can
// widen what every task gets.
func TestDefaultDevicesCopy(t *testing.T) {
	d := DefaultDevices()
	d[0].Major = -1
	if DefaultDevices()[0].Major != 1 {
		t.Fatal("changing the result of DefaultDevices changed the defaults")
	}
}

// TestDeviceProgramTag: the tag computed for the default program is the
// one the kernel gives it, so that the parent's program is recognised and
// not loaded again on every launch.
func TestDeviceProgramTag(t *testing.T) {
	requireCgroupV2(t, unifiedMount)
	prog, err := defaultProgram()
	if err != nil {
		t.Fatal(err)
	}
	fd, err := bpfLoadDevice(prog.insns, deviceProgName)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	defer unix.Close(fd)
	info, err := bpfProgInfo(fd)
	if err != nil {
		t.Fatalf("info: %v", err)
	}
	if !prog.is(info.tag) {
		t.Fatalf("kernel tag %x, computed %x", info.tag, prog.tags)
	}
	other, err := compileDevices(allowed([]DeviceRule{{Type: "c", Major: 10, Minor: 200, Access: "rw"}}))
	if err != nil {
		t.Fatal(err)
	}
	if other.is(info.tag) {
		t.Fatalf("the program with one more device has the default's tag %x", info.tag)
	}
	if info.progType != unix.BPF_PROG_TYPE_CGROUP_DEVICE {
		t.Fatalf("program type %d", info.progType)
	}
}

// TestTaskCannotMakeHostDeviceNodes runs a process in a task cgroup, on
// the v2 and the hybrid layout of this host's unified hierarchy: it cannot
// make a node for /dev/kvm (in a directory on the host's disk, where any
// host user could open it) nor open the host's /dev/kvm, and can open
// /dev/null; nor can a process in an exec leaf below it. A task given
// 10:232 can do both, in its leaves too, while a sibling still cannot:
// its program overrides the parent's for its own subtree only.
func TestTaskCannotMakeHostDeviceNodes(t *testing.T) {
	requireCgroupV2(t, unifiedMount)
	if _, err := os.Stat("/dev/kvm"); err != nil {
		t.Skipf("host has no /dev/kvm to try: %v", err)
	}
	for _, version := range []int{V2, Hybrid} {
		t.Run(fmt.Sprintf("version %d", version), func(t *testing.T) {
			parent := devicesParent(t)
			dir := t.TempDir()
			n := 0
			run := func(m *Manager, leaf string) map[string]string {
				t.Helper()
				fd, ok := m.FD()
				if leaf != "" {
					l, err := m.NewLeaf(leaf)
					if err != nil {
						t.Fatal(err)
					}
					defer l.Delete()
					fd, ok = l.FD()
				}
				if !ok {
					t.Fatal("no cgroup fd")
				}
				n++
				node := filepath.Join(dir, fmt.Sprintf("kvm-%d", n))
				got := tryDevices(t, &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}, nil,
					"mknod:"+node, "open:/dev/kvm", "open:/dev/null", "open:/dev/urandom")
				got["mknod"] = got["mknod "+node]
				if _, err := os.Lstat(node); err == nil {
					got["on disk"] = "yes"
				}
				return got
			}
			denied := map[string]string{"mknod": "EPERM", "open /dev/kvm": "EPERM", "open /dev/null": "ok", "open /dev/urandom": "ok", "on disk": ""}
			allowed := map[string]string{"mknod": "ok", "open /dev/kvm": "ok", "open /dev/null": "ok", "open /dev/urandom": "ok", "on disk": "yes"}

			plain := newTestManager(t, Config{Version: version, V2Mount: unifiedMount, Parent: parent, ID: "plain"})
			assertDevices(t, "default task", run(plain, ""), denied)
			assertDevices(t, "exec leaf of the default task", run(plain, "exec-1"), denied)

			kvm := newTestManager(t, Config{Version: version, V2Mount: unifiedMount, Parent: parent, ID: "kvm",
				Devices: []DeviceRule{{Type: "c", Major: kvmMajor, Minor: kvmMinor, Access: "rwm"}}})
			assertDevices(t, "task given 10:232", run(kvm, ""), allowed)
			assertDevices(t, "exec leaf of the task given 10:232", run(kvm, "exec-1"), allowed)
			assertDevices(t, "default task beside it", run(plain, ""), denied)

			// One program on the parent, overridable; one on the task with
			// devices, final; none on the default task.
			ids, flags := attached(t, filepath.Join(unifiedMount, parent))
			if len(ids) != 1 || flags != unix.BPF_F_ALLOW_OVERRIDE {
				t.Errorf("parent: programs %v flags %#x, want one with BPF_F_ALLOW_OVERRIDE", ids, flags)
			}
			if ids, _ := attached(t, plain.Paths()["unified"]); len(ids) != 0 {
				t.Errorf("default task: programs %v attached, want none (it inherits the parent's)", ids)
			}
			if ids, flags := attached(t, kvm.Paths()["unified"]); len(ids) != 1 || flags != 0 {
				t.Errorf("task given 10:232: programs %v flags %#x, want one, not overridable", ids, flags)
			}
		})
	}
}

// TestParentFilterOnce: the parent's program is attached on the first
// launch and only found on the next ones; attaching over it (two berths
// racing) leaves one program. Removing the task cgroup frees its own
// program, removing the parent frees the parent's, and no program fd is
// left open in this process.
func TestParentFilterOnce(t *testing.T) {
	requireCgroupV2(t, unifiedMount)
	fdsBefore := bpfProgFDs(t)
	parent := devicesParent(t)
	parentDir := filepath.Join(unifiedMount, parent)
	cfg := Config{Version: Hybrid, Parent: parent, ID: "a"}
	a := newTestManager(t, cfg)
	ids, _ := attached(t, parentDir)
	if len(ids) != 1 {
		t.Fatalf("after the first task: programs %v on the parent, want one", ids)
	}
	first := ids[0]
	cfg.ID = "b"
	b := newTestManager(t, cfg)
	if ids, _ := attached(t, parentDir); len(ids) != 1 || ids[0] != first {
		t.Fatalf("after the second task: programs %v on the parent, want only %d (found, not loaded again)", ids, first)
	}

	// A racing berth that did not see it attaches its own: the kernel
	// replaces the one overridable program.
	fd, err := unix.Open(parentDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	prog, _ := defaultProgram()
	if err := attachDeviceProgram(fd, prog, unix.BPF_F_ALLOW_OVERRIDE); err != nil {
		t.Fatalf("attach again: %v", err)
	}
	unix.Close(fd)
	ids, _ = attached(t, parentDir)
	if len(ids) != 1 || ids[0] == first {
		t.Fatalf("after a racing attach: programs %v, want one that replaced %d", ids, first)
	}
	assertProgramFreed(t, "replaced parent program", first)
	parentProg := ids[0]

	// A task with devices: its program goes with its cgroup.
	cfg.ID = "c"
	cfg.Devices = []DeviceRule{{Type: "c", Major: 10, Minor: 200, Access: "rw"}}
	c, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ids, _ = attached(t, c.Paths()["unified"])
	if len(ids) != 1 {
		t.Fatalf("task with devices: programs %v, want one", ids)
	}
	if err := c.Delete(); err != nil {
		t.Fatal(err)
	}
	assertProgramFreed(t, "deleted task's program", ids[0])
	if got := bpfProgFDs(t); got != fdsBefore {
		t.Errorf("this process holds %d bpf program fds, %d before: one leaked", got, fdsBefore)
	}

	for _, m := range []*Manager{a, b} {
		if err := m.Delete(); err != nil {
			t.Fatal(err)
		}
	}
	// The parent keeps its program while it exists (the design) ...
	if ids, _ := attached(t, parentDir); len(ids) != 1 || ids[0] != parentProg {
		t.Fatalf("parent lost its program: %v", ids)
	}
	// ... and the program goes with it.
	if err := unix.Rmdir(parentDir); err != nil {
		t.Fatal(err)
	}
	assertProgramFreed(t, "removed parent's program", parentProg)
}

// TestParentFilterRefusesForeign: a parent holding a non-overridable
// program of someone else's is an error that names the step and the
// cgroup, not a task left without device control.
func TestParentFilterRefusesForeign(t *testing.T) {
	requireCgroupV2(t, unifiedMount)
	parent := devicesParent(t)
	parentDir := filepath.Join(unifiedMount, parent)
	if err := os.Mkdir(parentDir, 0o755); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(parentDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	foreign, err := compileDevices([]DeviceRule{{Type: "c", Major: -1, Minor: -1, Access: "rwm"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := attachDeviceProgram(fd, foreign, 0); err != nil {
		t.Fatal(err)
	}
	_, err = New(Config{Version: Hybrid, Parent: parent, ID: "x"}, nil)
	wantErr(t, err, "device filter: attach to "+parentDir+": attach program: operation not permitted (1 programs attached there with flags 0x0)")
	if _, err := os.Stat(filepath.Join(parentDir, "x")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refused New left the task cgroup (stat: %v)", err)
	}
}

// TestV1Devices: on cgroup v1 the task's devices cgroup denies everything
// but the defaults (and its own devices), and a process joined to it feels
// it; an exec leaf joins it too.
func TestV1Devices(t *testing.T) {
	requireCgroupV1(t, "freezer", "devices")
	if _, err := os.Stat("/dev/kvm"); err != nil {
		t.Skipf("host has no /dev/kvm to try: %v", err)
	}
	parent := devicesParent(t)
	dir := t.TempDir()

	plain := newTestManager(t, Config{Version: V1, Parent: parent, ID: "plain"})
	devDir := plain.Paths()["devices"]
	if want := filepath.Join(defaultRoot, "devices", parent, "plain"); devDir != want {
		t.Fatalf("Paths()[devices] = %q, want %q", devDir, want)
	}
	var lines []string
	for _, r := range DefaultDevices() {
		lines = append(lines, r.String())
	}
	assertFile(t, filepath.Join(devDir, "devices.list"), strings.Join(lines, "\n"))
	node := filepath.Join(dir, "kvm-plain")
	got := tryDevices(t, nil, func(pid int) {
		if err := plain.Join(pid); err != nil {
			t.Fatal(err)
		}
	}, "mknod:"+node, "open:/dev/kvm", "open:/dev/null")
	assertDevices(t, "v1 default task", got, map[string]string{"mknod " + node: "EPERM", "open /dev/kvm": "EPERM", "open /dev/null": "ok"})

	kvm := newTestManager(t, Config{Version: V1, Parent: parent, ID: "kvm",
		Devices: []DeviceRule{{Type: "c", Major: kvmMajor, Minor: kvmMinor, Access: "rwm"}}})
	// The task's own rules come first, as given, then the defaults.
	assertFile(t, filepath.Join(kvm.Paths()["devices"], "devices.list"), strings.Join(append([]string{"c 10:232 rwm"}, lines...), "\n"))
	node = filepath.Join(dir, "kvm-allowed")
	got = tryDevices(t, nil, func(pid int) {
		if err := kvm.Join(pid); err != nil {
			t.Fatal(err)
		}
	}, "mknod:"+node, "open:/dev/kvm")
	assertDevices(t, "v1 task given 10:232", got, map[string]string{"mknod " + node: "ok", "open /dev/kvm": "ok"})

	// An exec leaf on v1 is a freezer cgroup; its process joins the task's
	// devices cgroup.
	l := kvm.Leaf("exec-1")
	found := false
	for _, j := range l.joins {
		found = found || j == kvm.Paths()["devices"]
	}
	if !found {
		t.Errorf("exec leaf joins %v, not the task's devices cgroup", l.joins)
	}
}

// TestV1DevicesNotMounted: a v1 host without the devices controller is
// refused: a task there could use every device.
func TestV1DevicesNotMounted(t *testing.T) {
	requireCgroupV1(t, "freezer")
	root := t.TempDir()
	// Only the freezer mounted below root: a bind of the real one.
	freezer := filepath.Join(root, "freezer")
	if err := os.Mkdir(freezer, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(filepath.Join(defaultRoot, "freezer"), freezer, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(freezer, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", freezer, err)
		}
	})
	_, err := New(Config{Version: V1, V1Root: root, Parent: "berth-test-devices-none", ID: "x"}, nil)
	wantErr(t, err, "cgroup v1 devices controller is not mounted at "+filepath.Join(root, "devices"))
}

// benchMedian runs op b.N times and reports the median duration as
// median-ns/op (ns/op is the mean).
func benchMedian(b *testing.B, op func(i int)) {
	durs := make([]time.Duration, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		op(i)
		durs[i] = time.Since(start)
	}
	b.StopTimer()
	slices.Sort(durs)
	b.ReportMetric(float64(durs[len(durs)/2].Nanoseconds()), "median-ns/op")
}

// benchParent makes a parent for a benchmark and removes it afterwards.
func benchParent(b *testing.B) (name, dir string) {
	requireCgroupV2(&testing.T{}, unifiedMount)
	buf := make([]byte, 4)
	_, _ = rand.Read(buf)
	name = "berth-test-devices-bench-" + hex.EncodeToString(buf)
	dir = filepath.Join(unifiedMount, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := unix.Rmdir(dir); err != nil {
			b.Errorf("remove %s: %v", dir, err)
		}
	})
	return name, dir
}

// BenchmarkParentFilterFound is what every launch but the first pays:
// the parent's program is there and only queried.
func BenchmarkParentFilterFound(b *testing.B) {
	_, dir := benchParent(b)
	if err := ensureParentFilter(dir); err != nil {
		b.Fatal(err)
	}
	benchMedian(b, func(int) {
		if err := ensureParentFilter(dir); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkTaskFilterAttach is what a task with devices pays: its own
// program loaded and attached to its cgroup (made and removed outside the
// timing).
func BenchmarkTaskFilterAttach(b *testing.B) {
	_, dir := benchParent(b)
	extra := []DeviceRule{{Type: "c", Major: 10, Minor: 232, Access: "rw"}}
	for i := 0; i < b.N; i++ {
		if err := os.Mkdir(filepath.Join(dir, fmt.Sprint(i)), 0o755); err != nil {
			b.Fatal(err)
		}
	}
	b.Cleanup(func() {
		for i := 0; i < b.N; i++ {
			_ = unix.Rmdir(filepath.Join(dir, fmt.Sprint(i)))
		}
	})
	benchMedian(b, func(i int) {
		if err := attachTaskFilter(filepath.Join(dir, fmt.Sprint(i)), extra); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkNewHybrid is cgroup.New and Delete of a hybrid task cgroup
// without limits, without and with a device of its own.
func BenchmarkNewHybrid(b *testing.B) {
	for _, tc := range []struct {
		name    string
		devices []DeviceRule
	}{
		{"default", nil},
		{"with-device", []DeviceRule{{Type: "c", Major: 10, Minor: 232, Access: "rw"}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			parent, _ := benchParent(b)
			warm, err := New(Config{Version: Hybrid, Parent: parent, ID: "warm"}, nil)
			if err != nil {
				b.Fatal(err)
			}
			if err := warm.Delete(); err != nil {
				b.Fatal(err)
			}
			var ms []*Manager
			benchMedian(b, func(i int) {
				m, err := New(Config{Version: Hybrid, Parent: parent, ID: fmt.Sprint(i), Devices: tc.devices}, nil)
				if err != nil {
					b.Fatal(err)
				}
				ms = append(ms, m)
			})
			for _, m := range ms {
				if err := m.Delete(); err != nil {
					b.Error(err)
				}
			}
		})
	}
}

// TestSharedParentGetsNoProgram: a parent that holds others' cgroups (an
// OCI bundle's cgroupsPath: a pod's, a slice; or one not named berth*)
// never gets berth's device program, which would take devices from
// everything below it: the task's own cgroup gets one, and the task is
// still denied.
func TestSharedParentGetsNoProgram(t *testing.T) {
	requireCgroupV2(t, unifiedMount)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	foreign := "shared-test-devices-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		for _, dir := range []string{filepath.Join(unifiedMount, foreign)} {
			if err := unix.Rmdir(dir); err != nil && !errors.Is(err, unix.ENOENT) {
				t.Errorf("remove %s: %v", dir, err)
			}
		}
	})
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"SharedParent", Config{Version: V2, V2Mount: unifiedMount, Parent: devicesParent(t), ID: "task", SharedParent: true}},
		{"not named berth", Config{Version: V2, V2Mount: unifiedMount, Parent: foreign, ID: "task"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newTestManager(t, c.cfg)
			if ids, _ := attached(t, filepath.Join(unifiedMount, c.cfg.Parent)); len(ids) != 0 {
				t.Errorf("parent %s: programs %v attached, want none", c.cfg.Parent, ids)
			}
			if ids, flags := attached(t, m.Paths()["unified"]); len(ids) != 1 || flags != 0 {
				t.Errorf("task: programs %v flags %#x, want its own, not overridable", ids, flags)
			}
			fd, _ := m.FD()
			// /dev/kmsg (1:11): on every host, outside the allowlist.
			got := tryDevices(t, &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}, nil, "open:/dev/kmsg", "open:/dev/null")
			assertDevices(t, "task", got, map[string]string{"open /dev/kmsg": "EPERM", "open /dev/null": "ok"})
		})
	}
}

// TestHybridV1Devices: a hybrid task that asks for the v1 devices
// hierarchy (V1Controllers) gets a devices cgroup there holding its rules,
// its own first, as given, then the defaults, beside the BPF program;
// Delete removes it.
func TestHybridV1Devices(t *testing.T) {
	requireCgroupV2(t, unifiedMount)
	requireCgroupV1(t, "devices")
	parent := devicesParent(t)
	extra := []DeviceRule{{Type: "c", Major: 10, Minor: 229, Access: "rwm"}, {Type: "b", Major: 8, Minor: 20, Access: "rw"}, {Type: "b", Major: 10, Minor: 200, Access: "r"}}
	m, err := New(Config{Version: Hybrid, Parent: parent, ID: "x", Devices: extra, V1Controllers: []string{"devices"}}, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	paths := m.Paths()
	dir := paths["devices"]
	if want := filepath.Join(defaultRoot, "devices", parent, "x"); dir != want {
		t.Fatalf("Paths() = %v, want devices: %s", paths, want)
	}
	var lines []string
	for _, r := range append(extra, DefaultDevices()...) {
		lines = append(lines, r.String())
	}
	assertFile(t, filepath.Join(dir, "devices.list"), strings.Join(lines, "\n"))
	if ids, _ := attached(t, paths["unified"]); len(ids) != 1 {
		t.Errorf("unified cgroup has %d device programs, want its own", len(ids))
	}
	if err := m.Delete(); err != nil {
		t.Fatal(err)
	}
	assertRemoved(t, paths)
}
