// Command clibench times the berth CLI as a whole process against
// bubblewrap (bwrap) doing the same isolation, paired and interleaved: the
// cost a shell script or a job system pays per task, the Go runtime start
// of the CLI included.
//
// Each side launches /bin/true in the same minimal root (benchutil.MakeRootfs:
// the host's /bin/true and /bin/sleep with their shared libraries, mount
// points, /etc/passwd), from fork to the return of wait4:
//
//	berth   berth --state-dir TMP/state --cgroup-parent berth-bench/cli run --rootfs ROOT -- /bin/true
//	bwrap   bwrap --bind ROOT / --proc /proc --dev /dev --tmpfs /tmp
//	              --unshare-pid --unshare-ipc --unshare-uts --die-with-parent --new-session
//	              --cap-drop ALL --cap-add CAP_<each of berth's default set> -- /bin/true
//
// and, unless -matched=false, a third side, bwrap+, which adds what berth
// mounts by default and bwrap's line above does not: a tmpfs /dev/shm, an
// mqueue, /sys read-only, berth's masked paths that exist on this host
// (/dev/null over files, a read-only tmpfs over directories) and its
// read-only /proc paths.
//
// The runs go in rounds, one run of every side per round, the side that
// goes first rotating, so that drift of the machine hits all alike; the
// ratio berth/bwrap is taken round by round and its median quoted. The
// machine's load (uptime) is printed before and after. The last line of
// output is one JSON object with the figures.
//
// Run as root, from the bench module: it builds berth and berth-init
// (CGO_ENABLED=0 go build -o DIR/ ./cmd/... in the main module) unless
// -bin names a directory holding them.
//
//	cd bench && go run ./cmd/clibench -n 200
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/berthrun/berth/bench/internal/benchutil"
	"github.com/berthrun/berth/caps"
	"github.com/berthrun/berth/mounts"
)

// cgroupParent is where the CLI's tasks live here; benchutil.RemoveCgroups
// deletes it with the rest of berth-bench.
var cgroupParent = filepath.Join(benchutil.CgroupParent, "cli")

type options struct {
	n, warmup int
	bin       string
	bwrap     string
	matched   bool
}

func main() {
	var o options
	flag.IntVar(&o.n, "n", 200, "rounds (one run of every side per round)")
	flag.IntVar(&o.warmup, "warmup", 10, "rounds before measuring (not counted)")
	flag.StringVar(&o.bin, "bin", "", "directory with a static berth (and berth-init beside it) (empty: build both with the go command into a temp dir)")
	flag.StringVar(&o.bwrap, "bwrap", "bwrap", "the bubblewrap binary")
	flag.BoolVar(&o.matched, "matched", true, "also time bwrap+: bwrap with the mounts, masks and read-only paths berth adds by default")
	flag.Parse()
	if o.n < 1 || o.warmup < 0 {
		fmt.Fprintln(os.Stderr, "clibench: -n must be at least 1, -warmup at least 0")
		os.Exit(2)
	}
	os.Exit(run(o))
}

func run(o options) (code int) {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "clibench: needs root (namespaces, mounts, cgroups)")
		return 2
	}
	tmp, err := os.MkdirTemp("", "berth-clibench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "clibench:", err)
		return 1
	}
	defer func() {
		var errs []error
		if left := benchutil.LeftCgroups(); len(left) > 0 {
			errs = append(errs, fmt.Errorf("cgroups left behind by a task: %v", left))
		}
		errs = append(errs, benchutil.RemoveCgroups(), os.RemoveAll(tmp))
		if err := errors.Join(errs...); err != nil {
			fmt.Fprintln(os.Stderr, "clibench: cleanup:", err)
			code = 1
		}
	}()
	if err := measure(o, tmp); err != nil {
		fmt.Fprintln(os.Stderr, "clibench:", err)
		return 1
	}
	return 0
}

// side is one way of running /bin/true isolated, as a command line.
type side struct {
	name string
	argv []string
}

// sample is one run: wall time from fork to the return of wait4, and the
// CPU time wait4 reports (user + system of the process and of the
// descendants it waited for). wait4's ru_maxrss is left out: os/exec starts
// the child with vfork, and the kernel records the high-water RSS of the
// mm the child leaves at execve, which is this program's.
type sample struct {
	wall, cpu time.Duration
}

func measure(o options, tmp string) error {
	bin := o.bin
	if bin == "" {
		bin = filepath.Join(tmp, "bin")
		if err := buildBerth(bin); err != nil {
			return err
		}
	}
	berth, err := filepath.Abs(filepath.Join(bin, "berth"))
	if err != nil {
		return err
	}
	bwrap, err := exec.LookPath(o.bwrap)
	if err != nil {
		return fmt.Errorf("%w (install bubblewrap: apt-get install -y bubblewrap)", err)
	}
	root := filepath.Join(tmp, "rootfs")
	if err := os.Mkdir(root, 0o755); err != nil {
		return err
	}
	if err := benchutil.MakeRootfs(root); err != nil {
		return err
	}

	sides := []side{
		{"berth", []string{berth, "--state-dir", filepath.Join(tmp, "state"), "--cgroup-parent", cgroupParent,
			"run", "--rootfs", root, "--", "/bin/true"}},
		{"bwrap", bwrapArgv(bwrap, root, false)},
	}
	if o.matched {
		sides = append(sides, side{"bwrap+", bwrapArgv(bwrap, root, true)})
	}

	// Every side's stderr goes to one file, emptied before each run and
	// read when a run fails: a file, not a pipe, so that no goroutine of
	// this program copies output while it times.
	errFile, err := os.Create(filepath.Join(tmp, "stderr"))
	if err != nil {
		return err
	}
	defer errFile.Close()

	loadStart := loadavg()
	uptimeStart := uptime()
	for i := range o.warmup {
		for _, s := range sides {
			if _, err := runOnce(s, errFile); err != nil {
				return fmt.Errorf("warm-up %d: %w", i, err)
			}
		}
	}
	samples := make([][]sample, len(sides))
	for i := range o.n {
		for k := range sides {
			j := (i + k) % len(sides) // who goes first rotates
			sm, err := runOnce(sides[j], errFile)
			if err != nil {
				return fmt.Errorf("round %d: %w", i, err)
			}
			samples[j] = append(samples[j], sm)
		}
	}
	loadEnd := loadavg()
	uptimeEnd := uptime()

	// Whether berth runs berth-init as its init stage or re-executes
	// itself is up to the berth under test; this says only what was there.
	_, statErr := os.Stat(filepath.Join(bin, "berth-init"))
	berthInit := statErr == nil
	fmt.Printf("whole process, /bin/true in %s, %d rounds after %d warm-up rounds, sides interleaved (first one rotating)\n", root, o.n, o.warmup)
	fmt.Printf("berth: %s (berth-init beside it: %v)\n", berth, berthInit)
	for _, s := range sides {
		fmt.Printf("  %-7s %s\n", s.name, strings.Join(s.argv, " "))
	}
	fmt.Printf("load before: %s\nload after:  %s\n", uptimeStart, uptimeEnd)
	fmt.Printf("%-7s %9s %9s %9s %9s %9s\n", "side", "median", "p95", "min", "max", "cpu med")
	out := map[string]any{
		"rounds":            o.n,
		"load1_start":       loadStart[0],
		"load1_end":         loadEnd[0],
		"load_avg_start":    loadStart,
		"load_avg_end":      loadEnd,
		"berth_init_beside": berthInit,
	}
	var medians []time.Duration
	for j, s := range sides {
		walls := make([]time.Duration, len(samples[j]))
		cpus := make([]time.Duration, len(samples[j]))
		for i, sm := range samples[j] {
			walls[i], cpus[i] = sm.wall, sm.cpu
		}
		w, c := benchutil.Summarize(walls), benchutil.Summarize(cpus)
		medians = append(medians, w.Median)
		fmt.Printf("%-7s %7.3fms %7.3fms %7.3fms %7.3fms %7.3fms\n", s.name,
			benchutil.Ms(w.Median), benchutil.Ms(w.P95), benchutil.Ms(w.Min), benchutil.Ms(w.Max), benchutil.Ms(c.Median))
		key := jsonKey(s.name)
		out[key+"_median_ms"] = benchutil.Ms(w.Median)
		out[key+"_p95_ms"] = benchutil.Ms(w.P95)
		out[key+"_min_ms"] = benchutil.Ms(w.Min)
		out[key+"_max_ms"] = benchutil.Ms(w.Max)
		out[key+"_cpu_median_ms"] = benchutil.Ms(c.Median)
	}
	for j := 1; j < len(sides); j++ {
		r := pairedRatios(samples[0], samples[j])
		key := "berth_over_" + jsonKey(sides[j].name)
		fmt.Printf("berth/%s, round by round: median %.2fx, min %.2fx, max %.2fx; ratio of medians %.2fx\n",
			sides[j].name, r[len(r)/2], r[0], r[len(r)-1], float64(medians[0])/float64(medians[j]))
		out[key] = round2(r[len(r)/2])
		out[key+"_min"] = round2(r[0])
		out[key+"_max"] = round2(r[len(r)-1])
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	fmt.Println(string(b))
	return nil
}

// bwrapArgv is bwrap's command line for the same task: berth's namespaces
// (mount, pid, ipc, uts; network and user shared), ROOT bound as /, /proc,
// a /dev with the usual nodes, a tmpfs /tmp, its own session, berth's
// default capabilities. matched adds the rest of berth's default mounts.
func bwrapArgv(bwrap, root string, matched bool) []string {
	a := []string{bwrap, "--bind", root, "/", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"}
	if matched {
		a = append(a, "--tmpfs", "/dev/shm", "--mqueue", "/dev/mqueue",
			// bwrap cannot mount a fresh sysfs; the host's, read-only
			// (recursive: its cgroup mounts come along).
			"--ro-bind", "/sys", "/sys")
		for _, p := range mounts.MaskedPaths {
			fi, err := os.Stat(p)
			switch {
			case err != nil:
			case fi.IsDir():
				a = append(a, "--tmpfs", p, "--remount-ro", p)
			default:
				a = append(a, "--ro-bind", "/dev/null", p)
			}
		}
		for _, p := range mounts.ReadOnlyPaths {
			if _, err := os.Stat(p); err == nil {
				// The host's: the bind source is looked up outside.
				a = append(a, "--ro-bind", p, p)
			}
		}
	}
	a = append(a, "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--new-session", "--cap-drop", "ALL")
	for _, c := range caps.Default {
		a = append(a, "--cap-add", c)
	}
	return append(a, "--", "/bin/true")
}

// runOnce runs s to its exit and checks it exited 0.
func runOnce(s side, errFile *os.File) (sample, error) {
	if err := errFile.Truncate(0); err != nil {
		return sample{}, err
	}
	if _, err := errFile.Seek(0, 0); err != nil {
		return sample{}, err
	}
	cmd := exec.Command(s.argv[0], s.argv[1:]...)
	cmd.Stderr = errFile // stdin and stdout: /dev/null
	t0 := time.Now()
	err := cmd.Run()
	wall := time.Since(t0)
	if err != nil {
		msg, _ := os.ReadFile(errFile.Name())
		return sample{}, fmt.Errorf("%s: %w: %s", s.name, err, strings.TrimSpace(string(msg)))
	}
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	sm := sample{wall: wall}
	if ru != nil {
		sm.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return sm, nil
}

// pairedRatios is a[i]/b[i] for every round, sorted.
func pairedRatios(a, b []sample) []float64 {
	r := make([]float64, len(a))
	for i := range a {
		r[i] = float64(a[i].wall) / float64(b[i].wall)
	}
	slices.Sort(r)
	return r
}

func jsonKey(name string) string {
	switch name {
	case "berth":
		return "berth_cli"
	case "bwrap+":
		return "bwrap_matched"
	}
	return name
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

// loadavg is the 1, 5 and 15 minute load averages.
func loadavg() []float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nil
	}
	var l [3]float64
	if _, err := fmt.Sscan(string(b), &l[0], &l[1], &l[2]); err != nil {
		return nil
	}
	return l[:]
}

// uptime is uptime(1)'s line, or /proc/loadavg's when it is missing.
func uptime() string {
	if out, err := exec.Command("uptime").Output(); err == nil {
		return strings.TrimSpace(string(out))
	}
	b, _ := os.ReadFile("/proc/loadavg")
	return "loadavg " + strings.TrimSpace(string(b))
}

// buildBerth builds the CLI and the init binary, static, into dir, as
// `CGO_ENABLED=0 go build -o DIR/ ./cmd/...` in the main module (the parent
// of the bench module) builds them: berth finds berth-init beside itself.
func buildBerth(dir string) error {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w (run from the bench module, or pass -bin)", err)
	}
	mod := strings.TrimSpace(string(out))
	if filepath.Base(filepath.Dir(mod)) != "bench" {
		return fmt.Errorf("build berth: the current directory is not in the bench module (go.mod %q): run from bench/, or pass -bin", mod)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/...")
	cmd.Dir = filepath.Dir(filepath.Dir(mod))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/... in %s: %w\n%s", cmd.Dir, err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "berth")); err != nil {
		return fmt.Errorf("build berth: %w", err)
	}
	return nil
}
