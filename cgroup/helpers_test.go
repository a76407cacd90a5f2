package cgroup

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berthrun/berth/internal/testutil"
	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// testParent is the cgroup parent of every cgroup these tests create;
// TestMain removes it from every hierarchy at the end.
const testParent = "berth-test-cgroup"

// unifiedMount is where a hybrid host mounts its cgroup2 hierarchy.
const unifiedMount = "/sys/fs/cgroup/unified"

// memhogEnv makes the test binary, re-executed, a memory hog: it waits
// for a line on stdin (sent once it is in the cgroup), then touches
// memhogBytes of fresh memory.
const (
	memhogEnv   = "BERTH_CGROUP_TEST_MEMHOG"
	memhogBytes = 64 << 20
)

func TestMain(m *testing.M) {
	if os.Getenv(memhogEnv) != "" {
		memhog()
		return
	}
	code := m.Run()
	// Not in fuzz workers and their coordinator: they run TestMain too,
	// while other tests of the package may be using the parents.
	if os.Geteuid() == 0 && flag.Lookup("test.fuzz").Value.String() == "" {
		for _, dir := range testParentDirs() {
			if err := unix.Rmdir(dir); err != nil && !errors.Is(err, unix.ENOENT) {
				fmt.Fprintf(os.Stderr, "remove test cgroup parent %s: %v\n", dir, err)
				code = 1
			}
		}
	}
	os.Exit(code)
}

// memhog runs in the re-executed test binary, inside the cgroup under
// test. It exits 3 if it survives touching memhogBytes.
func memhog() {
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		os.Exit(2)
	}
	buf := make([]byte, memhogBytes)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 1
	}
	fmt.Println(buf[len(buf)-4096])
	os.Exit(3)
}

func testParentDirs() []string {
	var dirs []string
	for _, name := range v1Names {
		dirs = append(dirs, filepath.Join(defaultRoot, name, testParent))
	}
	return append(dirs, filepath.Join(unifiedMount, testParent))
}

// testID is a task id unique to the test and this run.
func testID(t *testing.T) string {
	return fmt.Sprintf("%s-%d", strings.ReplaceAll(t.Name(), "/", "_"), os.Getpid())
}

func testLogger(t *testing.T) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: t.Name(), Level: hclog.Debug, Output: testWriter{t}})
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// requireCgroupV1 requires root (the tests create cgroups) and skips
// unless every controller is mounted as a v1 hierarchy below
// /sys/fs/cgroup, naming the ones missing: the host lacks them.
func requireCgroupV1(t *testing.T, controllers ...string) {
	t.Helper()
	testutil.RequireRoot(t)
	var missing []string
	for _, c := range controllers {
		if !v1Mounted(defaultRoot, c) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		t.Skipf("host has no cgroup v1 hierarchy for %s at %s", strings.Join(missing, ", "), defaultRoot)
	}
}

// requireCgroupV2 requires root (the tests create cgroups) and skips
// unless a cgroup2 hierarchy is mounted at mount: the host lacks it.
func requireCgroupV2(t *testing.T, mount string) {
	t.Helper()
	testutil.RequireRoot(t)
	var st unix.Statfs_t
	if err := unix.Statfs(mount, &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		t.Skipf("host has no cgroup2 hierarchy at %s", mount)
	}
}

// newTestManager creates a cgroup and kills and removes it when the test
// ends, also when it fails.
func newTestManager(t *testing.T, cfg Config) *Manager {
	t.Helper()
	m, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := m.KillAll(); err != nil {
			t.Errorf("cleanup: KillAll: %v", err)
		}
		if err := m.Delete(); err != nil {
			t.Errorf("cleanup: Delete: %v", err)
		}
	})
	return m
}

// child is a process a test started; it is killed and reaped when the
// test ends.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader

	waitOnce sync.Once
	waitErr  error
}

// startChild starts cmd with pipes for stdin and stdout.
func startChild(t *testing.T, cmd *exec.Cmd) *child {
	t.Helper()
	c := &child{cmd: cmd}
	var err error
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.out = bufio.NewReader(stdout)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", cmd.Args, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = c.wait()
	})
	return c
}

// daemonScript waits for a line on stdin (the release), then starts a
// grandchild in a new session that prints its own pid, and becomes a
// sleep itself.
const daemonScript = `read x; setsid sh -c 'echo $$; exec sleep 100' & exec sleep 100`

// startDaemonChild starts daemonScript, calls join before the release and
// returns the child and the pid of its setsid'd grandchild.
func startDaemonChild(t *testing.T, attr *syscall.SysProcAttr, join func(pid int)) (*child, int) {
	t.Helper()
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("host has no setsid(1) to start a daemon with")
	}
	cmd := exec.Command("sh", "-c", daemonScript)
	cmd.SysProcAttr = attr
	c := startChild(t, cmd)
	if join != nil {
		join(cmd.Process.Pid)
	}
	c.release(t)
	line, err := c.out.ReadString('\n')
	if err != nil {
		t.Fatalf("read grandchild pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("grandchild pid %q: %v", line, err)
	}
	return c, pid
}

func (c *child) release(t *testing.T) {
	t.Helper()
	if _, err := io.WriteString(c.stdin, "go\n"); err != nil {
		t.Fatalf("release child: %v", err)
	}
}

func (c *child) wait() error {
	c.waitOnce.Do(func() { c.waitErr = c.cmd.Wait() })
	return c.waitErr
}

// waitKilled reaps the child and fails unless SIGKILL ended it.
func (c *child) waitKilled(t *testing.T) {
	t.Helper()
	err := c.wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("child %d: wait: %v, want killed by SIGKILL", c.cmd.Process.Pid, err)
	}
	ws := exit.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child %d: %v, want killed by SIGKILL", c.cmd.Process.Pid, exit)
	}
}

// assertGone fails unless pid has exited (it may still be a zombie until
// its new parent reaps it).
func assertGone(t *testing.T, pid int) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) == 0 || (fields[0] != "Z" && fields[0] != "X") {
		t.Fatalf("pid %d still running: %s", pid, s)
	}
}

// procCgroup returns the lines of /proc/PID/cgroup.
func procCgroup(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// readTrim reads a cgroup file without its trailing newline.
func readTrim(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func assertFile(t *testing.T, file, want string) {
	t.Helper()
	if got := readTrim(t, file); got != want {
		t.Errorf("%s = %q, want %q", file, got, want)
	}
}

func assertPids(t *testing.T, m *Manager, want ...int) {
	t.Helper()
	got, err := m.Pids()
	if err != nil {
		t.Fatalf("Pids: %v", err)
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Errorf("Pids() = %v, missing %d", got, w)
		}
	}
}

func assertNoPids(t *testing.T, m *Manager) {
	t.Helper()
	got, err := m.Pids()
	if err != nil {
		t.Fatalf("Pids: %v", err)
	}
	if len(got) != 0 {
		t.Fatalf("Pids() = %v, want none", got)
	}
}

func assertPaused(t *testing.T, m *Manager, want bool) {
	t.Helper()
	got, err := m.Paused()
	if err != nil {
		t.Fatalf("Paused: %v", err)
	}
	if got != want {
		t.Fatalf("Paused() = %v, want %v", got, want)
	}
}

// assertRemoved fails unless every directory of paths is gone.
func assertRemoved(t *testing.T, paths map[string]string) {
	t.Helper()
	for name, dir := range paths {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s cgroup %s still there (stat: %v)", name, dir, err)
		}
	}
}

func wantErr(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not contain %q", err, want)
	}
}

func deadlineIn(d time.Duration) time.Time { return time.Now().Add(d) }
