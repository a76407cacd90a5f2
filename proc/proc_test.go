package proc

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// procTestHelperEnv makes the test binary act as a child that blocks until
// its stdin closes, so a test can look at a child it knows is alive.
const procTestHelperEnv = "BERTH_PROC_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(procTestHelperEnv) == "block" {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var testFS = New("testdata/proc")

// checkErr fails unless err has exactly the text want and matches
// fs.ErrNotExist exactly when notExist.
func checkErr(t *testing.T, err error, want string, notExist bool) {
	t.Helper()
	if err == nil || err.Error() != want {
		t.Fatalf("error %v; want %q", err, want)
	}
	if errors.Is(err, fs.ErrNotExist) != notExist {
		t.Fatalf("errors.Is(%v, fs.ErrNotExist) = %v; want %v", err, !notExist, notExist)
	}
}

func TestCmdline(t *testing.T) {
	tests := []struct {
		pid  int
		want []string
	}{
		{1, []string{"/sbin/init", "splash"}},
		// An empty argument in the middle survives; only the final NUL is
		// a terminator.
		{42, []string{"sh", "-c", "echo a  b", "", "last"}},
		// Kernel thread: empty file, nil.
		{77, nil},
		// Rewritten argv without a trailing NUL.
		{100, []string{"broken"}},
	}
	for _, tc := range tests {
		got, err := testFS.Cmdline(tc.pid)
		if err != nil {
			t.Fatalf("Cmdline(%d): %v", tc.pid, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Cmdline(%d) = %q; want %q", tc.pid, got, tc.want)
		}
	}
	_, err := testFS.Cmdline(9999)
	checkErr(t, err, "cmdline pid 9999: open testdata/proc/9999/cmdline: no such file or directory", true)
}

func TestChildren(t *testing.T) {
	// pid 1's children are split over threads 1 and 3, 42 listed twice;
	// thread 4 has no children file, as when it exits mid-walk.
	got, err := testFS.Children(1)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{42, 77, 100}; !slices.Equal(got, want) {
		t.Errorf("Children(1) = %v; want %v", got, want)
	}
	got, err = testFS.Children(42)
	if err != nil || len(got) != 0 {
		t.Errorf("Children(42) = %v, %v; want none", got, err)
	}

	_, err = testFS.Children(100)
	checkErr(t, err, `children pid 100: parse testdata/proc/100/task/100/children: "x8" is not a pid`, false)
	_, err = testFS.Children(101)
	checkErr(t, err, "children pid 101: no task/*/children file under testdata/proc/101/task (kernel without CONFIG_PROC_CHILDREN?)", false)
	_, err = testFS.Children(9999)
	checkErr(t, err, "children pid 9999: open testdata/proc/9999/task: no such file or directory", true)
}

func TestPids(t *testing.T) {
	got, err := testFS.Pids()
	if err != nil {
		t.Fatal(err)
	}
	// Not "self", "sys", "uptime", "007" or the plain file "99".
	if want := []int{1, 42, 77, 100, 101, 102, 103}; !slices.Equal(got, want) {
		t.Errorf("Pids() = %v; want %v", got, want)
	}
	_, err = New("testdata/missing").Pids()
	checkErr(t, err, "list pids: open testdata/missing: no such file or directory", true)
}

func TestClockTicks(t *testing.T) {
	if got := ClockTicks(); got != 100 {
		t.Errorf("ClockTicks() = %d; want 100", got)
	}
}

// TestProcErrGone checks that a process reaped between open and read
// (ESRCH from read) counts as not existing, and that other errors do not.
func TestProcErrGone(t *testing.T) {
	err := procErr("stat", 5, &fs.PathError{Op: "read", Path: "/proc/5/stat", Err: syscall.ESRCH})
	checkErr(t, err, "stat pid 5: read /proc/5/stat: no such process", true)
	if !errors.Is(err, syscall.ESRCH) {
		t.Errorf("errors.Is(%v, ESRCH) = false", err)
	}
	err = procErr("stat", 5, &fs.PathError{Op: "open", Path: "/proc/5/stat", Err: syscall.EACCES})
	checkErr(t, err, "stat pid 5: open /proc/5/stat: permission denied", false)
}

// TestRealSelf reads this test process from the real /proc.
func TestRealSelf(t *testing.T) {
	p := New("/proc")
	pid := os.Getpid()

	st, err := p.Stat(pid)
	if err != nil {
		t.Fatal(err)
	}
	// comm is the base name of the path given to execve, cut to
	// TASK_COMM_LEN-1 bytes.
	wantComm := filepath.Base(os.Args[0])
	if len(wantComm) > 15 {
		wantComm = wantComm[:15]
	}
	if st.Pid != pid || st.PPid != os.Getppid() || st.Comm != string(wantComm) {
		t.Errorf("Stat(self) = pid %d ppid %d comm %q; want %d %d %q", st.Pid, st.PPid, st.Comm, pid, os.Getppid(), wantComm)
	}
	if pgrp := syscall.Getpgrp(); st.PGrp != pgrp {
		t.Errorf("Stat(self).PGrp = %d; want %d", st.PGrp, pgrp)
	}
	if sid, _ := unix.Getsid(0); st.Session != sid {
		t.Errorf("Stat(self).Session = %d; want %d", st.Session, sid)
	}
	// The state is the main thread's: running or asleep in the Go
	// runtime while another thread reads, never stopped, zombie or dead.
	if !strings.ContainsRune("RSD", rune(st.State)) {
		t.Errorf("Stat(self).State = %q; want R, S or D", st.State)
	}
	if st.NumThreads < 1 || st.VSize == 0 || st.RSSPages <= 0 || st.StartTime == 0 {
		t.Errorf("Stat(self) = %+v; want threads, vsize, rss and start time set", st)
	}
	start, err := p.StartTime(pid)
	if err != nil || start != st.StartTime {
		t.Errorf("StartTime(self) = %d, %v; want %d", start, err, st.StartTime)
	}

	status, err := p.Status(pid)
	if err != nil {
		t.Fatal(err)
	}
	wantIDs := func(r, e int) [4]int { return [4]int{r, e, r, e} }
	if status.Name != st.Comm || status.Uid != wantIDs(os.Getuid(), os.Geteuid()) || status.Gid != wantIDs(os.Getgid(), os.Getegid()) {
		t.Errorf("Status(self) = name %q uid %v gid %v; want %q %v %v", status.Name, status.Uid, status.Gid,
			st.Comm, wantIDs(os.Getuid(), os.Geteuid()), wantIDs(os.Getgid(), os.Getegid()))
	}
	if status.VmRSS == 0 || status.Threads < 1 {
		t.Errorf("Status(self) = %+v; want VmRSS and Threads set", status)
	}
	var caps [2]unix.CapUserData
	if err := unix.Capget(&unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}, &caps[0]); err != nil {
		t.Fatal(err)
	}
	join := func(lo, hi uint32) uint64 { return uint64(hi)<<32 | uint64(lo) }
	if want := join(caps[0].Effective, caps[1].Effective); status.CapEff != want {
		t.Errorf("Status(self).CapEff = %#x; want %#x", status.CapEff, want)
	}
	if want := join(caps[0].Permitted, caps[1].Permitted); status.CapPrm != want {
		t.Errorf("Status(self).CapPrm = %#x; want %#x", status.CapPrm, want)
	}
	if want := join(caps[0].Inheritable, caps[1].Inheritable); status.CapInh != want {
		t.Errorf("Status(self).CapInh = %#x; want %#x", status.CapInh, want)
	}
	nnp, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if status.NoNewPrivs != nnp {
		t.Errorf("Status(self).NoNewPrivs = %d; want %d", status.NoNewPrivs, nnp)
	}

	args, err := p.Cmdline(pid)
	if err != nil || !slices.Equal(args, os.Args) {
		t.Errorf("Cmdline(self) = %q, %v; want %q", args, err, os.Args)
	}

	pids, err := p.Pids()
	if err != nil || !slices.Contains(pids, pid) {
		t.Errorf("Pids() = %v, %v; want it to contain %d", pids, err, pid)
	}
}

// TestRealChild starts a child that blocks on stdin and finds it through
// Children, then checks it disappears from /proc once reaped.
func TestRealChild(t *testing.T) {
	p := New("/proc")
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), procTestHelperEnv+"=block")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	child := cmd.Process.Pid
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()

	children, err := p.Children(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(children, child) {
		t.Errorf("Children(self) = %v; want it to contain %d", children, child)
	}
	st, err := p.Stat(child)
	if err != nil {
		t.Fatal(err)
	}
	self, err := p.StartTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.PPid != os.Getpid() || st.StartTime < self {
		t.Errorf("Stat(child) = ppid %d start %d; want ppid %d and start >= %d", st.PPid, st.StartTime, os.Getpid(), self)
	}

	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	// Reaped: the kernel hands out pids in increasing order until pid_max
	// wraps, so the pid is not in use again this soon.
	if _, err := p.Stat(child); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat(reaped child) error = %v; want fs.ErrNotExist", err)
	}
}
