package containerd_test

// The harness: containerd built once into a cache, started as a child of
// the test binary with its root, state and sockets under one temp dir and
// the CRI plugins off; a busybox rootfs; a wrapper (./wrapper) that logs how
// the runc shim calls the runtime before becoming it; and one teardown that
// the end of the run and Ctrl-C share.

import (
	"bufio"
	"context"
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	containerdVersion = "v2.4.2"
	namespace         = "berth-test"
	// deprecationLine is what every ctr call prints on a v1 or hybrid
	// host; it is dropped from stderr before anything is asserted on it.
	deprecationLine = "The support for cgroup v1 is deprecated"
)

// cmds are the three programs the harness installs, all from one module.
var cmds = []string{"containerd", "ctr", "containerd-shim-runc-v2"}

var h *harness

type harness struct {
	dir      string // temp root: everything the run makes lives here
	logs     string // dir/logs: kept when a test fails
	bin      string // cache dir holding containerd, ctr and the shim
	runtime  string // the runtime under test (absolute)
	wrapper  string // dir/bin/wrapper (./wrapper): logs argv, then execs runtime
	argvLog  string // logs/runtime-argv.log
	sock     string
	rootfs   string
	runcRoot string // passed as --runc-root, so the runtime's state is ours
	fifoDir  string
	cgParent string // berth-test-<hex>: every container cgroup is under it

	daemon     *exec.Cmd
	daemonDone chan struct{}
	daemonLog  string

	cgroupMounts  []string        // mount points of every cgroup hierarchy
	cgroupV2Only  bool            // /sys/fs/cgroup is itself cgroup2
	runDirExisted map[string]bool // /run/containerd{,/s,/fifo} before we started
	baseSockets   map[string]bool // /run/containerd/s entries before we started

	teardownOnce sync.Once
	teardownErr  error
}

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "test/containerd: needs root (containerd, cgroups, mounts)")
		os.Exit(1)
	}
	closeInheritedFDs()
	// Ctrl-C during setup (go install, containerd starting) waits for setup
	// to return, then tears down what it made; during the tests it tears
	// down at once.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	ready := make(chan struct{})
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "\ntest/containerd: %v: tearing down\n", s)
		<-ready
		if h != nil {
			if err := h.teardown(false); err != nil {
				fmt.Fprintln(os.Stderr, "test/containerd: teardown:", err)
			}
			fmt.Fprintf(os.Stderr, "test/containerd: logs kept in %s\n", h.logs)
		}
		os.Exit(130)
	}()
	var err error
	h, err = setup()
	close(ready)
	if err != nil {
		fmt.Fprintln(os.Stderr, "test/containerd: setup:", err)
		if h != nil {
			if terr := h.teardown(false); terr != nil {
				fmt.Fprintln(os.Stderr, "test/containerd: teardown:", terr)
			}
			fmt.Fprintf(os.Stderr, "test/containerd: logs kept in %s\n", h.logs)
		}
		os.Exit(1)
	}
	code := m.Run()
	keep := code != 0 || os.Getenv("BERTH_CONTAINERD_KEEP") != ""
	if err := h.teardown(!keep); err != nil {
		fmt.Fprintln(os.Stderr, "test/containerd: teardown:", err)
		code = 1
	}
	if keep {
		fmt.Fprintf(os.Stderr, "test/containerd: logs kept in %s\n", h.logs)
	}
	os.Exit(code)
}

func setup() (*harness, error) {
	runtime, err := runtimeUnderTest()
	if err != nil {
		return nil, err
	}
	bin, err := install()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "berth-containerd-")
	if err != nil {
		return nil, err
	}
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		return nil, err
	}
	x := &harness{
		dir:       dir,
		logs:      filepath.Join(dir, "logs"),
		bin:       bin,
		runtime:   runtime,
		wrapper:   filepath.Join(dir, "bin", "wrapper"),
		sock:      filepath.Join(dir, "containerd.sock"),
		rootfs:    filepath.Join(dir, "rootfs"),
		runcRoot:  filepath.Join(dir, "runtime-root"),
		fifoDir:   filepath.Join(dir, "fifo"),
		cgParent:  "berth-test-" + hex.EncodeToString(suffix),
		daemonLog: filepath.Join(dir, "logs", "containerd.log"),
	}
	x.argvLog = filepath.Join(x.logs, "runtime-argv.log")
	x.runDirExisted = map[string]bool{}
	for _, d := range []string{"/run/containerd", "/run/containerd/s", "/run/containerd/fifo"} {
		_, err := os.Stat(d)
		x.runDirExisted[d] = err == nil
	}
	x.baseSockets = listDir("/run/containerd/s")
	if x.cgroupMounts, x.cgroupV2Only, err = cgroupHierarchies(); err != nil {
		return x, err
	}
	for _, d := range []string{x.logs, filepath.Dir(x.wrapper), filepath.Join(x.logs, "runtime-logs"), x.runcRoot, x.fifoDir, filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return x, err
		}
	}
	if err := buildRootfs(x.rootfs); err != nil {
		return x, err
	}
	if err := x.buildWrapper(); err != nil {
		return x, err
	}
	if err := x.startDaemon(); err != nil {
		return x, err
	}
	fmt.Fprintf(os.Stderr, "test/containerd: runtime %s, containerd %s in %s, cgroups under %s\n",
		x.runtime, containerdVersion, x.dir, x.cgParent)
	return x, nil
}

// runtimeUnderTest is BERTH_OCI_RUNTIME, or bin/berth-oci of this repo.
func runtimeUnderTest() (string, error) {
	p := os.Getenv("BERTH_OCI_RUNTIME")
	if p == "" {
		p = "../../bin/berth-oci"
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("runtime %s: %w (build it with `make build`, or set BERTH_OCI_RUNTIME=/usr/sbin/runc)", abs, err)
	}
	if st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("runtime %s: not executable", abs)
	}
	return abs, nil
}

// install builds containerd, ctr and the runc shim at containerdVersion
// into BERTH_CONTAINERD_CACHE (default /tmp/berth-containerd-<version>),
// once: a later run finds them there and skips the build.
func install() (string, error) {
	cache := os.Getenv("BERTH_CONTAINERD_CACHE")
	if cache == "" {
		cache = filepath.Join(os.TempDir(), "berth-containerd-"+containerdVersion)
	}
	bin := filepath.Join(cache, "bin")
	if installed(bin) {
		return bin, nil
	}
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return "", err
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = "/usr/local/go/bin/go"
	}
	args := []string{"install"}
	for _, c := range cmds {
		args = append(args, "github.com/containerd/containerd/v2/cmd/"+c+"@"+containerdVersion)
	}
	cmd := exec.Command(goCmd, args...)
	cmd.Dir = cache
	cmd.Env = append(os.Environ(), "GOBIN="+bin, "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-buildvcs=false")
	start := time.Now()
	fmt.Fprintf(os.Stderr, "test/containerd: building containerd %s into %s (a few minutes, once)\n", containerdVersion, bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install containerd %s: %w\n%s", containerdVersion, err, out)
	}
	fmt.Fprintf(os.Stderr, "test/containerd: built containerd in %s\n", time.Since(start).Round(time.Second))
	if !installed(bin) {
		return "", fmt.Errorf("go install containerd %s: %s does not hold all of %v at that version", containerdVersion, bin, cmds)
	}
	return bin, nil
}

func installed(bin string) bool {
	for _, c := range cmds {
		if _, err := os.Stat(filepath.Join(bin, c)); err != nil {
			return false
		}
	}
	out, err := exec.Command(filepath.Join(bin, "containerd"), "--version").Output()
	// "containerd github.com/containerd/containerd/v2 2.4.2+unknown"
	return err == nil && strings.Contains(string(out), " "+strings.TrimPrefix(containerdVersion, "v"))
}

// buildRootfs makes a rootfs of Debian's static busybox and the applets the
// scenarios use. No image: no registry is reachable here.
func buildRootfs(root string) error {
	const busybox = "/bin/busybox"
	f, err := elf.Open(busybox)
	if err != nil {
		return fmt.Errorf("%s: %w (apt-get install -y busybox-static)", busybox, err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			f.Close()
			return fmt.Errorf("%s is dynamically linked: apt-get install -y busybox-static", busybox)
		}
	}
	f.Close()
	for _, d := range []string{"bin", "dev", "proc", "sys", "tmp", "etc", "root", "run"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	data, err := os.ReadFile(busybox)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), data, 0o755); err != nil {
		return err
	}
	for _, a := range []string{"sh", "echo", "sleep", "tty", "stty", "cat", "kill", "true", "false", "ls", "id", "ps"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", a)); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644)
}

// buildWrapper builds ./wrapper, the runtime the shim is told to use, and
// writes its settings beside it (it logs each call, then execs the runtime
// under test); and ./taskupdate, the client call ctr lacks.
func (x *harness) buildWrapper() error {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = "/usr/local/go/bin/go"
	}
	cmd := exec.Command(goCmd, "build", "-o", filepath.Dir(x.wrapper)+"/", "./wrapper", "./taskupdate")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./wrapper: %w\n%s", err, out)
	}
	conf, err := json.Marshal(map[string]string{
		"runtime":  x.runtime,
		"argv_log": x.argvLog,
		"logs_dir": filepath.Join(x.logs, "runtime-logs"),
	})
	if err != nil {
		return err
	}
	return os.WriteFile(x.wrapper+".json", conf, 0o600)
}

// closeInheritedFDs marks every fd above stderr close-on-exec: a caller's
// stray fds would otherwise reach containerd, the shim and the runtime, and
// the wrapper's log would show them as the shim's.
func closeInheritedFDs() {
	entries, _ := os.ReadDir("/proc/self/fd")
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}

// startDaemon writes config.toml and starts containerd, waiting until its
// socket answers.
func (x *harness) startDaemon() error {
	q := strconv.Quote
	config := `version = 3
root = ` + q(filepath.Join(x.dir, "root")) + `
state = ` + q(filepath.Join(x.dir, "state")) + `
temp = ` + q(filepath.Join(x.dir, "tmp")) + `
# CRI and what hangs off it, NRI (a socket in /var/run/nri) and opt (a
# directory in /opt) are off: nothing outside the temp dir but the shim
# sockets, whose directory (/run/containerd/s) is compiled in.
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.cri.v1.images",
  "io.containerd.cri.v1.runtime",
  "io.containerd.podsandbox.controller.v1.podsandbox",
  "io.containerd.nri.v1.nri",
  "io.containerd.internal.v1.opt",
]

[grpc]
  address = ` + q(x.sock) + `

[ttrpc]
  address = ` + q(x.sock+".ttrpc") + `

[debug]
  level = "debug"
`
	cfg := filepath.Join(x.dir, "config.toml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		return err
	}
	logf, err := os.Create(x.daemonLog)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(x.bin, "containerd"), "--config", cfg)
	// The shim is found on PATH: ours first.
	cmd.Env = append(os.Environ(), "PATH="+x.bin+":"+os.Getenv("PATH"))
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: Ctrl-C reaches the test binary, whose
	// teardown then removes the containers through a containerd still up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	x.daemon = cmd
	x.daemonDone = make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(x.daemonDone)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := x.run(context.Background(), nil, "version")
		if r.code == 0 {
			return nil
		}
		select {
		case <-x.daemonDone:
			return fmt.Errorf("containerd exited at start: %s\n%s", cmd.ProcessState, tail(x.daemonLog, 30))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("containerd did not answer on %s in 30s: %s\n%s", x.sock, r.stderr, tail(x.daemonLog, 30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// result is one ctr call.
type result struct {
	stdout, stderr string
	code           int
	err            error // only when ctr could not be run at all
}

func (r result) String() string {
	return fmt.Sprintf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
}

// run calls ctr against our containerd and namespace, with stdin if given.
func (x *harness) run(ctx context.Context, stdin *os.File, args ...string) result {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(x.bin, "ctr"), append([]string{"--address", x.sock, "--namespace", namespace}, args...)...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = stdin
	}
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: dropDeprecation(errb.String())}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		r.code = ee.ExitCode()
	default:
		r.code, r.err = -1, err
	}
	return r
}

func dropDeprecation(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if l != "" && !strings.Contains(l, deprecationLine) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// command is ctr against our containerd and namespace, not started.
func (x *harness) command(args ...string) *exec.Cmd {
	return exec.Command(filepath.Join(x.bin, "ctr"), append([]string{"--address", x.sock, "--namespace", namespace}, args...)...)
}

// ctr runs ctr and returns its result; the caller asserts.
func (x *harness) ctr(t *testing.T, args ...string) result {
	t.Helper()
	r := x.run(context.Background(), nil, args...)
	if r.err != nil {
		t.Fatalf("ctr %s: %v", strings.Join(args, " "), r.err)
	}
	return r
}

// ctrOK runs ctr and fails the test unless it exits 0.
func (x *harness) ctrOK(t *testing.T, args ...string) string {
	t.Helper()
	r := x.ctr(t, args...)
	if r.code != 0 {
		t.Fatalf("ctr %s: %s", strings.Join(args, " "), r)
	}
	return r.stdout
}

// hybrid reports a v1 host with a cgroup2 hierarchy beside its controllers.
func (x *harness) hybrid() bool {
	if x.cgroupV2Only {
		return false
	}
	for _, m := range x.cgroupMounts {
		if filepath.Base(m) == "unified" {
			return true
		}
	}
	return false
}

// cgroupPath is the path a container's cgroup gets (ctr run --cgroup).
func (x *harness) cgroupPath(id string) string { return "/" + x.cgParent + "/" + id }

// runArgs is `ctr run` with the rootfs, the wrapped runtime, our runtime
// root, cgroup and fifo dir; flags go before the rootfs, the command after
// the id. ctr gives a --rootfs container no environment, so PATH is set.
func (x *harness) runArgs(id string, flags []string, command ...string) []string {
	args := []string{"run", "--rootfs",
		"--runc-binary", x.wrapper,
		"--runc-root", x.runcRoot,
		"--cgroup", x.cgroupPath(id),
		"--fifo-dir", x.fifoDir,
		"--env", "PATH=/bin",
	}
	args = append(args, flags...)
	args = append(args, x.rootfs, id)
	return append(args, command...)
}

// scenario registers the end-of-test checks for container id: that the test
// left nothing behind (the container, its task, shim, cgroup, mounts,
// runtime state, bundle, shim socket), and on failure the logs that say why.
func (x *harness) scenario(t *testing.T, id string) {
	t.Helper()
	argvStart := fileSize(x.argvLog)
	daemonStart := fileSize(x.daemonLog)
	mountsBefore := x.mountsUnderDir()
	t.Cleanup(func() {
		if ids := x.lines(t, "container", "ls", "-q"); contains(ids, id) {
			t.Errorf("container %s left behind: removing it", id)
			x.forceRemove(id)
		}
		x.checkClean(t, id, mountsBefore)
		if t.Failed() {
			t.Logf("runtime calls (wrapper log %s):\n%s", x.argvLog, readFrom(x.argvLog, argvStart))
			if b, err := os.ReadFile(filepath.Join(x.logs, "runtime-logs", id+".log.json")); err == nil {
				t.Logf("runtime --log of %s (as of its last call but one):\n%s", id, b)
			}
			t.Logf("containerd log lines on %s, warnings and errors:\n%s", id, grepFrom(x.daemonLog, daemonStart, id))
		}
	})
}

func (x *harness) lines(t *testing.T, args ...string) []string {
	t.Helper()
	return strings.Fields(x.ctrOK(t, args...))
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// forceRemove kills, deletes and removes a container whatever its state.
func (x *harness) forceRemove(id string) {
	ctx := context.Background()
	x.run(ctx, nil, "task", "kill", "--all", "--signal", "SIGKILL", id)
	for i := 0; i < 50; i++ {
		if r := x.run(ctx, nil, "task", "delete", "--force", id); r.code == 0 || strings.Contains(r.stderr, "not found") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	x.run(ctx, nil, "container", "rm", id)
}

// checkClean asserts that nothing of container id is left: the shim exits
// a moment after delete, so shims and their sockets are waited for (up to
// 15s); the rest must be gone when delete returns.
func (x *harness) checkClean(t *testing.T, id string, mountsBefore map[string]bool) {
	t.Helper()
	if ids := x.lines(t, "task", "ls", "-q"); len(ids) > 0 {
		t.Errorf("tasks left: %v", ids)
	}
	var shims []string
	var sockets []string
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		shims = x.ourProcesses()
		sockets = nil
		for s := range listDir("/run/containerd/s") {
			if !x.baseSockets[s] {
				sockets = append(sockets, s)
			}
		}
		if (len(shims) == 0 && len(sockets) == 0) || time.Now().After(deadline) {
			break
		}
	}
	if len(shims) > 0 {
		t.Errorf("processes left (shim or runtime): %v", shims)
	}
	if len(sockets) > 0 {
		t.Errorf("shim sockets left in /run/containerd/s: %v", sockets)
	}
	for _, d := range x.cgroupsLeft() {
		t.Errorf("cgroup left: %s (procs %v)", d, procsOf(d))
	}
	for m := range x.mountsUnderDir() {
		if !mountsBefore[m] {
			t.Errorf("mount left: %s", m)
		}
	}
	_ = filepath.WalkDir(x.runcRoot, func(p string, d os.DirEntry, err error) error {
		if err == nil && p != x.runcRoot && d.Name() == id {
			t.Errorf("runtime state left: %s", p)
		}
		return nil
	})
	bundle := filepath.Join(x.dir, "state", "io.containerd.runtime.v2.task", namespace, id)
	if _, err := os.Lstat(bundle); err == nil {
		t.Errorf("bundle left: %s", bundle)
	}
}

// ourProcesses lists live shims serving our containerd and runtime calls
// with our runtime root, as "pid cmdline".
func (x *harness) ourProcesses() []string {
	var out []string
	for _, pid := range allPids() {
		argv := cmdline(pid)
		if len(argv) == 0 {
			continue
		}
		joined := strings.Join(argv, " ")
		isShim := filepath.Base(argv[0]) == "containerd-shim-runc-v2" && strings.Contains(joined, x.sock)
		isRuntime := strings.Contains(joined, x.runcRoot)
		if isShim || isRuntime {
			out = append(out, fmt.Sprintf("%d %s", pid, joined))
		}
	}
	return out
}

// cgroupsLeft lists every cgroup below our parent in every hierarchy.
func (x *harness) cgroupsLeft() []string {
	var left []string
	for _, m := range x.cgroupMounts {
		parent := filepath.Join(m, x.cgParent)
		_ = filepath.WalkDir(parent, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() && p != parent {
				left = append(left, p)
			}
			return nil
		})
	}
	return left
}

// teardown removes everything the run made, in the order that lets each
// step work: containers through containerd, containerd, what outlived it
// (shims, container processes), mounts, cgroups, then files. With
// removeLogs false the logs dir stays for reading.
func (x *harness) teardown(removeLogs bool) error {
	x.teardownOnce.Do(func() { x.teardownErr = x.doTeardown(removeLogs) })
	return x.teardownErr
}

func (x *harness) doTeardown(removeLogs bool) error {
	var errs []error
	ctx := context.Background()
	if x.daemon != nil {
		select {
		case <-x.daemonDone:
		default:
			if r := x.run(ctx, nil, "container", "ls", "-q"); r.code == 0 {
				for _, id := range strings.Fields(r.stdout) {
					x.forceRemove(id)
				}
			}
			_ = x.daemon.Process.Signal(syscall.SIGTERM)
			select {
			case <-x.daemonDone:
			case <-time.After(15 * time.Second):
				_ = x.daemon.Process.Kill()
				<-x.daemonDone
			}
		}
	}
	// Shims outlive containerd by design; these serve ours alone. A killed
	// shim leaves its socket in /run/containerd/s: found through the
	// shim's fds before the kill, removed after.
	var sockets []string
	for _, p := range x.ourProcesses() {
		pid, _ := strconv.Atoi(strings.Fields(p)[0])
		sockets = append(sockets, listeningSockets(pid, "/run/containerd/s/")...)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, s := range sockets {
		if err := os.Remove(s); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	// Container processes: anything in a cgroup below our parent.
	for i := 0; i < 50; i++ {
		n := 0
		for _, m := range x.cgroupMounts {
			_ = filepath.WalkDir(filepath.Join(m, x.cgParent), func(p string, d os.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					for _, pid := range procsOf(p) {
						n++
						_ = syscall.Kill(pid, syscall.SIGKILL)
					}
				}
				return nil
			})
		}
		if n == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	mounts := x.mountsUnderDir()
	points := make([]string, 0, len(mounts))
	for m := range mounts {
		points = append(points, m)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points))) // deepest first
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
		}
	}
	for _, m := range x.cgroupMounts {
		if err := removeCgroupTree(filepath.Join(m, x.cgParent)); err != nil {
			errs = append(errs, err)
		}
	}
	for _, d := range []string{"/run/containerd/fifo", "/run/containerd/s", "/run/containerd"} {
		if !x.runDirExisted[d] {
			_ = os.Remove(d) // only when empty: a leftover is reported by checkClean
		}
	}
	if len(x.mountsUnderDir()) > 0 {
		errs = append(errs, fmt.Errorf("mounts still under %s: not removing it", x.dir))
		return errors.Join(errs...)
	}
	entries, _ := os.ReadDir(x.dir)
	for _, e := range entries {
		if e.Name() == "logs" && !removeLogs {
			continue
		}
		if err := os.RemoveAll(filepath.Join(x.dir, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	if removeLogs {
		if err := os.Remove(x.dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeCgroupTree removes dir and the cgroups below it, deepest first,
// retrying while the kernel still counts exiting tasks.
func removeCgroupTree(dir string) error {
	var err error
	for i := 0; i < 50; i++ {
		var dirs []string
		_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, werr error) error {
			if werr == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		if len(dirs) == 0 {
			return nil
		}
		err = nil
		for j := len(dirs) - 1; j >= 0; j-- {
			if rerr := syscall.Rmdir(dirs[j]); rerr != nil && !errors.Is(rerr, syscall.ENOENT) {
				err = fmt.Errorf("rmdir %s: %w", dirs[j], rerr)
			}
		}
		if err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// cgroupHierarchies lists the mount points of the cgroup hierarchies under
// /sys/fs/cgroup, and whether the host is cgroup2 alone.
func cgroupHierarchies() ([]string, bool, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs("/sys/fs/cgroup", &st); err != nil {
		return nil, false, err
	}
	const cgroup2Magic = 0x63677270
	if st.Type == cgroup2Magic {
		return []string{"/sys/fs/cgroup"}, true, nil
	}
	var mounts []string
	for _, m := range mountinfo() {
		if (m.fstype == "cgroup" || m.fstype == "cgroup2") && strings.HasPrefix(m.point, "/sys/fs/cgroup/") {
			mounts = append(mounts, m.point)
		}
	}
	if len(mounts) == 0 {
		return nil, false, errors.New("no cgroup hierarchy mounted under /sys/fs/cgroup")
	}
	return mounts, false, nil
}

type mount struct{ point, fstype string }

func mountinfo() []mount {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []mount
	s := bufio.NewScanner(f)
	for s.Scan() {
		// id parent maj:min root point opts [optional...] - fstype source super
		fields := strings.Fields(s.Text())
		if len(fields) < 7 {
			continue
		}
		m := mount{point: unescapeMount(fields[4])}
		for i, f := range fields {
			if f == "-" && i+1 < len(fields) {
				m.fstype = fields[i+1]
				break
			}
		}
		out = append(out, m)
	}
	return out
}

func unescapeMount(s string) string {
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}

func (x *harness) mountsUnderDir() map[string]bool {
	out := map[string]bool{}
	for _, m := range mountinfo() {
		if m.point == x.dir || strings.HasPrefix(m.point, x.dir+"/") {
			out[m.point] = true
		}
	}
	return out
}

// listeningSockets is the paths under prefix of the unix sockets pid holds.
func listeningSockets(pid int, prefix string) []string {
	inodes := map[string]bool{}
	entries, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, e := range entries {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name()))
		if n, ok := strings.CutPrefix(l, "socket:["); err == nil && ok {
			inodes[strings.TrimSuffix(n, "]")] = true
		}
	}
	b, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		return nil
	}
	var paths []string
	// Num RefCount Protocol Flags Type St Inode Path
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 8 && inodes[f[6]] && strings.HasPrefix(f[7], prefix) {
			paths = append(paths, f[7])
		}
	}
	return paths
}

func procsOf(cgroupDir string) []int {
	b, err := os.ReadFile(filepath.Join(cgroupDir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids
}

func allPids() []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, n)
		}
	}
	return pids
}

func cmdline(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

func listDir(d string) map[string]bool {
	out := map[string]bool{}
	entries, _ := os.ReadDir(d)
	for _, e := range entries {
		out[e.Name()] = true
	}
	return out
}

func fileSize(p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return st.Size()
}

func readFrom(p string, off int64) string {
	b, err := os.ReadFile(p)
	if err != nil || int64(len(b)) < off {
		return ""
	}
	return string(b[off:])
}

// grepFrom is the lines of p after off that name id or are warnings or
// errors.
func grepFrom(p string, off int64, id string) string {
	var keep []string
	for _, l := range strings.Split(readFrom(p, off), "\n") {
		if strings.Contains(l, id) || strings.Contains(l, "level=error") || strings.Contains(l, "level=warning") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func tail(p string, n int) string {
	lines := strings.Split(strings.TrimRight(readFrom(p, 0), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// eventually polls cond until it holds or timeout passes; it bounds a wait
// for something asynchronous and asserts nothing about how long it took.
func eventually(timeout time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(timeout); ; time.Sleep(50 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}
