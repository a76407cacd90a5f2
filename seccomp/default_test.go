package seccomp

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berthrun/berth/caps"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// berthCaps is berth's default capability set (DESIGN.md).
var berthCaps = []string{"CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_MKNOD", "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP",
	"CAP_SETUID", "CAP_SYS_CHROOT"}

func compileDefault(t testing.TB, caps []string) *Program {
	t.Helper()
	s, err := Default(caps)
	if err != nil {
		t.Fatal(err)
	}
	return mustCompile(t, s)
}

func TestDefaultProfile(t *testing.T) {
	p := compileDefault(t, berthCaps)
	// The kernel runs the filter on every call: keep the walk short. The
	// longest path through the program bounds any call's cost.
	long := longestPath(p.Raw)
	most, mostName := 0, ""
	for _, e := range tableX86_64.calls {
		for _, a := range []uint64{0, 1, 40, 0xffffffff, 0x7e020000} {
			if _, n, _ := run(p.Raw, x64(e.nr, a, a, a)); n > most {
				most, mostName = n, e.name
			}
		}
	}
	_, readSteps, _ := run(p.Raw, x64(0))
	t.Logf("Docker's default, berth's caps: %d instructions, longest path %d, most run %d (%s), read %d; unknown names %s",
		p.Len(), long, most, mostName, readSteps, p.Unknown)
	if long > 32 {
		t.Errorf("longest path %d instructions: the search or the set tests regressed", long)
	}
	for _, name := range []string{"keyctl", "add_key", "request_key", "unshare", "mount", "umount2", "bpf",
		"kcmp", "pidfd_getfd", "kexec_load", "open_by_handle_at", "init_module", "setns", "listns"} {
		if got := eval(t, p, x64(nrOf(t, &tableX86_64, name))); got != retEPERM {
			t.Errorf("%s: got %s, want ERRNO(EPERM)", name, retName(got))
		}
		if got := eval(t, p, i386(nrOf(t, &tableI386, name))); got != retEPERM {
			t.Errorf("i386 %s: got %s, want ERRNO(EPERM)", name, retName(got))
		}
	}
	// ptrace: Docker allows it to all from kernel 4.8 on (before, ptrace
	// could bypass seccomp); kcmp and pidfd_getfd above follow CAP_SYS_PTRACE.
	for _, name := range []string{"read", "write", "execve", "getpid", "futex", "openat", "mmap", "exit_group", "rt_sigreturn", "chroot", "ptrace"} {
		if got := eval(t, p, x64(nrOf(t, &tableX86_64, name))); got != allow {
			t.Errorf("%s: got %s, want ALLOW", name, retName(got))
		}
	}
	for _, name := range []string{"read", "socketcall", "_llseek", "mmap2"} {
		if got := eval(t, p, i386(nrOf(t, &tableI386, name))); got != allow {
			t.Errorf("i386 %s: got %s, want ALLOW", name, retName(got))
		}
	}

	// clone: a thread or a fork is fine, a new namespace is not.
	clone := nrOf(t, &tableX86_64, "clone")
	threadFlags := uint64(unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD |
		unix.CLONE_SYSVSEM | unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_CLEARTID)
	for _, c := range []struct {
		flags uint64
		want  uint32
	}{
		{threadFlags, allow},
		{uint64(unix.SIGCHLD), allow},
		{uint64(unix.SIGCHLD | unix.CLONE_NEWNS), retEPERM},
		{uint64(unix.SIGCHLD | unix.CLONE_NEWUSER), retEPERM},
		{threadFlags | unix.CLONE_NEWPID, retEPERM},
	} {
		if got := eval(t, p, x64(clone, c.flags)); got != c.want {
			t.Errorf("clone(%#x): got %s, want %s", c.flags, retName(got), retName(c.want))
		}
		if got := eval(t, p, i386(nrOf(t, &tableI386, "clone"), c.flags)); got != c.want {
			t.Errorf("i386 clone(%#x): got %s, want %s", c.flags, retName(got), retName(c.want))
		}
	}
	// clone3 cannot be filtered by flags (they sit in memory): ENOSYS, so
	// libc falls back to clone.
	if got := eval(t, p, x64(nrOf(t, &tableX86_64, "clone3"))); got != retENOSYS {
		t.Errorf("clone3: got %s, want ERRNO(ENOSYS)", retName(got))
	}
	// socket: families by value, AF_VSOCK (40) denied.
	socket := nrOf(t, &tableX86_64, "socket")
	for fam, want := range map[uint64]uint32{unix.AF_UNIX: allow, unix.AF_INET: allow, unix.AF_INET6: allow,
		unix.AF_NETLINK: allow, unix.AF_VSOCK: retEPERM, 0x100000001: retEPERM} {
		if got := eval(t, p, x64(socket, fam)); got != want {
			t.Errorf("socket(%#x): got %s, want %s", fam, retName(got), retName(want))
		}
	}
	// personality: the listed values only.
	pers := nrOf(t, &tableX86_64, "personality")
	for v, want := range map[uint64]uint32{0: allow, 8: allow, 0xffffffff: allow, 0x20000: allow, 1: retEPERM, 0x0400000: retEPERM} {
		if got := eval(t, p, x64(pers, v)); got != want {
			t.Errorf("personality(%#x): got %s, want %s", v, retName(got), retName(want))
		}
	}
	// Newer than the table: ENOSYS; x32: the default.
	if got := eval(t, p, x64(1000)); got != retENOSYS {
		t.Errorf("nr 1000: got %s", retName(got))
	}
	if got := eval(t, p, x64(x32Bit|39)); got != retEPERM {
		t.Errorf("x32 getpid: got %s", retName(got))
	}
}

func TestDefaultFollowsCaps(t *testing.T) {
	mount := nrOf(t, &tableX86_64, "mount")
	clone3 := nrOf(t, &tableX86_64, "clone3")
	clone := nrOf(t, &tableX86_64, "clone")
	admin := compileDefault(t, append(append([]string(nil), berthCaps...), "CAP_SYS_ADMIN"))
	for _, c := range []struct {
		c    call
		want uint32
	}{
		{x64(mount), allow},
		{x64(clone3), allow},
		{x64(clone, unix.CLONE_NEWNS), allow},
	} {
		if got := eval(t, admin, c.c); got != c.want {
			t.Errorf("with CAP_SYS_ADMIN: nr %d: got %s, want %s", c.c.nr, retName(got), retName(c.want))
		}
	}
	if got := eval(t, admin, x64(nrOf(t, &tableX86_64, "kcmp"))); got != retEPERM {
		t.Errorf("kcmp with CAP_SYS_ADMIN only: got %s", retName(got))
	}
	// kcmp follows CAP_SYS_PTRACE.
	kcmp := nrOf(t, &tableX86_64, "kcmp")
	if got := eval(t, compileDefault(t, berthCaps), x64(kcmp)); got != retEPERM {
		t.Errorf("kcmp without CAP_SYS_PTRACE: got %s", retName(got))
	}
	if got := eval(t, compileDefault(t, append([]string{"CAP_SYS_PTRACE"}, berthCaps...)), x64(kcmp)); got != allow {
		t.Errorf("kcmp with CAP_SYS_PTRACE: got %s", retName(got))
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Plain OCI LinuxSeccomp JSON.
	oci := write("oci.json", `{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"architectures":["SCMP_ARCH_X86_64"],
		"flags":["SECCOMP_FILTER_FLAG_LOG"],
		"syscalls":[{"names":["getpid"],"action":"SCMP_ACT_ALLOW"},
		{"names":["kill"],"action":"SCMP_ACT_ERRNO","errnoRet":13,"args":[{"index":1,"value":9,"op":"SCMP_CMP_EQ"}]}]}`)
	s, err := LoadFile(oci, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := mustCompile(t, s)
	if p.Flags != unix.SECCOMP_FILTER_FLAG_LOG {
		t.Errorf("flags %#x", p.Flags)
	}
	kill := nrOf(t, &tableX86_64, "kill")
	for _, c := range []struct {
		c    call
		want uint32
	}{{x64(39), allow}, {x64(kill, 1, 9), errnoRet(13)}, {x64(kill, 1, 15), retENOSYS}, {i386(20), killProc}} {
		if got := eval(t, p, c.c); got != c.want {
			t.Errorf("oci profile: nr %d: got %s, want %s", c.c.nr, retName(got), retName(c.want))
		}
	}

	// Docker's format: archMap, includes by caps, the old "name".
	docker := write("docker.json", `{"defaultAction":"SCMP_ACT_ERRNO",
		"archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86"]}],
		"syscalls":[{"name":"getpid","action":"SCMP_ACT_ALLOW"},
		{"names":["mount"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}}]}`)
	for _, c := range []struct {
		caps  []string
		mount uint32
	}{{nil, retEPERM}, {[]string{"CAP_SYS_ADMIN"}, allow}} {
		s, err := LoadFile(docker, c.caps)
		if err != nil {
			t.Fatal(err)
		}
		p := mustCompile(t, s)
		if got := eval(t, p, i386(20)); got != allow {
			t.Errorf("docker profile: i386 getpid: got %s (archMap not applied?)", retName(got))
		}
		if got := eval(t, p, x64(nrOf(t, &tableX86_64, "mount"))); got != c.mount {
			t.Errorf("docker profile, caps %v: mount: got %s, want %s", c.caps, retName(got), retName(c.mount))
		}
	}

	// Errors name the file.
	for name, body := range map[string]string{
		"bad.json":   `{"defaultAction":`,
		"empty.json": `{}`,
		"null.json":  `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[null]}`,
		"both.json":  `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"a","names":["b"],"action":"SCMP_ACT_ALLOW"}]}`,
	} {
		path := write(name, body)
		if _, err := LoadFile(path, nil); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: got %v, want an error naming the file", name, err)
		}
	}
	missing := filepath.Join(dir, "missing.json")
	if _, err := LoadFile(missing, nil); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: %v", err)
	}
}

// BenchmarkCompileDefault is the per-launch cost of Docker's default:
// resolving it for a capability set and compiling it.
func BenchmarkCompileDefault(b *testing.B) {
	for b.Loop() {
		s, err := Default(berthCaps)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Compile(s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompileDefaultCached is what a launch pays with the cache.
func BenchmarkCompileDefaultCached(b *testing.B) {
	for b.Loop() {
		if _, err := CompileDefault(berthCaps); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCompileDefaultCache: the cached program is the one Compile makes,
// keyed by the set (not the order), and each caller gets its own copy.
func TestCompileDefaultCache(t *testing.T) {
	want := compileDefault(t, berthCaps)
	rev := slices.Clone(berthCaps)
	slices.Reverse(rev)
	a, err := CompileDefault(berthCaps)
	if err != nil {
		t.Fatal(err)
	}
	a.Raw[0] ^= 0xff // a caller scribbling on its copy
	b, err := CompileDefault(append(rev, berthCaps[0]))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Raw, want.Raw) || b.Flags != want.Flags || !slices.Equal(b.Unknown, want.Unknown) {
		t.Errorf("cached program differs from a fresh compile")
	}
	admin, err := CompileDefault(append(slices.Clone(berthCaps), "CAP_SYS_ADMIN"))
	if err != nil {
		t.Fatal(err)
	}
	if got := eval(t, admin, x64(nrOf(t, &tableX86_64, "mount"))); got != allow {
		t.Errorf("CAP_SYS_ADMIN set got the cache entry of another set: mount %s", retName(got))
	}
}

func BenchmarkCompileOnly(b *testing.B) {
	s, err := Default(berthCaps)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Compile(s); err != nil {
			b.Fatal(err)
		}
	}
}

// keep specs imported for helpers shared with other test files.
var _ = specs.ActAllow

// TestDefaultTightened: the two gaps of Docker's profile berth closes.
// i386's socketcall(SYS_SOCKET) hides the address family in memory (a
// 32-bit task made AF_VSOCK sockets the x86_64 rules refuse); the other
// socketcall calls work. open_by_handle_at stays denied with
// CAP_DAC_READ_SEARCH (it opens files by inode, past any directory).
func TestDefaultTightened(t *testing.T) {
	p := compileDefault(t, berthCaps)
	socketcall := nrOf(t, &tableI386, "socketcall")
	if got := eval(t, p, i386(socketcall, 1)); got != retEPERM {
		t.Errorf("i386 socketcall(SYS_SOCKET): got %s, want EPERM", retName(got))
	}
	for _, call := range []uint64{2, 3, 8, 9, 10} { // bind, connect, socketpair, send, recv
		if got := eval(t, p, i386(socketcall, call)); got != allow {
			t.Errorf("i386 socketcall(%d): got %s, want ALLOW", call, retName(got))
		}
	}
	if got := eval(t, p, i386(nrOf(t, &tableI386, "socket"), unix.AF_VSOCK)); got != retEPERM {
		t.Errorf("i386 socket(AF_VSOCK): got %s, want EPERM", retName(got))
	}
	dac := compileDefault(t, append([]string{"CAP_DAC_READ_SEARCH"}, berthCaps...))
	for _, c := range []call{x64(nrOf(t, &tableX86_64, "open_by_handle_at")), i386(nrOf(t, &tableI386, "open_by_handle_at"))} {
		if got := eval(t, dac, c); got != retEPERM {
			t.Errorf("open_by_handle_at with CAP_DAC_READ_SEARCH: nr %d: got %s, want EPERM", c.nr, retName(got))
		}
	}
}

// TestPrecompiledDefault: the program embedded for berth's default
// capability set is what Compile makes of Docker's default for it now;
// when the profile, the tables or the compiler change, `go generate
// ./seccomp` refreshes it. CompileDefault hands it out for that set.
func TestPrecompiledDefault(t *testing.T) {
	fresh, err := CompileFresh(caps.Default)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh.Raw, precompiled.Raw) || fresh.Flags != precompiled.Flags || !slices.Equal(fresh.Unknown, precompiled.Unknown) {
		t.Fatalf("zdefault.go is stale (%d instructions embedded, %d compiled): run go generate ./seccomp", precompiled.Len(), fresh.Len())
	}
	got, err := CompileDefault(append([]string{"CAP_KILL"}, caps.Default...)) // order and duplicates do not matter
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Raw, fresh.Raw) {
		t.Error("CompileDefault of the default set differs from Compile's")
	}
	got.Raw[0] ^= 0xff
	if bytes.Equal(got.Raw, precompiled.Raw) {
		t.Error("CompileDefault handed out the embedded program itself, not a copy")
	}
}
