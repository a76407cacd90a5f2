package test

// An outside attack pass against issue 9's hardening: seccomp, device
// control, hidden host secrets, limits. Each test is one attempt in the
// attack's shape, by a hostile task (through test/attackdata/attack, a
// static helper built for amd64 and for the i386 compat ABI) or by a
// careless CLI user, and asserts that the defence held. Attempts that got
// through are in attack_holes_test.go (build tag attackholes).

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/berthrun/berth/internal/testutil"
	"golang.org/x/sys/unix"
)

// attackBins builds the attack helper for amd64 (attack) and 386
// (attack386), static, into a directory of the test that a task of any
// user may read, and returns it.
func attackBins(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, arch := range map[string]string{"attack": "amd64", "attack386": "386"} {
		buildAttack(t, "attack", filepath.Join(dir, name), arch)
	}
	return dir
}

// buildAttack builds test/attackdata/PKG, static, for GOARCH arch, to
// out.
func buildAttack(t *testing.T, pkg, out, arch string) {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	c := exec.Command(goBin, "build", "-o", out, "./test/attackdata/"+pkg)
	c.Dir = root
	c.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if b, err := c.CombinedOutput(); err != nil {
		t.Fatalf("build %s for %s: %v\n%s", pkg, arch, err, b)
	}
}

// attackMount binds the helpers' dir read-only at /a.
func attackMount(dir string) []string { return []string{"--mount", dir + ":/a:ro"} }

// attackLines runs a shell script in the task and returns its stdout
// lines; the task must exit 0.
func attackLines(t *testing.T, tk *task, flags []string, script string) []string {
	t.Helper()
	res := tk.run(flags, "/bin/sh", "-c", script)
	if res.code != 0 {
		t.Fatalf("want exit 0:\n%s", res)
	}
	return strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n")
}

// wantLines checks each line against the expectation at its index.
func wantLines(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d lines %q, want %q", what, len(got), got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s: line %d = %q, want %q (all: %q)", what, i, got[i], want[i], got)
		}
	}
}

// cgroup2Root is the host's cgroup2 mount: the unified hierarchy of a
// hybrid host, or /sys/fs/cgroup itself.
func cgroup2Root(t *testing.T) string {
	t.Helper()
	for _, d := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		var st unix.Statfs_t
		if unix.Statfs(d, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			return d
		}
	}
	t.Fatal("no cgroup2 hierarchy at /sys/fs/cgroup/unified or /sys/fs/cgroup")
	return ""
}

// i386 and x86_64 numbers of the calls the attacks use.
const (
	i386Getpid        = 20
	i386Keyctl        = 288
	i386Userfaultfd   = 374
	i386IOUringSetup  = 425
	i386OpenByHandle  = 342
	amd64Keyctl       = 250
	amd64IOUringSetup = 425
	x32Bit            = 0x40000000
)

// TestAttackSeccompI386Compat: a static i386 binary enters the kernel
// through the compat ABI (int 0x80), where every call has another number.
// The filter's i386 section must deny there what it denies on x86_64:
// keyctl (root's user keyring is the host's), userfaultfd, io_uring,
// open_by_handle_at; getpid must still work (the section is not just
// "deny all").
func TestAttackSeccompI386Compat(t *testing.T) {
	t.Parallel()
	bins := attackBins(t)
	got := attackLines(t, newTask(t), attackMount(bins), fmt.Sprintf(
		`/a/attack386 sys %d 0 0 0; /a/attack386 sys %d 0; /a/attack386 sys %d 1 0; /a/attack386 sys %d 3 0 0; /a/attack386 sys %d`,
		i386Keyctl, i386Userfaultfd, i386IOUringSetup, i386OpenByHandle, i386Getpid))
	if len(got) != 5 {
		t.Fatalf("want 5 lines, got %q", got)
	}
	wantLines(t, "i386 keyctl, userfaultfd, io_uring_setup, open_by_handle_at", got[:4], "err EPERM", "err EPERM", "err EPERM", "err EPERM")
	if !strings.HasPrefix(got[4], "ok ") {
		t.Errorf("i386 getpid = %q, want it to work", got[4])
	}
}

// TestAttackSeccompX32AndUnknownNumbers: x86_64 calls with the x32 bit
// (0x40000000) never run, whatever the number (keyctl, getpid, all ones);
// a number past the table gets ENOSYS, not "allowed"; io_uring_setup on
// x86_64 is denied (io_uring would run calls the filter never sees).
func TestAttackSeccompX32AndUnknownNumbers(t *testing.T) {
	t.Parallel()
	bins := attackBins(t)
	got := attackLines(t, newTask(t), attackMount(bins), fmt.Sprintf(
		`/a/attack sys %d 0 0 0; /a/attack sys %d; /a/attack sys %d; /a/attack sys 1000; /a/attack sys %d 1 0`,
		x32Bit|amd64Keyctl, x32Bit|unix.SYS_GETPID, uint32(0xffffffff), amd64IOUringSetup))
	wantLines(t, "x32 keyctl, x32 getpid, nr 0xffffffff, nr 1000, io_uring_setup", got,
		"err EPERM", "err EPERM", "err EPERM", "err ENOSYS", "err EPERM")
}

// TestAttackOpenByHandleNeedsCapability: open_by_handle_at, the way past
// every bind's root (the "shocker" escape), is refused by the filter to a
// task without CAP_DAC_READ_SEARCH, through an idmapped system bind and
// through a plain --mount alike.
func TestAttackOpenByHandleNeedsCapability(t *testing.T) {
	t.Parallel()
	bins := attackBins(t)
	var st unix.Stat_t
	if err := unix.Stat("/etc/passwd", &st); err != nil {
		t.Fatal(err)
	}
	ino := strconv.FormatUint(st.Ino, 10)
	got := attackLines(t, newTask(t), attackMount(bins), "/a/attack handle /etc "+ino+"; /a/attack handle /a "+ino)
	wantLines(t, "open_by_handle_at through /etc and /a", got, "err EPERM", "err EPERM")
}

// TestAttackExecVariantsGetFilter: every way into a running task gets its
// filter: exec as another user (--user, no capabilities, which changes
// the filter's capability-dependent rules), and exec -t on a pty.
func TestAttackExecVariantsGetFilter(t *testing.T) {
	t.Parallel()
	bins := attackBins(t)
	d := newDetached(t)
	d.detach(attackMount(bins), "/bin/sh", "-c", "echo up; exec sleep 1000")
	d.waitOut("up")
	script := fmt.Sprintf(`grep "^Seccomp:" /proc/self/status; /a/attack sys %d 0 0 0; /a/attack386 sys %d 0 0 0`, amd64Keyctl, i386Keyctl)
	res := d.exec([]string{"--user", "1000"}, "/bin/sh", "-c", script)
	if res.code != 0 {
		t.Fatalf("exec --user 1000: want exit 0:\n%s", res)
	}
	wantLines(t, "exec --user 1000", strings.Split(strings.TrimSpace(res.stdout), "\n"), "Seccomp:\t2", "err EPERM", "err EPERM")

	p := testutil.OpenPty(t)
	b := d.task.startOnPty(p, "exec", "-t", d.id, "--", "/bin/sh", "-c", script+"; echo exec-t-done")
	b.waitFor("exec-t-done")
	if code := b.wait(); code != 0 {
		t.Fatalf("exec -t: want exit 0:\n%s", b)
	}
	out := strings.ReplaceAll(b.output(), "\r", "")
	for _, w := range []string{"Seccomp:\t2\n", "err EPERM\nerr EPERM\n"} {
		if !strings.Contains(out, w) {
			t.Errorf("exec -t: want %q on the terminal:\n%s", w, b)
		}
	}
}

// TestAttackDevDirBindOpensNoDevice: a careless `--mount /dev:/x` puts
// the host's device nodes in the task; none of them opens (the bind is
// nodev, and the device program would refuse them anyway), while the
// task's own /dev/null still works.
func TestAttackDevDirBindOpensNoDevice(t *testing.T) {
	t.Parallel()
	bins := attackBins(t)
	var names []string
	for _, n := range []string{"kvm", "loop-control", "kmsg", "net/tun", "tty0", "vda", "sda", "nvme0n1", "mem"} {
		if hostHas("/dev/" + n) {
			names = append(names, n)
		}
	}
	if len(names) < 2 {
		t.Fatalf("host has too few of the devices to try: %q", names)
	}
	var script strings.Builder
	want := make([]string, 0, len(names)+1)
	for _, n := range names {
		fmt.Fprintf(&script, "/a/attack open /x/%s r; ", n)
		want = append(want, "err EACCES")
	}
	script.WriteString("/a/attack open /dev/null rw")
	got := attackLines(t, newTask(t), append(attackMount(bins), "--mount", "/dev:/x"), script.String())
	if len(got) != len(want)+1 {
		t.Fatalf("want %d lines, got %q", len(want)+1, got)
	}
	wantLines(t, fmt.Sprintf("open of host %q through --mount /dev:/x", names), got[:len(want)], want...)
	if !strings.HasPrefix(got[len(want)], "ok ") {
		t.Errorf("the task's own /dev/null: %q, want it to open", got[len(want)])
	}
}

// TestAttackBoundDeviceNoNodeAnywhere: a task given /dev/kvm on purpose
// cannot make another node for it in any writable filesystem of its own
// (/dev, /dev/shm, /tmp): mknod is never granted for a bound device.
func TestAttackBoundDeviceNoNodeAnywhere(t *testing.T) {
	t.Parallel()
	dev := boundDevice(t)
	var st unix.Stat_t
	if err := unix.Stat(dev, &st); err != nil {
		t.Fatal(err)
	}
	mm := fmt.Sprintf("%d %d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	got := attackLines(t, newTask(t), []string{"--mount", dev + ":/dev/bound"},
		`for d in /dev /dev/shm /tmp; do if mknod $d/copy c `+mm+` 2>/dev/null; then echo "made $d"; else echo "denied $d"; fi; done`)
	wantLines(t, "mknod of the bound device", got, "denied /dev", "denied /dev/shm", "denied /tmp")
}

// TestAttackReadOnlyCgroupfsBind: a task given the host's cgroup2
// hierarchy read-only (as monitoring agents are) cannot move itself to the
// root cgroup, out of its device program and out of berth's reach, and so
// still cannot make a node for /dev/kvm in a writable bind.
func TestAttackReadOnlyCgroupfsBind(t *testing.T) {
	t.Parallel()
	bins := attackBins(t)
	host := t.TempDir()
	flags := append(attackMount(bins), "--mount", cgroup2Root(t)+":/cg:ro", "--mount", host+":/w")
	got := attackLines(t, newTask(t), flags, "/a/attack cgmove /cg /w/kvm")
	wantLines(t, "move to the root cgroup, then mknod", got, "move err EROFS", "mknod err EPERM")
	assertNoNodes(t, host)
}

// TestAttackRlimitsCannotBeRaised: hard limits berth set hold against the
// task and against what is exec'd into it: neither can raise them (no
// CAP_SYS_RESOURCE), nor the soft limit past them.
func TestAttackRlimitsCannotBeRaised(t *testing.T) {
	t.Parallel()
	bins := attackBins(t)
	d := newDetached(t)
	d.detach(append(attackMount(bins), "--ulimit", "nofile=100:200", "--ulimit", "nproc=4000:5000"), "/bin/sh", "-c", "echo up; exec sleep 1000")
	d.waitOut("up")
	script := fmt.Sprintf("/a/attack rlimit %d 100 100000; /a/attack rlimit %d 300 200; /a/attack rlimit %d 50 10000; /a/attack rlimit %d 10 20",
		unix.RLIMIT_NOFILE, unix.RLIMIT_NOFILE, unix.RLIMIT_NPROC, unix.RLIMIT_NOFILE)
	for _, flags := range [][]string{nil, {"--user", "1000"}} {
		res := d.exec(flags, "/bin/sh", "-c", script)
		if res.code != 0 {
			t.Fatalf("exec %v: want exit 0:\n%s", flags, res)
		}
		// Lowering is always allowed.
		wantLines(t, fmt.Sprintf("exec %v: raise nofile hard, soft above hard, raise nproc hard, lower nofile", flags),
			strings.Split(strings.TrimSpace(res.stdout), "\n"), "err EPERM", "err EINVAL", "err EPERM", "ok 0")
	}
}

// TestAttackAbsurdUlimits: limits that leave the task (or berth's own
// init stage) no fds, no stack, no memory end as the task's failure or a
// clear berth error, never a crash of berth or a leftover (each task's
// leak check runs at cleanup).
func TestAttackAbsurdUlimits(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"nofile=0", "nofile=3", "nproc=0", "as=1", "stack=1", "data=1", "cpu=0", "fsize=0", "sigpending=0", "memlock=0", "rttime=0", "msgqueue=0"} {
		res := newTask(t).run([]string{"--ulimit", u}, "/bin/true")
		switch {
		case strings.Contains(res.stderr, "panic:") || strings.Contains(res.stderr, "fatal error") || strings.Contains(res.stderr, "goroutine "):
			t.Errorf("--ulimit %s: berth crashed:\n%s", u, res)
		case res.code == -1:
			t.Errorf("--ulimit %s: berth died of a signal:\n%s", u, res)
		case res.code == 125 && !strings.HasPrefix(res.stderr, "berth: "):
			t.Errorf("--ulimit %s: exit 125 without berth's one error line:\n%s", u, res)
		}
	}
}

// TestAttackSeccompProfileEdges: profiles a careless or hostile user may
// pass: a symlink loop, a directory, a 10,000-rule profile, an unknown or
// foreign-only architecture, an out-of-range errno or argument index,
// TSYNC: each is one clear error (exit 125, nothing left), none a
// crash or a task run without a filter.
func TestAttackSeccompProfileEdges(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	dir := t.TempDir()
	loop1, loop2 := filepath.Join(dir, "loop1"), filepath.Join(dir, "loop2")
	if err := os.Symlink(loop2, loop1); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(loop1, loop2); err != nil {
		t.Fatal(err)
	}
	var big strings.Builder
	big.WriteString(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[`)
	for i := range 10000 {
		if i > 0 {
			big.WriteString(",")
		}
		fmt.Fprintf(&big, `{"names":["getpid"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":%d,"op":"SCMP_CMP_EQ"}]}`, i)
	}
	big.WriteString("]}")
	cases := map[string]struct{ file, want string }{
		"symlink loop": {loop1, "too many levels of symbolic links"},
		"directory":    {dir, "not a regular file"},
		"10k rules":    {writeFile(t, dir, "big.json", big.String()), "more than the kernel's 4096"},
		"unknown arch": {writeFile(t, dir, "arch.json", `{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_FOO"]}`), "unknown architecture"},
		"foreign arch": {writeFile(t, dir, "aarch.json", `{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_AARCH64"]}`), "SCMP_ARCH_X86_64"},
		"errno":        {writeFile(t, dir, "errno.json", `{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":99999}`), "out of range"},
		"arg index":    {writeFile(t, dir, "idx.json", `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getpid"],"action":"SCMP_ACT_ERRNO","args":[{"index":7,"value":1,"op":"SCMP_CMP_EQ"}]}]}`), "out of range"},
		"tsync":        {writeFile(t, dir, "tsync.json", `{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_TSYNC"]}`), "not supported"},
	}
	for name, c := range cases {
		res := tk.run([]string{"--seccomp", c.file}, "/bin/true")
		if res.code != 125 || !strings.HasPrefix(res.stderr, "berth: ") || !strings.Contains(res.stderr, c.want) {
			t.Errorf("%s profile: want exit 125 and one berth error naming %q:\n%s", name, c.want, res)
		}
	}
}

// TestAttackUserCapAddAll: --user 1000 --cap-add ALL gives the user the
// capabilities asked for, but never past berth's bounding set (this
// machine has no CAP_SYS_RESOURCE), and the task keeps no_new_privs and a
// filter.
func TestAttackUserCapAddAll(t *testing.T) {
	t.Parallel()
	got := attackLines(t, newTask(t), []string{"--user", "1000", "--cap-add", "ALL"},
		`grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status | tr -d '\t'`)
	fields := map[string]string{}
	for _, l := range got {
		k, v, _ := strings.Cut(l, ":")
		fields[k] = v
	}
	var bnd uint64
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CapBnd:"); ok {
			bnd, _ = strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	eff, err := strconv.ParseUint(fields["CapEff"], 16, 64)
	if err != nil {
		t.Fatalf("task status: %q", got)
	}
	if eff == 0 || eff&^bnd != 0 {
		t.Errorf("CapEff %x: want the capabilities added, all within berth's bounding set %x", eff, bnd)
	}
	if fields["NoNewPrivs"] != "1" || fields["Seccomp"] != "2" {
		t.Errorf("--user 1000 --cap-add ALL: %q, want NoNewPrivs 1 and Seccomp 2", got)
	}
}

// TestAttackReadOnlyHostProcBind: the host's /proc bound read-only (as a
// monitoring agent is) gives the task no way to write a global sysctl:
// kernel.core_pattern stays read-only through it.
func TestAttackReadOnlyHostProcBind(t *testing.T) {
	t.Parallel()
	got := attackLines(t, newTask(t), []string{"--mount", "/proc:/hp:ro"},
		`v=$(cat /hp/sys/kernel/core_pattern) || exit 1; if printf "%s\n" "$v" 2>/dev/null > /hp/sys/kernel/core_pattern; then echo wrote; else echo refused; fi`)
	wantLines(t, "write of the host's kernel.core_pattern through --mount /proc:/hp:ro", got, "refused")
}

// TestAttackInterruptWithBoundDevice: Ctrl-C on a foreground task that
// has a device program of its own (a bound device) leaves nothing: its
// cgroup (and with it the program) goes, like every other task's (the
// leak check at cleanup).
func TestAttackInterruptWithBoundDevice(t *testing.T) {
	t.Parallel()
	dev := boundDevice(t)
	tk := newTask(t)
	p := tk.start(nil, tk.runArgs([]string{"--mount", dev + ":" + dev}, "/bin/sh", "-c",
		`trap "exit 3" INT TERM; exec 3<>`+dev+` || exit 1; echo ready; while :; do sleep 1; done`)...)
	p.waitLine("ready")
	p.signal(unix.SIGINT)
	res := p.wait()
	if res.code != 3 {
		t.Errorf("berth after SIGINT: want exit 3 (the task trapped its stop signal):\n%s", res)
	}
}

// TestAttackForeignProgramOnCgroupParent: a --cgroup-parent that already
// holds someone else's device program allowing everything (attached
// non-overridable, or as one of several) must not leave the task with
// every device: berth either refuses to launch, naming the device filter,
// or its own program still refuses the task's mknod of /dev/kvm.
func TestAttackForeignProgramOnCgroupParent(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		flags uint32
	}{{"non-overridable", 0}, {"multi", unix.BPF_F_ALLOW_MULTI}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			parent := uniqueID(t)
			parent = "berth-test-" + parent[len(parent)-8:]
			dir := filepath.Join(cgroup2Root(t), parent)
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			// Registered first, so that it runs after the task's own
			// leftover check: the parent is ours to remove (its program
			// goes with it).
			t.Cleanup(func() {
				dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", parent))
				dirs = append(dirs, dir)
				for _, d := range dirs {
					if err := unix.Rmdir(d); err != nil && err != unix.ENOENT {
						t.Errorf("remove %s: %v", d, err)
					}
				}
			})
			attachAllowAll(t, dir, c.flags)
			tk := newTask(t)
			tk.global = []string{"--cgroup-parent", parent}
			tk.cgParent = parent
			host := t.TempDir()
			res := tk.run([]string{"--mount", host + ":/w"}, "/bin/sh", "-c", `mknod /w/kvm c 10 232 2>/dev/null && echo made || echo denied`)
			switch {
			case res.code == 125 && strings.HasPrefix(res.stderr, "berth: ") && strings.Contains(res.stderr, "device filter"):
				t.Logf("refused: %s", res.stderr)
			case res.code == 0 && res.stdout == "denied\n":
				t.Logf("launched, mknod denied")
			default:
				t.Errorf("want a refusal naming the device filter, or the mknod denied:\n%s", res)
			}
			assertNoNodes(t, host)
		})
	}
}

// attachAllowAll attaches to the cgroup dir a device program that allows
// every access, with flags, as another tool on the host might.
func attachAllowAll(t *testing.T, dir string, flags uint32) {
	t.Helper()
	// BPF_MOV64_IMM(R0, 1); BPF_EXIT.
	insns := []byte{0xb7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0}
	license := []byte("Apache-2.0\x00")
	load := struct {
		progType, insnCnt uint32
		insns, license    uint64
	}{unix.BPF_PROG_TYPE_CGROUP_DEVICE, 2, uint64(uintptr(unsafe.Pointer(&insns[0]))), uint64(uintptr(unsafe.Pointer(&license[0])))}
	r, _, e := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&load)), unsafe.Sizeof(load))
	runtime.KeepAlive(insns)
	runtime.KeepAlive(license)
	if e != 0 {
		t.Fatalf("load allow-all device program: %v", e)
	}
	prog := int(r)
	defer unix.Close(prog)
	cg, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(cg)
	attach := struct{ target, prog, typ, flags uint32 }{uint32(cg), uint32(prog), unix.BPF_CGROUP_DEVICE, flags}
	if _, _, e := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_ATTACH, uintptr(unsafe.Pointer(&attach)), unsafe.Sizeof(attach)); e != 0 {
		t.Fatalf("attach allow-all device program to %s: %v", dir, e)
	}
}
