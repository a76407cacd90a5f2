// Command ocibench times berth-oci against runc and crun, side by side in
// one run, on the same bundle: the four verbs a container engine calls for
// a short-lived container, each a fresh process, and the same through
// containerd's `ctr run`. It also measures what every verb pays before
// its work: the runtime's process start (and, for berth-oci, which Go
// packages' inits that start spends, its size and the modules it links).
//
// Direct cycle, per runtime, the runtimes interleaved round by round (the
// first one rotating) so that drift of a shared machine hits all alike:
//
//	RUNTIME --root TMP/state/SIDE create --bundle TMP/bundle-SIDE --pid-file F ID   (stdio /dev/null)
//	RUNTIME --root TMP/state/SIDE start ID
//	wait4(pid from F)     (the cycle's driver is the container's subreaper)
//	RUNTIME --root TMP/state/SIDE delete ID
//
// The bundle is `runc spec`'s config with terminal false, args /bin/true,
// root a shared busybox-static rootfs, and linux.cgroupsPath
// /berth-bench-oci/ID (berth-oci wants the path to end in the id, so each
// runtime has its own bundle directory and id; the configs differ in that
// path alone). crun 1.8 refuses a hybrid host whatever its cgroup manager,
// so its calls run in a private mount namespace with a tmpfs over
// /sys/fs/cgroup/unified, where it sees a v1-only host: side "crun" uses
// its cgroupfs manager (the v1 controllers, as runc does), side
// "crun-nocg" adds --cgroup-manager=disabled (no cgroup at all).
//
// Through containerd: one containerd v2.4.2 per runtime (crun's in the
// same kind of mount namespace), set up as test/containerd's harness sets
// up its own, and `ctr run --rm --rootfs --runc-binary RUNTIME ... ROOTFS
// ID /bin/true` timed as a whole process, interleaved likewise. crun goes
// through a wrapper there (wrapper.go), whose cost is measured and taken
// out of crun's figure in a second line.
//
// Run as root, from the bench module (it builds berth-oci and berth-init
// with the go command unless -bin names a directory holding them):
//
//	cd bench && go run ./cmd/ocibench -n 100
//
// Exit 0 when every phase ran, 1 on a failure, 2 on bad usage or a host
// that lacks something, 130 on Ctrl-C; everything it made is removed in
// each case. The last line of output is one JSON object with the figures.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/berthrun/berth/bench/internal/benchutil"
)

type options struct {
	n, warmup, ctrN, startN, traceRuns int
	steps                              int
	bin, runc, crun, containerd, base  string
	only                               string
	nocg, ctr                          bool
}

func main() {
	if filepath.Base(os.Args[0]) == wrapperName {
		wrapperMain()
	}
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case driverArg:
			driverMain()
		case hideV2Arg:
			hideV2Exec(os.Args[2:])
		}
	}
	var o options
	flag.IntVar(&o.n, "n", 100, "cycles per runtime")
	flag.IntVar(&o.warmup, "warmup", 5, "cycles (and ctr runs) per runtime before measuring")
	flag.IntVar(&o.ctrN, "ctr-n", -1, "ctr runs per runtime (-1: as -n; 0: skip containerd)")
	flag.IntVar(&o.startN, "start-n", 200, "process starts per probe")
	flag.IntVar(&o.traceRuns, "trace-runs", 21, "GODEBUG=inittrace=1 runs of berth-oci (medians per package)")
	flag.StringVar(&o.bin, "bin", "", "directory with a static berth-oci and berth-init (empty: build both into a temp dir)")
	flag.StringVar(&o.runc, "runc", "/usr/sbin/runc", "runc binary")
	flag.StringVar(&o.crun, "crun", "/usr/bin/crun", "crun binary")
	flag.StringVar(&o.containerd, "containerd", "/tmp/berth-containerd-v2.4.2/bin", "directory of containerd, ctr and containerd-shim-runc-v2 (test/containerd builds it)")
	flag.StringVar(&o.base, "base", "", "directory with another berth-oci and berth-init (an earlier build), timed beside as berth-oci-base (direct cycles only)")
	flag.IntVar(&o.steps, "steps", 0, "also run this many cycles of berth-oci alone with --debug --log and print the median of each launch and init stage step")
	flag.StringVar(&o.only, "sides", "", "comma-separated runtimes to time in the direct cycles (berth-oci always; e.g. berth-oci,berth-oci-base: no other runtime's cgroup moves between them)")
	flag.BoolVar(&o.nocg, "crun-nocg", true, "also time crun with --cgroup-manager=disabled (direct cycles only)")
	flag.Parse()
	if o.ctrN < 0 {
		o.ctrN = o.n
	}
	o.ctr = o.ctrN > 0
	if o.n < 1 || o.warmup < 0 || o.startN < 1 || o.traceRuns < 1 || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "ocibench: -n, -start-n and -trace-runs must be at least 1, -warmup at least 0; no arguments")
		os.Exit(2)
	}
	os.Exit(run(o))
}

// bench holds what the run made and must undo.
type bench struct {
	tmp  string
	out  map[string]any // the JSON line
	errf *os.File       // stderr of the processes timed here

	mu       sync.Mutex
	undo     []func() error // run last first
	closed   bool
	once     sync.Once
	cleanErr error

	runDirExisted map[string]bool // /run/containerd{,/s,/fifo} before the run

	wrapper string   // the crun spec-version wrapper (wrapper.go)
	wrapEnv []string // its settings
}

// onCleanup registers f; once cleanup has begun, it runs f at once.
func (b *bench) onCleanup(f func() error) {
	b.mu.Lock()
	if !b.closed {
		b.undo = append(b.undo, f)
		b.mu.Unlock()
		return
	}
	b.mu.Unlock()
	_ = f()
}

// cleanup undoes everything, once: drivers and daemons (each removes its
// containers), then whatever is left in our cgroups is killed, mounts
// under the temp dir are detached, the cgroups, /run/containerd dirs we
// created, and the temp dir removed.
func (b *bench) cleanup() error {
	b.once.Do(func() {
		b.mu.Lock()
		b.closed = true
		undo := b.undo
		b.mu.Unlock()
		var errs []error
		for i := len(undo) - 1; i >= 0; i-- {
			errs = append(errs, undo[i]())
		}
		if n := killCgroupProcs(); n > 0 {
			errs = append(errs, fmt.Errorf("%d processes were left in cgroups below %s (killed)", n, cgroupParent))
		}
		if b.tmp != "" {
			for _, m := range mountsUnder(b.tmp) {
				if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
					errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
				}
			}
		}
		errs = append(errs, removeCgroups())
		for _, d := range []string{"/run/containerd/fifo", "/run/containerd/s", "/run/containerd"} {
			if b.runDirExisted != nil && !b.runDirExisted[d] {
				_ = os.Remove(d) // only when empty
			}
		}
		if b.errf != nil {
			b.errf.Close()
		}
		if b.tmp != "" {
			if len(mountsUnder(b.tmp)) > 0 {
				errs = append(errs, fmt.Errorf("mounts still under %s: not removing it", b.tmp))
			} else {
				errs = append(errs, os.RemoveAll(b.tmp))
			}
		}
		b.cleanErr = errors.Join(errs...)
	})
	return b.cleanErr
}

func run(o options) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "ocibench: needs root (namespaces, mounts, cgroups)")
		return 2
	}
	for _, p := range []string{o.runc, o.crun} {
		if _, err := exec.LookPath(p); err != nil {
			fmt.Fprintf(os.Stderr, "ocibench: %v (apt-get install -y runc crun)\n", err)
			return 2
		}
	}
	if o.ctr {
		for _, c := range []string{"containerd", "ctr", "containerd-shim-runc-v2"} {
			if _, err := os.Stat(filepath.Join(o.containerd, c)); err != nil {
				fmt.Fprintf(os.Stderr, "ocibench: %v (test/containerd builds it: see its README; or -ctr-n 0)\n", err)
				return 2
			}
		}
	}
	// A parent left by an earlier run goes if it is empty; one that holds
	// a process is not ours to touch.
	if err := removeCgroups(); err != nil {
		fmt.Fprintf(os.Stderr, "ocibench: %s is in use: %v\n", cgroupParent, err)
		return 2
	}

	b := &bench{out: map[string]any{}}
	var interrupted atomic.Bool
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigs
		interrupted.Store(true)
		fmt.Fprintf(os.Stderr, "\nocibench: %v: cleaning up\n", s)
		if err := b.cleanup(); err != nil {
			fmt.Fprintln(os.Stderr, "ocibench: cleanup:", err)
		}
		os.Exit(130)
	}()

	err := b.measure(o)
	cerr := b.cleanup()
	if interrupted.Load() {
		select {} // the signal handler exits
	}
	code := 0
	if err != nil {
		fmt.Fprintln(os.Stderr, "ocibench:", err)
		code = 1
	}
	if cerr != nil {
		fmt.Fprintln(os.Stderr, "ocibench: cleanup:", cerr)
		code = 1
	}
	if code == 0 {
		j, _ := json.Marshal(b.out)
		fmt.Println(string(j))
	}
	return code
}

// side is one runtime as the direct cycles call it.
type side struct {
	name    string
	runtime []string // binary and global flags
	hideV2  bool
}

func (b *bench) measure(o options) error {
	tmp, err := os.MkdirTemp("", "berth-ocibench-")
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.tmp = tmp
	b.mu.Unlock()
	b.runDirExisted = map[string]bool{}
	for _, d := range []string{"/run/containerd", "/run/containerd/s", "/run/containerd/fifo"} {
		_, err := os.Stat(d)
		b.runDirExisted[d] = err == nil
	}
	if b.errf, err = os.Create(filepath.Join(tmp, "stderr")); err != nil {
		return err
	}
	loadStart := loadavg()
	fmt.Printf("load at start: %s\n", uptime())

	bin, mainDir := o.bin, ""
	if bin == "" {
		bin = filepath.Join(tmp, "bin")
		if mainDir, err = buildBinaries(bin); err != nil {
			return err
		}
	}
	berthOCI, err := filepath.Abs(filepath.Join(bin, "berth-oci"))
	if err != nil {
		return err
	}
	for _, p := range []string{berthOCI, filepath.Join(bin, "berth-init")} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%w (make build, or omit -bin)", err)
		}
	}
	goEmpty, err := buildEmpty(tmp)
	if err != nil {
		return err
	}
	rootfs := filepath.Join(tmp, "rootfs")
	if err := makeRootfs(rootfs); err != nil {
		return err
	}

	// crun under containerd goes through the spec-version wrapper.
	self, err := os.Executable()
	if err != nil {
		return err
	}
	b.wrapper = filepath.Join(tmp, "bin-wrap", wrapperName)
	if err := os.MkdirAll(filepath.Dir(b.wrapper), 0o755); err != nil {
		return err
	}
	if err := os.Symlink(self, b.wrapper); err != nil {
		return err
	}
	b.wrapEnv = []string{envWrapTarget + "=" + o.crun, envWrapLog + "=" + filepath.Join(tmp, "wrap.log")}

	if err := b.startCost(o, berthOCI, goEmpty, mainDir); err != nil {
		return err
	}

	if _, err := os.Stat("/sys/fs/cgroup/memory/cgroup.procs"); err == nil {
		idle, b2b, err := attachCost(30, 50*time.Millisecond)
		if err != nil {
			return err
		}
		si, sb := benchutil.Summarize(idle), benchutil.Summarize(b2b)
		fmt.Printf("\nmove of a process into a v1 memory cgroup (write to cgroup.procs), 30 each: after 50 ms idle median %.3f ms (p95 %.3f), right after another %.3f ms (p95 %.3f)\n",
			benchutil.Ms(si.Median), benchutil.Ms(si.P95), benchutil.Ms(sb.Median), benchutil.Ms(sb.P95))
		b.out["v1_attach_after_idle_median_ms"] = benchutil.Ms(si.Median)
		b.out["v1_attach_back_to_back_median_ms"] = benchutil.Ms(sb.Median)
		if err := removeCgroups(); err != nil {
			return err
		}
	}

	sides := []side{
		{"berth-oci", []string{berthOCI}, false},
		{"runc", []string{o.runc}, false},
		{"crun", []string{o.crun}, true},
	}
	ctrSides := slices.Clone(sides)
	if o.base != "" {
		base, err := filepath.Abs(filepath.Join(o.base, "berth-oci"))
		if err != nil {
			return err
		}
		for _, p := range []string{base, filepath.Join(o.base, "berth-init")} {
			if _, err := os.Stat(p); err != nil {
				return fmt.Errorf("-base: %w", err)
			}
		}
		sides = append(sides, side{"berth-oci-base", []string{base}, false})
	}
	if o.nocg {
		sides = append(sides, side{"crun-nocg", []string{o.crun, "--cgroup-manager=disabled"}, true})
	}
	if o.only != "" {
		keep := strings.Split(o.only, ",")
		sides = slices.DeleteFunc(sides, func(s side) bool { return s.name != "berth-oci" && !slices.Contains(keep, s.name) })
	}
	if err := b.cycles(o, sides, rootfs); err != nil {
		return err
	}
	if o.steps > 0 {
		if err := b.steps(o, berthOCI, rootfs); err != nil {
			return err
		}
	}
	if o.ctr {
		if err := b.viaContainerd(o, ctrSides, rootfs); err != nil {
			return err
		}
	}
	loadEnd := loadavg()
	fmt.Printf("load at end: %s\n", uptime())
	b.out["load_avg_start"], b.out["load_avg_end"] = loadStart, loadEnd
	if left := cgroupDirs(); len(left) > 0 {
		var below []string
		for _, d := range left {
			if filepath.Base(d) != cgroupParent {
				below = append(below, d)
			}
		}
		if len(below) > 0 {
			fmt.Printf("cgroups a runtime left behind (removed now): %v\n", below)
			b.out["cgroups_left"] = len(below)
		}
	}
	return nil
}

// startCost times each runtime's process start, and reports what
// berth-oci's start spends.
func (b *bench) startCost(o options, berthOCI, goEmpty, mainDir string) error {
	berthInit := filepath.Join(filepath.Dir(berthOCI), "berth-init")
	probes := []startProbe{
		{"/bin/true", []string{"/bin/true"}, 0, nil},
		{"go-empty", []string{goEmpty}, 0, nil},
		{"berth-oci --help", []string{berthOCI, "--help"}, 0, nil},
		{"berth-init (no plan)", []string{berthInit}, 2, nil},
		{"runc --version", []string{o.runc, "--version"}, 0, nil},
		{"crun --version", []string{o.crun, "--version"}, 0, nil},
	}
	keys := []string{"true", "go_empty", "berth_oci", "berth_init", "runc", "crun"}
	if o.ctr {
		// Without a log: the wrapper's start and exec, as under containerd
		// less one append to a file.
		probes = append(probes, startProbe{"crun via wrapper", []string{b.wrapper, "--version"}, 0,
			append(os.Environ(), envWrapTarget+"="+o.crun)})
		keys = append(keys, "crun_wrapped")
	}
	fmt.Printf("\n== process start, fork to wait4, %d each after 5 warm-up rounds, interleaved (%s)\n", o.startN, uptime())
	sums, err := measureStart(probes, o.startN, b.errf)
	if err != nil {
		return err
	}
	fmt.Printf("%-22s %9s %9s %9s %10s\n", "probe", "median", "p95", "min", "size")
	for j, p := range probes {
		size := ""
		if fi, err := os.Stat(p.argv[0]); err == nil {
			size = fmt.Sprintf("%.1f MB", float64(fi.Size())/1e6)
			b.out["size_"+keys[j]+"_bytes"] = fi.Size()
		} else if path, err := exec.LookPath(p.argv[0]); err == nil {
			if fi, err := os.Stat(path); err == nil {
				size = fmt.Sprintf("%.1f MB", float64(fi.Size())/1e6)
			}
		}
		s := sums[j]
		fmt.Printf("%-22s %7.3fms %7.3fms %7.3fms %10s\n", p.name, benchutil.Ms(s.Median), benchutil.Ms(s.P95), benchutil.Ms(s.Min), size)
		b.out["start_"+keys[j]+"_median_ms"] = benchutil.Ms(s.Median)
		b.out["start_"+keys[j]+"_p95_ms"] = benchutil.Ms(s.P95)
	}

	inits, err := inittrace([]string{berthOCI, "--help"}, o.traceRuns)
	if err != nil {
		return err
	}
	var total float64
	for _, c := range inits {
		total += c.clock
	}
	lastAt := 0.0
	if len(inits) > 0 {
		l := inits[len(inits)-1]
		lastAt = l.at + l.clock
	}
	fmt.Printf("\nberth-oci --help, GODEBUG=inittrace=1, medians of %d runs: %d package inits, %.3f ms in them, the last done %.3f ms after process start\n",
		o.traceRuns, len(inits), total, lastAt)
	byClock := slices.Clone(inits)
	slices.SortStableFunc(byClock, func(a, c initCost) int {
		switch {
		case a.clock > c.clock:
			return -1
		case a.clock < c.clock:
			return 1
		}
		return 0
	})
	fmt.Printf("  %-58s %8s %8s %9s %7s\n", "costliest inits", "clock", "@", "bytes", "allocs")
	for _, c := range byClock[:min(15, len(byClock))] {
		fmt.Printf("  %-58s %6.3fms %6.3fms %9d %7d\n", c.pkg, c.clock, c.at, c.bytes, c.allocs)
	}
	b.out["berth_oci_inits"] = len(inits)
	b.out["berth_oci_init_ms"] = round3(total)
	b.out["berth_oci_inits_done_ms"] = round3(lastAt)

	deps, err := goVersionDeps(berthOCI)
	if err != nil {
		return err
	}
	fmt.Printf("\nmodules linked into berth-oci (go version -m): %d\n", len(deps))
	for _, d := range deps {
		fmt.Printf("  %s\n", d)
	}
	b.out["berth_oci_modules"] = len(deps)
	if mainDir != "" {
		pkgs, err := nonStdPackages(mainDir, "./cmd/berth-oci")
		if err != nil {
			return err
		}
		fmt.Printf("non-standard packages linked (go list -deps ./cmd/berth-oci): %d\n", len(pkgs))
		b.out["berth_oci_nonstd_packages"] = len(pkgs)
	}
	return nil
}

// verbs are the parts of a cycle, in the order reported.
var verbs = []string{"cycle", "create", "start", "wait", "delete"}

func pick(r cycleResult, verb string) time.Duration {
	switch verb {
	case "create":
		return r.Create
	case "start":
		return r.Start
	case "wait":
		return r.Wait
	case "delete":
		return r.Delete
	}
	return r.Total
}

// cycles runs o.n cycles of every side through its driver.
func (b *bench) cycles(o options, sides []side, rootfs string) error {
	drivers := make([]*driverProc, len(sides))
	for i, s := range sides {
		id := "ocib-" + s.name
		bundle := filepath.Join(b.tmp, "bundle-"+s.name)
		if err := writeBundle(o.runc, bundle, rootfs, "/"+cgroupParent+"/"+id); err != nil {
			return err
		}
		state := filepath.Join(b.tmp, "state", s.name)
		if err := os.MkdirAll(state, 0o700); err != nil {
			return err
		}
		cfg := driverConfig{
			Runtime: append(slices.Clone(s.runtime), "--root", state),
			Bundle:  bundle,
			ID:      id,
			PidFile: filepath.Join(b.tmp, s.name+".pid"),
			ErrFile: filepath.Join(b.tmp, s.name+".stderr"),
			HideV2:  s.hideV2,
		}
		d, err := startDriver(s.name, cfg)
		if err != nil {
			return fmt.Errorf("%s driver: %w", s.name, err)
		}
		drivers[i] = d
		b.onCleanup(func() error { d.stop(); return nil })
	}
	fmt.Printf("\n== direct cycles: create, start, wait4, delete; %d per runtime after %d warm-up, interleaved (%s)\n", o.n, o.warmup, uptime())
	for _, s := range sides {
		fmt.Printf("  %-10s %s --root TMP/state/%s ...%s\n", s.name, strings.Join(s.runtime, " "), s.name,
			map[bool]string{true: "  (private mount ns, tmpfs over /sys/fs/cgroup/unified)", false: ""}[s.hideV2])
	}
	res := make([][]cycleResult, len(sides))
	extra := make([]int, len(sides))
	for i := range o.warmup + o.n {
		for k := range sides {
			j := (i + k) % len(sides)
			r, err := drivers[j].cycle()
			if err != nil {
				return fmt.Errorf("cycle %d: %w", i, err)
			}
			if i >= o.warmup {
				res[j] = append(res[j], r)
				extra[j] += r.Extra
			}
		}
	}
	fmt.Printf("load after: %s\n", uptime())

	med := map[string]map[string]time.Duration{}
	fmt.Printf("%-7s %-10s %9s %9s %9s %9s\n", "verb", "runtime", "median", "p95", "min", "max")
	for _, v := range verbs {
		med[v] = map[string]time.Duration{}
		for j, s := range sides {
			d := make([]time.Duration, len(res[j]))
			for i, r := range res[j] {
				d[i] = pick(r, v)
			}
			sum := benchutil.Summarize(d)
			med[v][s.name] = sum.Median
			label := ""
			if j == 0 {
				label = v
			}
			fmt.Printf("%-7s %-10s %7.3fms %7.3fms %7.3fms %7.3fms\n", label, s.name,
				benchutil.Ms(sum.Median), benchutil.Ms(sum.P95), benchutil.Ms(sum.Min), benchutil.Ms(sum.Max))
			k := jsonKey(s.name) + "_" + v
			b.out[k+"_median_ms"] = benchutil.Ms(sum.Median)
			b.out[k+"_p95_ms"] = benchutil.Ms(sum.P95)
		}
	}
	fmt.Println("ratios of medians, runtime/berth-oci (above 1: berth-oci faster):")
	for _, s := range sides[1:] {
		var parts []string
		for _, v := range verbs {
			r := float64(med[v][s.name]) / float64(med[v]["berth-oci"])
			parts = append(parts, fmt.Sprintf("%s %.2fx", v, r))
			b.out[jsonKey(s.name)+"_over_berth_oci_"+v] = round2(r)
		}
		fmt.Printf("  %-10s %s\n", s.name, strings.Join(parts, ", "))
	}
	for j, s := range sides {
		if extra[j] > 0 {
			fmt.Printf("  %s left %d other children to the subreaper in %d cycles\n", s.name, extra[j], o.n)
		}
	}
	for _, d := range drivers {
		d.stop()
	}
	return nil
}

// writeBundle makes dir/config.json: `runc spec`'s, with terminal off,
// /bin/true as the process, root the shared rootfs and the cgroup path.
func writeBundle(runc, dir, rootfs, cgroupsPath string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if out, err := exec.Command(runc, "spec", "--bundle", dir).CombinedOutput(); err != nil {
		return fmt.Errorf("runc spec: %w: %s", err, out)
	}
	path := filepath.Join(dir, "config.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var spec map[string]any
	if err := json.Unmarshal(raw, &spec); err != nil {
		return fmt.Errorf("runc spec's config: %w", err)
	}
	proc, ok1 := spec["process"].(map[string]any)
	root, ok2 := spec["root"].(map[string]any)
	linux, ok3 := spec["linux"].(map[string]any)
	if !ok1 || !ok2 || !ok3 {
		return errors.New("runc spec's config lacks process, root or linux")
	}
	proc["terminal"] = false
	proc["args"] = []string{"/bin/true"}
	root["path"] = rootfs
	linux["cgroupsPath"] = cgroupsPath
	out, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o644)
}

// viaContainerd times `ctr run --rm` of /bin/true per runtime.
func (b *bench) viaContainerd(o options, sides []side, rootfs string) error {
	daemons := make([]*daemon, len(sides))
	for i, s := range sides {
		d := &daemon{name: s.name, runtime: s.runtime[0], bin: o.containerd, dir: filepath.Join(b.tmp, "containerd-"+s.name)}
		if s.hideV2 {
			d.runtime, d.env = b.wrapper, b.wrapEnv
		}
		b.onCleanup(d.stop)
		if err := d.start(s.hideV2); err != nil {
			return err
		}
		daemons[i] = d
	}
	fmt.Printf("\n== ctr run --rm --rootfs --runc-binary RUNTIME ... /bin/true; %d per runtime after %d warm-up, interleaved (%s)\n", o.ctrN, o.warmup, uptime())
	fmt.Printf("  one containerd %s per runtime (crun's in a private mount ns with cgroup2 hidden); e.g.\n  %s\n",
		o.containerd, strings.Join(daemons[0].runArgv(rootfs, "ID"), " "))
	d := make([][]time.Duration, len(sides))
	seq := 0
	for i := range o.warmup + o.ctrN {
		for k := range sides {
			j := (i + k) % len(sides)
			seq++
			id := fmt.Sprintf("ctr-%s-%d", sides[j].name, seq)
			t, err := timed(daemons[j].runArgv(rootfs, id), nil, b.errf, 0)
			if err != nil {
				return fmt.Errorf("ctr run %d: %w", i, err)
			}
			if i >= o.warmup {
				d[j] = append(d[j], t)
			}
		}
	}
	fmt.Printf("load after: %s\n", uptime())
	fmt.Printf("%-10s %9s %9s %9s %9s\n", "runtime", "median", "p95", "min", "max")
	meds := make([]time.Duration, len(sides))
	for j, s := range sides {
		sum := benchutil.Summarize(d[j])
		meds[j] = sum.Median
		fmt.Printf("%-10s %7.3fms %7.3fms %7.3fms %7.3fms\n", s.name,
			benchutil.Ms(sum.Median), benchutil.Ms(sum.P95), benchutil.Ms(sum.Min), benchutil.Ms(sum.Max))
		b.out["ctr_"+jsonKey(s.name)+"_median_ms"] = benchutil.Ms(sum.Median)
		b.out["ctr_"+jsonKey(s.name)+"_p95_ms"] = benchutil.Ms(sum.P95)
	}
	for j, s := range sides[1:] {
		r := float64(meds[j+1]) / float64(meds[0])
		fmt.Printf("  %s/berth-oci at the median: %.2fx\n", s.name, r)
		b.out["ctr_"+jsonKey(s.name)+"_over_berth_oci"] = round2(r)
	}
	// What crun's wrapper cost: its calls per run times its start.
	if log, err := os.ReadFile(filepath.Join(b.tmp, "wrap.log")); err == nil {
		calls := float64(strings.Count(string(log), "\n")) / float64(o.warmup+o.ctrN)
		tally := map[string]int{}
		for _, l := range strings.Split(strings.TrimSpace(string(log)), "\n") {
			for _, f := range strings.Fields(strings.Trim(l, "[]")) {
				if slices.Contains([]string{"create", "start", "delete", "kill", "state", "features", "ps", "exec"}, f) {
					if strings.Contains(l, "--force") {
						f += " --force"
					}
					tally[f]++
					break
				}
			}
		}
		fmt.Printf("  crun's calls under containerd (%d runs): %v\n", o.warmup+o.ctrN, tally)
		per, _ := b.out["start_crun_wrapped_median_ms"].(float64)
		crunStart, _ := b.out["start_crun_median_ms"].(float64)
		extra := calls * (per - crunStart)
		crunMed := benchutil.Ms(meds[2])
		fmt.Printf("  crun's wrapper: %.2f calls per ctr run, each %.3f ms over crun's own start: %.2f ms per run;\n", calls, per-crunStart, extra)
		fmt.Printf("  crun without it ~ %.3f ms: crun/berth-oci ~ %.2fx\n", crunMed-extra, (crunMed-extra)/benchutil.Ms(meds[0]))
		b.out["ctr_crun_wrapper_calls_per_run"] = round2(calls)
		b.out["ctr_crun_unwrapped_est_median_ms"] = round3(crunMed - extra)
		b.out["ctr_crun_unwrapped_est_over_berth_oci"] = round2((crunMed - extra) / benchutil.Ms(meds[0]))
	}
	var errs []error
	for _, dm := range daemons {
		errs = append(errs, dm.stop())
	}
	return errors.Join(errs...)
}

func jsonKey(name string) string { return strings.ReplaceAll(name, "-", "_") }

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }
