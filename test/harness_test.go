package test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berthrun/berth/internal/testutil"
)

// cgroupParent is berth's default cgroup parent, which every test uses.
const cgroupParent = "berth"

// runTimeout bounds one berth invocation: past it berth is killed and the
// test fails. It is a guard against hangs, not a timing assertion.
const runTimeout = 60 * time.Second

// task is one berth task of a test: its own state dir, id and marker, and
// the host's mount table from before it ran. Creating it registers a
// cleanup that checks nothing of it is left.
type task struct {
	t        *testing.T
	stateDir string
	// tmpDir is berth's TMPDIR, which must be empty again afterwards.
	tmpDir string
	id     string
	marker string
	mounts testutil.MountTable
	// global are extra global flags, put before the verb.
	global []string
	// cgParent is the cgroup parent the task's cgroup goes under.
	cgParent string
	// ignoreSignals starts berth with SIGINT, SIGHUP and SIGQUIT ignored,
	// as a shell starts a background job.
	ignoreSignals bool
}

// newTask prepares a task with a unique id and marker.
func newTask(t *testing.T) *task {
	t.Helper()
	testutil.RequireRoot(t)
	// Every task gets a cgroup to be listed and killed as a whole: the
	// freezer on cgroup v1, cgroup2's own freezing otherwise.
	testutil.RequireCgroup(t, "freezer")
	tk := &task{
		t:        t,
		stateDir: t.TempDir(),
		tmpDir:   t.TempDir(),
		id:       uniqueID(t),
		marker:   testutil.NewMarker(t),
		mounts:   testutil.SnapshotMounts(t),
		cgParent: cgroupParent,
	}
	t.Cleanup(tk.checkLeftovers)
	return tk
}

// sibling is another task in the same state dir with the same id (for the
// duplicate-id case) but its own marker.
func (tk *task) sibling() *task {
	s := *tk
	s.marker = testutil.NewMarker(tk.t)
	tk.t.Cleanup(s.checkLeftovers)
	return &s
}

func (tk *task) checkLeftovers() {
	t := tk.t
	t.Helper()
	if killed := testutil.KillMarked(tk.marker); len(killed) > 0 {
		t.Errorf("task %s left processes behind (killed now): %v", tk.id, killed)
	}
	testutil.AssertNothingLeft(t, testutil.Leftovers{
		StateDir:     tk.stateDir,
		CgroupParent: tk.cgParent,
		ID:           tk.id,
		Mounts:       tk.mounts,
		Dirs:         tk.mountDirs(),
	})
	// The default task dir lives under the state dir or berth's TMPDIR;
	// both must be empty once every task is gone.
	testutil.AssertEmptyDir(t, tk.stateDir)
	testutil.AssertEmptyDir(t, tk.tmpDir)
}

// mountDirs are the task's directories for the mount leak check, besides
// its state dir: berth's TMPDIR, and the test's directory holding every
// t.TempDir() of the test (its rootfs, --mount sources, stdout files).
// Only the task's mounts are compared: the host's mount table is shared
// with other tests and sessions, whose mounts come and go.
func (tk *task) mountDirs() []string {
	return []string{tk.tmpDir, testutil.TempDirRoot(tk.stateDir)}
}

var idUnsafe = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// uniqueID is a valid task id made from the test name and random bits.
func uniqueID(t *testing.T) string {
	name := strings.ToLower(idUnsafe.ReplaceAllString(t.Name(), "-"))
	name = strings.TrimLeft(name, "-_.")
	if len(name) > 40 {
		name = name[len(name)-40:]
		name = strings.TrimLeft(name, "-_.")
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return name + "-" + hex.EncodeToString(b)
}

// runArgs is `run --id ID --env MARKER FLAGS... -- CMD...`.
func (tk *task) runArgs(flags []string, cmd ...string) []string {
	args := []string{"run", "--id", tk.id, "--env", tk.marker}
	args = append(args, flags...)
	args = append(args, "--")
	return append(args, cmd...)
}

// result is how one berth invocation ended.
type result struct {
	args   []string
	code   int // exit status; -1 when berth itself died of a signal
	stdout string
	stderr string
}

func (r result) String() string {
	return fmt.Sprintf("berth %s\n  exit %d\n  stdout: %q\n  stderr: %q", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// run runs `berth --state-dir DIR GLOBAL... run ... -- CMD...` and waits.
func (tk *task) run(flags []string, cmd ...string) result {
	tk.t.Helper()
	return tk.berth(tk.runArgs(flags, cmd...)...)
}

// berth runs berth with exactly args after the global flags and waits.
func (tk *task) berth(args ...string) result {
	tk.t.Helper()
	return tk.start(nil, args...).wait()
}

// proc is a berth process started by a test.
type proc struct {
	tk     *task
	cmd    *exec.Cmd
	args   []string
	stdout *os.File // read end of berth's (and the task's) stdout

	mu     sync.Mutex
	out    bytes.Buffer
	lines  chan string
	readDn chan struct{}
	stderr bytes.Buffer
	waitDn chan struct{}
	err    error
}

// start starts berth with the global flags and args; extra files become
// berth's fds 3, 4, ...
func (tk *task) start(extra []*os.File, args ...string) *proc {
	t := tk.t
	t.Helper()
	full := append([]string{"--state-dir", tk.stateDir}, tk.global...)
	full = append(full, args...)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{tk: tk, args: full, stdout: r, lines: make(chan string, 64),
		readDn: make(chan struct{}), waitDn: make(chan struct{})}
	p.cmd = exec.Command(berthBin, full...)
	if tk.ignoreSignals {
		p.cmd = exec.Command("/bin/sh", append([]string{"-c", `trap "" INT HUP QUIT; exec "$0" "$@"`, berthBin}, full...)...)
	}
	p.cmd.Stdout = w
	p.cmd.Stderr = &lockedWriter{mu: &p.mu, w: &p.stderr}
	p.cmd.ExtraFiles = extra
	// A TMPDIR of the test's own, checked to be empty afterwards, and a
	// variable the task must not inherit from berth.
	p.cmd.Env = append(os.Environ(), "TMPDIR="+tk.tmpDir, "BERTH_TEST_HOST_ONLY=1")
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start berth: %v", err)
	}
	w.Close()
	go p.read()
	go func() {
		p.err = p.cmd.Wait()
		close(p.waitDn)
	}()
	return p
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (p *proc) read() {
	defer close(p.readDn)
	defer close(p.lines)
	br := bufio.NewReader(p.stdout)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			p.mu.Lock()
			p.out.WriteString(line)
			p.mu.Unlock()
			select {
			case p.lines <- strings.TrimSuffix(line, "\n"):
			default:
			}
		}
		if err != nil {
			return
		}
	}
}

// waitLine waits for a stdout line containing s (the probe's
// {"ready":true}) and fails the test if berth ends first.
func (p *proc) waitLine(s string) {
	t := p.tk.t
	t.Helper()
	timer := time.NewTimer(runTimeout)
	defer timer.Stop()
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				res := p.wait()
				t.Fatalf("berth ended before the task printed %q:\n%s", s, res)
			}
			if strings.Contains(l, s) {
				return
			}
		case <-timer.C:
			p.kill()
			t.Fatalf("no %q from the task within %v:\n%s", s, runTimeout, p.result())
		}
	}
}

// signal sends sig to the berth process itself.
func (p *proc) signal(sig syscall.Signal) {
	p.tk.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.tk.t.Fatalf("signal berth: %v", err)
	}
}

// kill kills berth and whatever carries the task's marker.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	testutil.KillMarked(p.tk.marker)
}

// wait waits for berth to exit and for its stdout to reach end-of-file (no
// process of the task may hold it open once berth is gone).
func (p *proc) wait() result {
	t := p.tk.t
	t.Helper()
	timer := time.NewTimer(runTimeout)
	defer timer.Stop()
	select {
	case <-p.waitDn:
	case <-timer.C:
		p.kill()
		<-p.waitDn
		t.Fatalf("berth did not exit within %v:\n%s", runTimeout, p.result())
	}
	// Once berth has exited, end-of-file on stdout should follow at once;
	// a task process still holding it is a leftover.
	grace := time.NewTimer(10 * time.Second)
	defer grace.Stop()
	select {
	case <-p.readDn:
	case <-grace.C:
		p.stdout.Close()
		testutil.KillMarked(p.tk.marker)
		t.Errorf("berth exited but its stdout is still held open by a task process:\n%s", p.result())
		<-p.readDn
	}
	p.stdout.Close()
	return p.result()
}

func (p *proc) result() result {
	p.mu.Lock()
	defer p.mu.Unlock()
	code := -1
	if ps := p.cmd.ProcessState; ps != nil {
		code = ps.ExitCode()
	}
	return result{args: p.args, code: code, stdout: p.out.String(), stderr: p.stderr.String()}
}

// Report is what `probe report` prints.
type Report struct {
	Pid        int               `json:"pid"`
	Ppid       int               `json:"ppid"`
	UID        int               `json:"uid"`
	GID        int               `json:"gid"`
	EUID       int               `json:"euid"`
	EGID       int               `json:"egid"`
	Groups     []int             `json:"groups"`
	Namespaces map[string]string `json:"namespaces"`
	Pids       []int             `json:"pids"`
	Mounts     []Mount           `json:"mounts"`
	Status     map[string]string `json:"status"`
	FDs        []int             `json:"fds"`
	FDTargets  map[string]string `json:"fd_targets"`
	Dev        []DevEntry        `json:"dev"`
	Cgroup     []string          `json:"cgroup"`
	Hostname   string            `json:"hostname"`
	Env        []string          `json:"env"`
	Cwd        string            `json:"cwd"`
	Interfaces []Interface       `json:"interfaces"`
	Errors     []string          `json:"errors"`
}

// Mount is one mountinfo line as the probe reports it.
type Mount struct {
	ID           int    `json:"id"`
	Parent       int    `json:"parent"`
	MajorMinor   string `json:"major_minor"`
	Root         string `json:"root"`
	MountPoint   string `json:"mount_point"`
	Options      string `json:"options"`
	Optional     string `json:"optional"`
	FSType       string `json:"fstype"`
	Source       string `json:"source"`
	SuperOptions string `json:"super_options"`
}

func (m Mount) hasOpt(o string) bool {
	return slices.Contains(strings.Split(m.Options, ","), o)
}

func (m Mount) hasSuperOpt(o string) bool {
	return slices.Contains(strings.Split(m.SuperOptions, ","), o)
}

// DevEntry is one entry of /dev.
type DevEntry struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Mode   string `json:"mode"`
	Rdev   string `json:"rdev"`
	Target string `json:"target"`
}

// Interface is one network interface.
type Interface struct {
	Name string `json:"name"`
	Up   bool   `json:"up"`
}

// StatResult is what `probe stat` prints.
type StatResult struct {
	Path    string `json:"path"`
	Exists  bool   `json:"exists"`
	Type    string `json:"type"`
	Mode    string `json:"mode"`
	Rdev    string `json:"rdev"`
	Target  string `json:"target"`
	Entries *int   `json:"entries"`
	Error   string `json:"error"`
}

// IOResult is what `probe read` and `probe write` print.
type IOResult struct {
	Path    string `json:"path"`
	OK      bool   `json:"ok"`
	Error   string `json:"error"`
	Len     int    `json:"len"`
	Content string `json:"content"`
}

// mount returns the last (topmost) mount at mountPoint, or nil.
func (r *Report) mount(mountPoint string) *Mount {
	var found *Mount
	for i := range r.Mounts {
		if r.Mounts[i].MountPoint == mountPoint {
			found = &r.Mounts[i]
		}
	}
	return found
}

func (r *Report) dev(name string) *DevEntry {
	for i := range r.Dev {
		if r.Dev[i].Name == name {
			return &r.Dev[i]
		}
	}
	return nil
}

// decodeOne decodes stdout as exactly one JSON object into v.
func decodeOne(t *testing.T, res result, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(res.stdout))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("task output is not one JSON object: %v\n%s", err, res)
	}
	if rest, _ := io.ReadAll(dec.Buffered()); strings.TrimSpace(string(rest)) != "" || dec.More() {
		t.Fatalf("task printed more than one JSON object:\n%s", res)
	}
}

// mustSucceed fails t unless berth exited 0 and, being quiet by default,
// printed nothing of its own on stderr.
func mustSucceed(t *testing.T, res result) {
	t.Helper()
	if res.code != 0 {
		t.Fatalf("want exit 0:\n%s", res)
	}
	if res.stderr != "" {
		t.Errorf("berth wrote to stderr on a successful run (it is quiet by default):\n%s", res)
	}
}

// report runs `probe report` in the task and returns what it saw.
func (tk *task) report(flags []string, probe ...string) *Report {
	tk.t.Helper()
	res := tk.run(flags, append(probe, "report")...)
	mustSucceed(tk.t, res)
	var r Report
	decodeOne(tk.t, res, &r)
	if len(r.Errors) > 0 {
		tk.t.Errorf("probe could not read everything: %q", r.Errors)
	}
	return &r
}

// probeIO runs `probe read|write PATH [DATA]` and returns its result.
func (tk *task) probeIO(flags []string, probe []string, args ...string) IOResult {
	tk.t.Helper()
	res := tk.run(flags, append(probe, args...)...)
	mustSucceed(tk.t, res)
	var r IOResult
	decodeOne(tk.t, res, &r)
	return r
}

// probeStat runs `probe stat PATH`.
func (tk *task) probeStat(flags []string, probe []string, path string) StatResult {
	tk.t.Helper()
	res := tk.run(flags, append(probe, "stat", path)...)
	mustSucceed(tk.t, res)
	var r StatResult
	decodeOne(tk.t, res, &r)
	return r
}

// rootfsProbe is the probe command in a task rooted at newRootfs.
var rootfsProbe = []string{"/probe"}

// hostProbe is the probe command in the default task dir with probeMount.
var hostProbe = []string{"/probe/probe"}

// probeMount binds the probe into the default task dir at /probe.
func probeMount() []string { return []string{"--mount", probeDir + ":/probe:ro"} }

// Users and groups of the test rootfs.
const (
	passwdFile = `root:x:0:0:root:/root:/probe
nobody:x:65534:65534:nobody:/nonexistent:/probe
alice:x:1000:1000:alice:/home/alice:/probe
`
	groupFile = `root:x:0:
wheel:x:10:alice
staff:x:50:alice
alice:x:1000:
nobody:x:65534:
`
)

// newRootfs builds a minimal task root: the static probe at /probe,
// /etc/passwd and /etc/group, and empty /proc, /dev, /sys and /tmp.
func newRootfs(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	// A non-root task user must be able to walk "/" after pivot_root.
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"etc", "proc", "dev", "sys", "tmp"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(root, "tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(probeBin)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(root, name), data, mode); err != nil {
			t.Fatal(err)
		}
	}
	write("probe", b, 0o755)
	write("etc/passwd", []byte(passwdFile), 0o644)
	write("etc/group", []byte(groupFile), 0o644)
	return root
}

// rootfsFlags is `--rootfs ROOT` for a fresh test rootfs, plus more flags.
func rootfsFlags(t *testing.T, more ...string) []string {
	return append([]string{"--rootfs", newRootfs(t)}, more...)
}

// hostNS returns the test process's namespace links.
func hostNS(t *testing.T) map[string]string {
	t.Helper()
	ns := map[string]string{}
	for _, n := range []string{"mnt", "pid", "ipc", "uts", "net", "cgroup", "user"} {
		l, err := os.Readlink("/proc/self/ns/" + n)
		if err != nil {
			t.Fatal(err)
		}
		ns[n] = l
	}
	return ns
}

// hostHas reports whether path exists on the host.
func hostHas(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
