package seccomp

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berthrun/berth/seccomp/filter"
)

// childEnv switches the test binary into kernelChild: the filter is
// loaded in a child process, so the test process stays unfiltered.
const childEnv = "BERTH_SECCOMP_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(kernelChild())
	}
	os.Exit(m.Run())
}

// childReport is what kernelChild prints: the errno of each call (0 for
// success), and what Install said to the malformed programs.
type childReport struct {
	Errnos    map[string]int    `json:"errnos"`
	Pid       int               `json:"pid"`
	GetpidGot int               `json:"getpid"`
	Refused   map[string]string `json:"refused"`
	RefusedIs map[string]bool   `json:"refused_einval"`
}

// kernelChild runs as the re-executed test binary: as nsinit does, it
// locks its thread, sets no_new_privs and loads the default filter on
// that thread, then makes the calls from it.
func kernelChild() int {
	runtime.LockOSThread() // never unlocked: the filter stays on this thread
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "child: "+format+"\n", args...)
		return 2
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fail("no_new_privs: %v", err)
	}
	rep := childReport{Errnos: map[string]int{}, Refused: map[string]string{}, RefusedIs: map[string]bool{}}
	// Malformed programs, refused by Install or by the kernel.
	ret := []byte{0x06, 0, 0, 0, 0, 0, 0xff, 0x7f} // ret ALLOW
	for name, raw := range map[string][]byte{
		"partial":    ret[:7],
		"empty":      nil,
		"jump out":   append([]byte{0x15, 0, 5, 0, 0, 0, 0, 0}, ret...), // jeq 0, jf past the end
		"no return":  {0x20, 0, 0, 0, 0, 0, 0, 0},                       // ld [0], then nothing
		"bad opcode": append([]byte{0xff, 0xff, 0, 0, 0, 0, 0, 0}, ret...),
	} {
		err := filter.Install(raw, 0)
		if err == nil {
			return fail("Install(%s) succeeded", name)
		}
		rep.Refused[name] = err.Error()
		rep.RefusedIs[name] = errors.Is(err, unix.EINVAL)
	}

	p, err := CompileDefault(berthCaps)
	if err != nil {
		return fail("%v", err)
	}
	if err := filter.Install(p.Raw, p.Flags); err != nil {
		return fail("Install: %v", err)
	}
	call := func(name string, nr uintptr, args ...uintptr) uintptr {
		var a [3]uintptr
		copy(a[:], args)
		r, _, errno := unix.Syscall(nr, a[0], a[1], a[2])
		rep.Errnos[name] = int(errno)
		return r
	}
	call("keyctl", unix.SYS_KEYCTL, unix.KEYCTL_GET_KEYRING_ID, uintptr(0x100000000-3) /* KEY_SPEC_SESSION_KEYRING */, 0)
	call("unshare", unix.SYS_UNSHARE, unix.CLONE_NEWNS)
	rep.GetpidGot = int(call("getpid", unix.SYS_GETPID))
	rep.Pid = os.Getpid()
	call("nr 1000", 1000)
	call("x32 getpid", x32Bit|unix.SYS_GETPID)
	call("listns", 470) // in the table, not in Docker's profile: the default
	out, err := json.Marshal(rep)
	if err != nil {
		return fail("%v", err)
	}
	os.Stdout.Write(out)
	return 0
}

// TestKernelLoadsDefault loads Docker's default (berth's capabilities)
// into a real task and checks the kernel's answers.
func TestKernelLoadsDefault(t *testing.T) {
	// Without a filter, keyctl is not EPERM here: so EPERM below is the
	// filter's.
	if _, _, errno := unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_GET_KEYRING_ID, uintptr(0x100000000-3), 0); errno == unix.EPERM {
		t.Fatalf("keyctl is EPERM without a filter: this test could not tell the filter's EPERM")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, stderr.String())
	}
	var rep childReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("child said %q: %v", out, err)
	}
	want := map[string]unix.Errno{
		"keyctl": unix.EPERM, "unshare": unix.EPERM, "getpid": 0,
		"nr 1000": unix.ENOSYS, "x32 getpid": unix.EPERM, "listns": unix.EPERM,
	}
	for name, e := range want {
		got, ok := rep.Errnos[name]
		if !ok || unix.Errno(got) != e {
			t.Errorf("%s: errno %v (%d), want %v", name, unix.Errno(got), got, e)
		}
	}
	if rep.GetpidGot != rep.Pid {
		t.Errorf("getpid returned %d in pid %d", rep.GetpidGot, rep.Pid)
	}
	for name, msg := range rep.Refused {
		t.Logf("Install(%s): %s", name, msg)
	}
	for _, name := range []string{"partial", "empty"} {
		if !strings.HasPrefix(rep.Refused[name], "seccomp program: ") {
			t.Errorf("Install(%s): %q", name, rep.Refused[name])
		}
	}
	for _, name := range []string{"jump out", "no return", "bad opcode"} {
		if !rep.RefusedIs[name] || !strings.HasPrefix(rep.Refused[name], "seccomp set mode filter: ") {
			t.Errorf("Install(%s): %q, want the kernel's EINVAL wrapped", name, rep.Refused[name])
		}
	}
}
