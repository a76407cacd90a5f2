// Command oci runs opencontainers/runtime-tools' validation programs against
// an OCI runtime with runc's command line, one program at a time, and reports
// per program the TAP results and what the program left behind on the host:
// mounts, container state and cgroups.
//
//	go run . -runtime /path/to/berth-oci                 # every program, report only
//	go run . -runtime /path/to/berth-oci -expect pass.list   # CI: fail on any listed failure
//
// The programs are the module's tools (go.mod's tool block), built once into
// a cache directory keyed by go.sum and the Go version. Each runs with RUNTIME
// pointing at a wrapper script that adds --root (a state directory of the
// run's own), --log and any -global flags, so the runtime's containers are
// never mixed with the host's.
package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"
)

// rootfsTarball is the name util.PrepareBundle untars, relative to the
// program's working directory; the module ships it.
var rootfsTarball = "rootfs-" + runtime.GOARCH + ".tar.gz"

type options struct {
	runtime  string
	global   []string
	expect   string
	only     []string
	timeout  time.Duration
	work     string
	cache    string
	markdown string
	module   string
	verbose  bool
	keep     bool
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	var o options
	var global multiFlag
	flag.StringVar(&o.runtime, "runtime", "", "the OCI runtime binary under test (required)")
	flag.Var(&global, "global", "a global flag passed to the runtime before each command (repeatable), e.g. -global=--cgroup-manager=disabled")
	flag.StringVar(&o.expect, "expect", "", "file listing programs that must pass; exit 1 if one fails or leaves mounts, containers or cgroups behind")
	flag.DurationVar(&o.timeout, "timeout", 2*time.Minute, "time allowed to one program")
	flag.StringVar(&o.work, "work", "", "directory for bundles, state, logs and TAP output (default: a new one under /tmp)")
	flag.StringVar(&o.cache, "cache", filepath.Join(os.TempDir(), "berth-oci-conformance"), "where the built programs are kept")
	flag.StringVar(&o.module, "module", ".", "the test/oci module directory (go.mod's tool block lists the programs)")
	flag.StringVar(&o.markdown, "markdown", "", "also write the results table as markdown to this file")
	flag.BoolVar(&o.verbose, "v", false, "print each failing assertion with its diagnostics")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory even when every program passed")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run . -runtime PATH [flags] [program ...]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	o.global = global
	o.only = flag.Args()
	if o.runtime == "" {
		flag.Usage()
		os.Exit(2)
	}
	code, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "oci:", err)
		os.Exit(2)
	}
	os.Exit(code)
}

func run(o options) (int, error) {
	if os.Geteuid() != 0 {
		return 0, errors.New("must run as root: the runtime creates namespaces, mounts and cgroups")
	}
	rt, err := exec.LookPath(o.runtime)
	if err != nil {
		return 0, err
	}
	if rt, err = filepath.Abs(rt); err != nil {
		return 0, err
	}
	bin, err := build(o.module, o.cache)
	if err != nil {
		return 0, err
	}
	all, err := programs(bin)
	if err != nil {
		return 0, err
	}
	expected := map[string]bool{}
	if o.expect != "" {
		names, err := readList(o.expect)
		if err != nil {
			return 0, err
		}
		for _, n := range names {
			if !slices.Contains(all, n) {
				return 0, fmt.Errorf("%s: unknown program %q", o.expect, n)
			}
			expected[n] = true
		}
	}
	selected := all
	switch {
	case len(o.only) > 0:
		selected = o.only
		for _, n := range selected {
			if !slices.Contains(all, n) {
				return 0, fmt.Errorf("unknown program %q", n)
			}
		}
	case o.expect != "":
		selected = slices.Sorted(maps.Keys(expected))
	}

	work := o.work
	if work == "" {
		if work, err = os.MkdirTemp("", "berth-oci-conformance-run-"); err != nil {
			return 0, err
		}
		// Searchable by others: a container in a user namespace of its
		// own sets up its root as the mapped root, which must reach the
		// programs' bundles in here (the bundles themselves are the
		// programs' own, made 0755).
		if err := os.Chmod(work, 0o711); err != nil {
			return 0, err
		}
	}
	if work, err = filepath.Abs(work); err != nil {
		return 0, err
	}
	w, err := newWorkspace(work, bin, rt, o.global)
	if err != nil {
		return 0, err
	}
	fmt.Printf("runtime %s %s\nwork    %s\n\n", rt, strings.Join(o.global, " "), work)

	var results []result
	start := time.Now()
	for _, name := range selected {
		r := w.runOne(name, o.timeout)
		results = append(results, r)
		printRow(r)
		if o.verbose && !r.pass() {
			printFailures(r)
		}
	}
	wall := time.Since(start)

	fmt.Println()
	passed, failed := 0, 0
	var bad []string
	for _, r := range results {
		if r.pass() {
			passed++
		} else {
			failed++
		}
		if expected[r.Name] && (!r.pass() || r.leftovers()) {
			bad = append(bad, r.Name)
		}
	}
	fmt.Printf("wall %s; programs passing cleanly: %d of %d\n", wall.Round(time.Second), passed, len(results))
	if o.markdown != "" {
		if err := writeMarkdown(o.markdown, rt, results); err != nil {
			return 0, err
		}
	}
	if err := writeJSON(filepath.Join(work, "results.json"), results); err != nil {
		return 0, err
	}
	code := 0
	if o.expect != "" {
		for _, n := range bad {
			why := "failed"
			if r := results[slices.IndexFunc(results, func(r result) bool { return r.Name == n })]; r.pass() {
				why = "passed but left mounts, containers or cgroups behind"
			}
			fmt.Printf("expected to pass: %s: %s\n", n, why)
		}
		// The plain closing line CI reads: one per expected program.
		fmt.Printf("oci: %d passed, %d failed\n", len(selected)-len(bad), len(bad))
		if len(bad) > 0 {
			code = 1
		}
	}
	if failed == 0 && len(bad) == 0 && !o.keep && o.work == "" {
		if err := w.remove(); err != nil {
			fmt.Fprintln(os.Stderr, "oci: keeping", work+":", err)
		}
	} else {
		fmt.Printf("TAP output, stderr and runtime logs kept in %s/out\n", work)
	}
	return code, nil
}

// build compiles every tool of the module (the validation programs and
// runtimetest, static: it runs inside the container's busybox rootfs) into
// a directory named after go.sum and the Go version, and reuses it when it
// is already complete.
func build(module, cache string) (string, error) {
	mod, err := os.ReadFile(filepath.Join(module, "go.mod"))
	if err != nil {
		return "", fmt.Errorf("-module: %w", err)
	}
	sum, err := os.ReadFile(filepath.Join(module, "go.sum"))
	if err != nil {
		return "", err
	}
	goVersion, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOVERSION: %w", err)
	}
	h := sha256.New()
	h.Write(mod)
	h.Write(sum)
	h.Write(goVersion)
	dir := filepath.Join(cache, hex.EncodeToString(h.Sum(nil))[:16])
	stamp := filepath.Join(dir, ".complete")
	if _, err := os.Stat(stamp); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	fmt.Printf("building the validation programs into %s\n", dir)
	cmd := exec.Command("go", "build", "-trimpath", "-tags", "netgo osusergo", "-o", dir+"/", "tool")
	cmd.Dir = module
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build tool: %w", err)
	}
	list := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/opencontainers/runtime-tools")
	list.Dir = module
	modDir, err := list.Output()
	if err != nil {
		return "", fmt.Errorf("go list -m runtime-tools: %w", err)
	}
	tarball, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(modDir)), rootfsTarball))
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, rootfsTarball), tarball, 0o644); err != nil {
		return "", err
	}
	return dir, os.WriteFile(stamp, nil, 0o644)
}

// programs lists the validation programs in bin: every executable but
// runtimetest, which runs inside the containers.
func programs(bin string) ([]string, error) {
	ents, err := os.ReadDir(bin)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		n := e.Name()
		if e.Type().IsRegular() && n != "runtimetest" && !strings.HasPrefix(n, ".") && !strings.HasSuffix(n, ".tar.gz") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// workspace is one run's directories: cwd holds what the programs read by
// relative path (runtimetest and the rootfs tarball), state is the runtime's
// --root, tmp/<program> its TMPDIR (so bundles, and mounts of bundles left
// behind, are found by prefix), out/<program>.* its TAP output, stderr and
// runtime log.
type workspace struct {
	dir, bin, cwd, state, tmp, out string
	runtime                        string
	wrapper                        string
}

func newWorkspace(dir, bin, rt string, global []string) (*workspace, error) {
	w := &workspace{
		dir: dir, bin: bin, runtime: rt,
		cwd:   filepath.Join(dir, "cwd"),
		state: filepath.Join(dir, "state"),
		tmp:   filepath.Join(dir, "tmp"),
		out:   filepath.Join(dir, "out"),
	}
	for _, d := range []string{w.cwd, w.state, w.tmp, w.out} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	// Copies, not symlinks: util.RuntimeInsideValidate copies runtimetest
	// into the bundle with a copy that keeps a symlink a symlink, dangling
	// inside the container.
	for _, f := range []string{"runtimetest", rootfsTarball} {
		data, err := os.ReadFile(filepath.Join(bin, f))
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(w.cwd, f), data, 0o755); err != nil {
			return nil, err
		}
	}
	// The programs call $RUNTIME create|start|state|kill|delete with no
	// global flags; the wrapper adds ours. OCI_LOG is set per program.
	var b strings.Builder
	b.WriteString("#!/bin/sh\nexec " + shellQuote(rt) + " --root " + shellQuote(w.state) + ` --log "$OCI_LOG"`)
	for _, g := range global {
		b.WriteString(" " + shellQuote(g))
	}
	b.WriteString(` "$@"` + "\n")
	w.wrapper = filepath.Join(dir, "runtime")
	if err := os.WriteFile(w.wrapper, []byte(b.String()), 0o755); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *workspace) remove() error {
	return os.RemoveAll(w.dir)
}

// result is one program's run.
type result struct {
	Name     string `json:"name"`
	Exit     int    `json:"exit"`
	TimedOut bool   `json:"timed_out,omitempty"`
	Plan     int    `json:"plan"` // -1: no plan line
	OK       int    `json:"ok"`
	NotOK    int    `json:"not_ok"`
	Skip     int    `json:"skip"`
	Todo     int    `json:"todo"`
	// Errors counts YAML diagnostics with an "error" that follow no
	// result: a runtime error a program reports without a "not ok".
	Errors int `json:"errors"`
	// Streams is how many TAP streams the program printed; Mismatch says
	// one of them ran a different number of tests than it planned, and
	// Unplanned that one printed no plan.
	Streams   int           `json:"streams"`
	Mismatch  bool          `json:"mismatch,omitempty"`
	Unplanned bool          `json:"unplanned,omitempty"`
	Failures  []tapFailure  `json:"failures,omitempty"`
	Stderr    string        `json:"stderr,omitempty"`
	Duration  time.Duration `json:"duration_ns"`
	// What the program left behind after its own cleanup, before ours.
	Mounts     []string `json:"mounts_left,omitempty"`
	MountsGone []string `json:"mounts_gone,omitempty"`
	Containers []string `json:"containers_left,omitempty"`
	Cgroups    []string `json:"cgroups_left,omitempty"`
	// What we could not clean up.
	CleanupErrors []string `json:"cleanup_errors,omitempty"`
}

type tapFailure struct {
	Line       string `json:"line"`
	Diagnostic string `json:"diagnostic,omitempty"`
}

// pass is a clean run: exit 0, every stream planned and run as planned,
// no "not ok" (a TODO failure is not one, as TAP has it) and no error
// reported without one. A program that prints no TAP at all passes on its
// exit status alone: the *_fail programs exit 0 silently when the runtime
// refused the bad config, and 1 when it took it.
func (r result) pass() bool {
	if r.TimedOut || r.Exit != 0 {
		return false
	}
	return r.Streams == 0 || !r.Unplanned && !r.Mismatch && r.NotOK == 0 && r.Errors == 0
}

func (r result) leftovers() bool {
	return len(r.Mounts)+len(r.MountsGone)+len(r.Containers)+len(r.Cgroups) > 0
}

// reason says in a few words why a program did not pass.
func (r result) reason() string {
	switch {
	case r.pass():
		return ""
	case r.TimedOut:
		return "timed out"
	case r.NotOK > 0:
		return fmt.Sprintf("%d not ok: %s", r.NotOK, r.Failures[0].Line)
	case r.Errors > 0:
		return r.Failures[0].Line
	case r.Streams == 0:
		return fmt.Sprintf("exit %d: %s", r.Exit, firstLine(r.Stderr))
	case r.Unplanned:
		return fmt.Sprintf("exit %d, no TAP plan: %s", r.Exit, firstLine(r.Stderr))
	case r.Mismatch:
		return fmt.Sprintf("exit %d, planned %d ran %d: %s", r.Exit, r.Plan, r.OK+r.Todo, firstLine(r.Stderr))
	default:
		return fmt.Sprintf("exit %d: %s", r.Exit, firstLine(r.Stderr))
	}
}

func (w *workspace) runOne(name string, timeout time.Duration) result {
	r := result{Name: name}
	tmp := filepath.Join(w.tmp, name)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		r.Exit, r.Stderr = -1, err.Error()
		return r
	}
	mountsBefore, _ := readMounts()
	cgroupsBefore := listCgroups()

	tapPath := filepath.Join(w.out, name+".tap")
	logPath := filepath.Join(w.out, name+".log")
	tapFile, err := os.Create(tapPath)
	if err != nil {
		r.Exit, r.Stderr = -1, err.Error()
		return r
	}
	var stderr bytes.Buffer
	cmd := exec.Command(filepath.Join(w.bin, name))
	cmd.Dir = w.cwd
	cmd.Env = append(os.Environ(), "RUNTIME="+w.wrapper, "TMPDIR="+tmp, "OCI_LOG="+logPath)
	cmd.Stdout = tapFile
	cmd.Stderr = &stderr
	// Its own process group, so that a timeout ends the program and the
	// runtime commands it is waiting on, not the containers they made
	// (those are the runtime's to delete, below).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	err = cmd.Start()
	if err == nil {
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err = <-done:
		case <-time.After(timeout):
			r.TimedOut = true
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			err = <-done
		}
	}
	r.Duration = time.Since(start)
	tapFile.Close()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.Exit = ee.ExitCode()
	default:
		r.Exit = -1
		stderr.WriteString(err.Error())
	}
	r.Stderr = stderr.String()
	_ = os.WriteFile(filepath.Join(w.out, name+".stderr"), stderr.Bytes(), 0o644)
	if tap, err := os.ReadFile(tapPath); err == nil {
		parseTAP(tap, &r)
	}

	// What was left behind, then clean it: containers first (deleting them
	// releases their mounts and cgroups), then mounts under our tmp, then
	// the runtime-tools cgroups.
	r.Containers = w.containers()
	for _, id := range r.Containers {
		out, err := exec.Command(w.wrapper, "delete", "--force", id).CombinedOutput()
		if err != nil {
			r.CleanupErrors = append(r.CleanupErrors, fmt.Sprintf("delete --force %s: %v: %s", id, err, strings.TrimSpace(string(out))))
		}
	}
	if left := w.containers(); len(left) > 0 {
		for _, id := range left {
			os.RemoveAll(filepath.Join(w.state, id))
		}
		r.CleanupErrors = append(r.CleanupErrors, "state left after delete --force: "+strings.Join(left, " "))
	}
	if mountsAfter, err := readMounts(); err == nil && mountsBefore != nil {
		r.Mounts, r.MountsGone = diffMounts(mountsBefore, mountsAfter)
		r.CleanupErrors = append(r.CleanupErrors, unmountUnder(r.Mounts, w.dir)...)
	}
	r.Cgroups = diffStrings(listCgroups(), cgroupsBefore)
	r.CleanupErrors = append(r.CleanupErrors, removeTestCgroups(r.Cgroups)...)
	if err := os.RemoveAll(tmp); err != nil {
		r.CleanupErrors = append(r.CleanupErrors, err.Error())
	}
	return r
}

// containers lists the state directory: one entry per container the
// runtime still knows.
func (w *workspace) containers() []string {
	ents, err := os.ReadDir(w.state)
	if err != nil {
		return nil
	}
	var ids []string
	for _, e := range ents {
		ids = append(ids, e.Name())
	}
	return ids
}

var (
	tapResult = regexp.MustCompile(`^(not )?ok\b\s*(\d*)\s*-?\s*(.*)$`)
	tapPlan   = regexp.MustCompile(`^1\.\.(\d+)`)
	tapSkip   = regexp.MustCompile(`(?i)#\s*skip`)
	tapTodo   = regexp.MustCompile(`(?i)#\s*todo`)
)

// parseTAP counts the top-level results of the TAP streams a program
// prints (some print one per sub-test, each with its header and plan).
// Nested output (runtimetest's own TAP, quoted in YAML diagnostics) is
// indented and so not counted. The YAML block after a failure is kept as
// its diagnostic; a block after no result that carries an "error" is a
// failure too: that is how a program reports a runtime error and then
// plans nothing ("1..0").
func parseTAP(tap []byte, r *result) {
	sc := bufio.NewScanner(bytes.NewReader(tap))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	var (
		block     *strings.Builder // the YAML block being read
		attached  bool             // the block follows a result
		lastFail  = -1             // index in r.Failures of the result before the block
		streams   []tapStream
		afterLine bool // the previous line was a result
	)
	cur := func() *tapStream {
		if len(streams) == 0 {
			streams = append(streams, tapStream{plan: -1})
		}
		return &streams[len(streams)-1]
	}
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if block != nil {
			if trimmed != "..." {
				block.WriteString(strings.TrimPrefix(line, "  ") + "\n")
				continue
			}
			diag := block.String()
			switch {
			case attached && lastFail >= 0:
				r.Failures[lastFail].Diagnostic += diag
			case !attached && strings.Contains(diag, `"error"`):
				r.Failures = append(r.Failures, tapFailure{Line: "error: " + yamlError(diag), Diagnostic: diag})
				cur().errors++
			}
			block, attached, lastFail, afterLine = nil, false, -1, false
			continue
		}
		if trimmed == "---" {
			block, attached = &strings.Builder{}, afterLine
			continue
		}
		if strings.HasPrefix(line, "TAP version") {
			streams = append(streams, tapStream{plan: -1})
			afterLine = false
			continue
		}
		if m := tapPlan.FindStringSubmatch(line); m != nil {
			fmt.Sscan(m[1], &cur().plan)
			afterLine = false
			continue
		}
		m := tapResult.FindStringSubmatch(line)
		if m == nil {
			// A comment or free text ("Refer to: ...", printed after a
			// spec result) keeps a following block attached, and is part
			// of a failure's diagnostic ("# expect: 1000, actual: max").
			if afterLine && lastFail >= 0 && strings.HasPrefix(line, "#") {
				r.Failures[lastFail].Diagnostic += line + "\n"
			}
			continue
		}
		afterLine, lastFail = true, -1
		st := cur()
		switch {
		case m[1] == "" && tapSkip.MatchString(line):
			st.results++
			r.OK++
			r.Skip++
		case m[1] == "":
			st.results++
			r.OK++
		case tapTodo.MatchString(line):
			st.results++
			r.Todo++
		default:
			st.results++
			r.NotOK++
			r.Failures = append(r.Failures, tapFailure{Line: line})
			lastFail = len(r.Failures) - 1
		}
	}
	r.Streams = len(streams)
	for _, st := range streams {
		r.Errors += st.errors
		if st.plan < 0 {
			r.Plan = -1
			r.Unplanned = true
			continue
		}
		if !r.Unplanned {
			r.Plan = max(r.Plan, 0) + st.plan
		}
		if st.plan != st.results {
			r.Mismatch = true
		}
	}
}

// tapStream is one TAP stream of a program's output: its plan (-1 when it
// printed none), how many results it printed and how many orphan errors.
type tapStream struct {
	plan, results, errors int
}

// yamlError returns the first line of a YAML diagnostic's "error" value.
func yamlError(diag string) string {
	var v map[string]any
	if json.Unmarshal([]byte(diag), &v) == nil {
		if e, ok := v["error"].(string); ok {
			return firstLine(e)
		}
	}
	return firstLine(diag)
}

// mount is a mountinfo line without its ids, which change on every mount:
// what is mounted where.
type mount struct {
	point, root, fstype, source string
}

func (m mount) String() string {
	return fmt.Sprintf("%s (%s %s root %s)", m.point, m.fstype, m.source, m.root)
}

func readMounts() (map[mount]int, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	ms := map[mount]int{}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		sep := -1
		for i, x := range f {
			if x == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || len(f) < sep+3 {
			continue
		}
		ms[mount{point: unescape(f[4]), root: unescape(f[3]), fstype: f[sep+1], source: unescape(f[sep+2])}]++
	}
	return ms, nil
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%3o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// diffMounts returns the mounts in after but not before (left behind) and
// in before but not after (taken away), as sorted strings.
func diffMounts(before, after map[mount]int) (left, gone []string) {
	for m, n := range after {
		for i := before[m]; i < n; i++ {
			left = append(left, m.String())
		}
	}
	for m, n := range before {
		for i := after[m]; i < n; i++ {
			gone = append(gone, m.String())
		}
	}
	sort.Strings(left)
	sort.Strings(gone)
	return left, gone
}

// unmountUnder detaches every leftover mount whose mount point is under
// dir, deepest first: those are on this run's bundles. Mounts elsewhere are
// only reported: they may be another process's.
func unmountUnder(left []string, dir string) []string {
	var points []string
	for _, l := range left {
		p := l[:strings.Index(l, " (")]
		if strings.HasPrefix(p, dir+"/") {
			points = append(points, p)
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	var errs []string
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Sprintf("umount %s: %v", p, err))
		}
	}
	return errs
}

const cgroupRoot = "/sys/fs/cgroup"

// cgroupBases returns, relative to cgroupRoot, the roots of every mounted
// hierarchy and this process's own cgroup in each: a relative cgroupsPath
// is placed under the runtime's own cgroup, which is ours.
func cgroupBases() []string {
	ents, _ := os.ReadDir(cgroupRoot)
	var bases []string
	for _, e := range ents {
		if e.IsDir() {
			bases = append(bases, e.Name())
		}
	}
	own, _ := os.ReadFile("/proc/self/cgroup")
	for _, line := range strings.Split(string(own), "\n") {
		// hierarchy-id:controllers:path; the v2 line has no controllers.
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 || f[2] == "/" {
			continue
		}
		name := strings.TrimPrefix(f[1], "name=")
		if name == "" {
			name = "unified"
		}
		if _, err := os.Stat(filepath.Join(cgroupRoot, name)); err != nil {
			continue
		}
		bases = append(bases, name+f[2])
	}
	return bases
}

// listCgroups lists the cgroup directories four levels under each base
// (runtime-tools' deepest is testdir/cgrouptest/container), leaving out
// other tests' berth-test-* parents.
func listCgroups() []string {
	seen := map[string]bool{}
	for _, base := range cgroupBases() {
		root := filepath.Join(cgroupRoot, base)
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() || p == root {
				return nil
			}
			rel, _ := filepath.Rel(root, p)
			if strings.Count(rel, "/") >= 4 {
				return filepath.SkipDir
			}
			if strings.HasPrefix(d.Name(), "berth-test-") {
				return filepath.SkipDir
			}
			seen[filepath.Join(base, rel)] = true
			return nil
		})
	}
	return slices.Sorted(maps.Keys(seen))
}

// removeTestCgroups removes, deepest first, the leftover cgroups at the
// fixed paths runtime-tools' programs ask for (/cgrouptest and the
// relative testdir/cgrouptest/container); others are only reported.
func removeTestCgroups(left []string) []string {
	var mine []string
	for _, c := range left {
		for _, base := range cgroupBases() {
			rel, ok := strings.CutPrefix(c, base+"/")
			if ok && (rel == "cgrouptest" || rel == "testdir" || strings.HasPrefix(rel, "cgrouptest/") || strings.HasPrefix(rel, "testdir/")) {
				mine = append(mine, c)
				break
			}
		}
	}
	sort.Slice(mine, func(i, j int) bool { return len(mine[i]) > len(mine[j]) })
	var errs []string
	for _, c := range mine {
		if err := os.Remove(filepath.Join(cgroupRoot, c)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err.Error())
		}
	}
	return errs
}

func diffStrings(a, b []string) []string {
	seen := map[string]bool{}
	for _, s := range b {
		seen[s] = true
	}
	var out []string
	for _, s := range a {
		if !seen[s] {
			out = append(out, s)
		}
	}
	return out
}

func printRow(r result) {
	verdict := "PASS"
	switch {
	case !r.pass():
		verdict = "FAIL"
	case r.leftovers():
		verdict = "LEAK"
	}
	plan := "-"
	if r.Plan >= 0 {
		plan = fmt.Sprint(r.Plan)
	}
	fmt.Printf("%-4s %-36s ok %3d  not ok %3d  skip %3d  plan %3s  %5.1fs", verdict, r.Name, r.OK, r.NotOK, r.Skip, plan, r.Duration.Seconds())
	if s := r.reason(); s != "" {
		fmt.Printf("  %s", truncate(s, 100))
	}
	fmt.Println()
	for _, m := range r.Mounts {
		fmt.Printf("     mount left behind: %s\n", m)
	}
	for _, m := range r.MountsGone {
		fmt.Printf("     mount gone: %s\n", m)
	}
	for _, c := range r.Containers {
		fmt.Printf("     container left behind: %s\n", c)
	}
	for _, c := range r.Cgroups {
		fmt.Printf("     cgroup left behind: %s\n", c)
	}
	for _, e := range r.CleanupErrors {
		fmt.Printf("     cleanup: %s\n", e)
	}
}

func printFailures(r result) {
	for _, f := range r.Failures {
		fmt.Printf("     %s\n", f.Line)
		for _, l := range strings.Split(strings.TrimRight(f.Diagnostic, "\n"), "\n") {
			if l != "" {
				fmt.Printf("       %s\n", l)
			}
		}
	}
	if s := strings.TrimSpace(r.Stderr); s != "" {
		for _, l := range strings.Split(s, "\n") {
			fmt.Printf("     stderr: %s\n", l)
		}
	}
}

func writeMarkdown(path, rt string, results []result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "| program | %s | not ok / planned | left behind | reason |\n|---|---|---|---|---|\n", filepath.Base(rt))
	for _, r := range results {
		verdict := "pass"
		if !r.pass() {
			verdict = "FAIL"
		}
		left := []string{}
		if n := len(r.Mounts); n > 0 {
			left = append(left, fmt.Sprintf("%d mounts", n))
		}
		if n := len(r.Containers); n > 0 {
			left = append(left, fmt.Sprintf("%d containers", n))
		}
		if n := len(r.Cgroups); n > 0 {
			left = append(left, fmt.Sprintf("%d cgroups", n))
		}
		plan := "-"
		if r.Plan >= 0 {
			plan = fmt.Sprint(r.Plan)
		}
		reason := strings.ReplaceAll(truncate(r.reason(), 120), "|", `\|`)
		fmt.Fprintf(&b, "| %s | %s | %d / %s | %s | %s |\n", r.Name, verdict, r.NotOK, plan, strings.Join(left, ", "), reason)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func writeJSON(path string, results []result) error {
	data, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// readList reads a program list: one name a line, # comments.
func readList(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, line := range strings.Split(string(data), "\n") {
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		if line = strings.TrimSpace(line); line != "" {
			names = append(names, line)
		}
	}
	return names, nil
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
