// Command compare measures berth against runc's libcontainer on the same
// machine, in one run: the same /bin/true in the same minimal root,
// launched both ways in turn (berth, libcontainer, berth, ...) so that
// drift of the machine hits both alike. libcontainer runs in-process,
// configured the way Nomad's executor configures it (package lcbench).
//
// It reports, per side: launch-to-exit median and p95 (from the call that
// starts the task to the return of the wait that follows its exit and
// cleanup), the RSS of the process that supervises a sleeping task, and
// launches per second with -c launched at once; and, as a reference, the
// same launch by `unshare ... chroot`. The last line of output is one JSON
// object with those figures and the ratios libcontainer/berth and
// berth/unshare+chroot of the launch-to-exit medians.
//
// Run as root, from the bench module (it builds its helpers with the go
// command):
//
//	cd bench && go run ./cmd/compare -n 50
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/berthrun/berth/bench/internal/benchutil"
	"github.com/berthrun/berth/bench/lcbench"
	"github.com/berthrun/berth/executor"
	"github.com/berthrun/berth/nsinit"
)

// berthCgroupParent is the cgroup parent of berth's tasks here.
var berthCgroupParent = filepath.Join(benchutil.CgroupParent, "berth")

// result is the last line of output; the keys are a contract.
type result struct {
	BerthMedianMs   float64 `json:"berth_launch_median_ms"`
	BerthP95Ms      float64 `json:"berth_launch_p95_ms"`
	LCMedianMs      float64 `json:"libcontainer_launch_median_ms"`
	LCP95Ms         float64 `json:"libcontainer_launch_p95_ms"`
	BerthRSSKiB     int     `json:"berth_supervisor_rss_kib"`
	LCRSSKiB        int     `json:"libcontainer_rss_kib"`
	BerthLaunchesPS float64 `json:"berth_launches_per_s"`
	LCLaunchesPS    float64 `json:"libcontainer_launches_per_s"`
	// LCOverBerth is libcontainer's launch-to-exit median over berth's.
	LCOverBerth float64 `json:"libcontainer_over_berth"`
	// The unshare+chroot reference (absent with -ref=false or without
	// unshare): its launch-to-exit median, and berth's median over it.
	RefMedianMs  *float64 `json:"unshare_chroot_median_ms,omitempty"`
	BerthOverRef *float64 `json:"berth_over_unshare_chroot,omitempty"`
}

type options struct {
	n, conc, concTotal, warmup int
	binDir, berthInit          string
	ref                        bool
}

func main() {
	// First things: this binary is re-executed as libcontainer's init; it
	// would be berth's too with -berth-init /proc/self/exe.
	nsinit.Init()
	lcbench.Init()

	var o options
	flag.IntVar(&o.n, "n", 50, "launches per side for the latency figures (at least 50 for the report)")
	flag.IntVar(&o.conc, "c", 8, "launches in flight at once for the launches-per-second figure")
	flag.IntVar(&o.concTotal, "conc-total", 0, "launches per side for the launches-per-second figure (0: max(n, 8*c))")
	flag.IntVar(&o.warmup, "warmup", 3, "launches per side before measuring (not counted)")
	flag.StringVar(&o.binDir, "bin", "", "directory with prebuilt berth (static, `make build`), berth-hold and lc-hold (empty: build them with the go command, from the bench module)")
	flag.StringVar(&o.berthInit, "berth-init", "", "init stage binary of berth's launches (empty: berth-init built beside berth, as berth finds it)")
	flag.BoolVar(&o.ref, "ref", true, "also time `unshare --mount --pid --ipc --uts --fork chroot ROOT /bin/true` as a reference")
	flag.Parse()
	if o.concTotal == 0 {
		o.concTotal = max(o.n, 8*o.conc)
	}
	os.Exit(run(o))
}

func run(o options) (code int) {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "compare: needs root (namespaces, mounts, cgroups)")
		return 2
	}
	tmp, err := os.MkdirTemp("", "berth-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		return 1
	}
	defer func() {
		if err := cleanup(tmp); err != nil {
			fmt.Fprintln(os.Stderr, "compare: cleanup:", err)
			code = 1
		}
	}()
	if err := measure(o, tmp); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		return 1
	}
	return 0
}

// cleanup removes the temp dir and the benchmark's cgroups, and says what
// was left behind, if anything.
func cleanup(tmp string) error {
	var errs []error
	if left := benchutil.LeftCgroups(); len(left) > 0 {
		errs = append(errs, fmt.Errorf("cgroups left behind by a task: %v", left))
	}
	if err := benchutil.RemoveCgroups(); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(tmp); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// side is one way of launching /bin/true: it returns the time to the
// point where the task's command runs, and the time to its exit and
// cleanup.
type side struct {
	name   string
	launch func(id string) (toExec, toExit time.Duration, err error)
}

func measure(o options, tmp string) error {
	bin := o.binDir
	if bin == "" {
		bin = filepath.Join(tmp, "bin")
		if err := buildHelpers(bin); err != nil {
			return err
		}
	}
	rootfs := filepath.Join(tmp, "rootfs")
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		return err
	}
	if err := benchutil.MakeRootfs(rootfs); err != nil {
		return err
	}
	berthCfg := executor.Config{
		StateDir:     filepath.Join(tmp, "berth-state"),
		CgroupParent: berthCgroupParent,
		// berth's default: berth-init, built beside berth; a -bin dir
		// without one falls back to the CLI, as berth itself does.
		InitPath: filepath.Join(bin, "berth-init"),
	}
	if _, err := os.Stat(berthCfg.InitPath); err != nil {
		berthCfg.InitPath = filepath.Join(bin, "berth")
	}
	if o.berthInit != "" {
		berthCfg.InitPath = o.berthInit
	}
	lcState := filepath.Join(tmp, "lc-state")
	args := []string{"/bin/true"}

	berth := side{name: "berth", launch: func(id string) (time.Duration, time.Duration, error) {
		t0 := time.Now()
		e := executor.New(berthCfg)
		if _, err := e.Launch(&executor.Command{ID: id, TaskDir: rootfs, Cmd: args[0]}); err != nil {
			return 0, 0, err
		}
		t1 := time.Now()
		st, err := e.Wait(context.Background())
		t2 := time.Now()
		if err == nil && st.ExitCode != 0 {
			err = fmt.Errorf("task %s exited with %d", id, st.ExitCode)
		}
		return t1.Sub(t0), t2.Sub(t0), err
	}}
	libct := side{name: "libcontainer", launch: func(id string) (time.Duration, time.Duration, error) {
		t0 := time.Now()
		c, err := lcbench.Start(lcState, rootfs, id, args)
		if err != nil {
			return 0, 0, err
		}
		t1 := time.Now()
		code, err := c.Wait()
		t2 := time.Now()
		if err == nil && code != 0 {
			err = fmt.Errorf("container %s exited with %d", id, code)
		}
		return t1.Sub(t0), t2.Sub(t0), err
	}}
	sides := []side{berth, libct}
	if o.ref {
		if _, err := exec.LookPath("unshare"); err == nil {
			sides = append(sides, side{name: "unshare+chroot", launch: func(string) (time.Duration, time.Duration, error) {
				t0 := time.Now()
				err := exec.Command("unshare", "--mount", "--pid", "--ipc", "--uts", "--fork", "chroot", rootfs, "/bin/true").Run()
				d := time.Since(t0)
				return d, d, err
			}})
		}
	}

	var seq atomic.Int64
	nextID := func(prefix string) string { return fmt.Sprintf("%s%d-%d", prefix, os.Getpid(), seq.Add(1)) }

	for i := 0; i < o.warmup; i++ {
		for _, s := range sides {
			if _, _, err := s.launch(nextID("w")); err != nil {
				return fmt.Errorf("%s warm-up: %w", s.name, err)
			}
		}
	}

	// Interleaved: A B A B ..., so a slow patch of the machine hits both.
	toExec := make([][]time.Duration, len(sides))
	toExit := make([][]time.Duration, len(sides))
	for i := 0; i < o.n; i++ {
		for j, s := range sides {
			a, b, err := s.launch(nextID("s"))
			if err != nil {
				return fmt.Errorf("%s launch %d: %w", s.name, i, err)
			}
			toExec[j] = append(toExec[j], a)
			toExit[j] = append(toExit[j], b)
		}
	}

	// Launches per second with o.conc in flight; in two halves per side,
	// A B A B, for the same reason.
	perSec := make([]float64, 2)
	elapsed := make([]time.Duration, 2)
	count := make([]int, 2)
	for round := 0; round < 2; round++ {
		for j := range 2 {
			k := o.concTotal / 2
			d, err := concurrent(sides[j], k, o.conc, nextID)
			if err != nil {
				return fmt.Errorf("%s concurrent: %w", sides[j].name, err)
			}
			elapsed[j] += d
			count[j] += k
		}
	}
	for j := range 2 {
		perSec[j] = float64(count[j]) / elapsed[j].Seconds()
	}

	berthRSS, berthSource, taskClean, err := berthSupervisorRSS(bin, tmp, rootfs)
	if err != nil {
		return err
	}
	lcRSS, err := holdRSS(filepath.Join(bin, "lc-hold"), "-rootfs", rootfs, "-state-dir", lcState, "-id", nextID("h"), "--", "/bin/sleep", "1000")
	if err != nil {
		return fmt.Errorf("libcontainer rss: %w", err)
	}

	fmt.Printf("launch-to-exit of /bin/true, %d launches per side, interleaved; root %s; berth's init stage %s\n", o.n, rootfs, berthCfg.InitPath)
	fmt.Printf("%-16s %9s %9s %9s %9s  %s\n", "side", "median", "p95", "min", "max", "(to exec: median p95)")
	var sums []benchutil.Summary
	for j, s := range sides {
		sum := benchutil.Summarize(toExit[j])
		ex := benchutil.Summarize(toExec[j])
		sums = append(sums, sum)
		fmt.Printf("%-16s %7.3fms %7.3fms %7.3fms %7.3fms  (%.3fms %.3fms)\n", s.name,
			benchutil.Ms(sum.Median), benchutil.Ms(sum.P95), benchutil.Ms(sum.Min), benchutil.Ms(sum.Max),
			benchutil.Ms(ex.Median), benchutil.Ms(ex.P95))
	}
	lcOverBerth := float64(sums[1].Median) / float64(sums[0].Median)
	fmt.Printf("ratio libcontainer/berth median: %.2fx; berth p95/median: %.2f\n",
		lcOverBerth, float64(sums[0].P95)/float64(sums[0].Median))
	var refMedian, berthOverRef *float64
	if len(sums) > 2 {
		m := benchutil.Ms(sums[2].Median)
		r := round2(float64(sums[0].Median) / float64(sums[2].Median))
		refMedian, berthOverRef = &m, &r
		fmt.Printf("ratio berth/unshare+chroot median: %.2fx\n", r)
	}
	fmt.Printf("launches per second, %d in flight, %d launches per side: berth %.1f, libcontainer %.1f\n",
		o.conc, count[0], perSec[0], perSec[1])
	fmt.Printf("supervisor RSS while the task sleeps: berth %d KiB (%s), libcontainer %d KiB (lc-hold: in-process libcontainer holding the container)\n",
		berthRSS, berthSource, lcRSS)
	if taskClean != "" {
		fmt.Printf("berth in the task after exec: %s\n", taskClean)
	}

	r := result{
		BerthMedianMs: benchutil.Ms(sums[0].Median), BerthP95Ms: benchutil.Ms(sums[0].P95),
		LCMedianMs: benchutil.Ms(sums[1].Median), LCP95Ms: benchutil.Ms(sums[1].P95),
		BerthRSSKiB: berthRSS, LCRSSKiB: lcRSS,
		BerthLaunchesPS: round1(perSec[0]), LCLaunchesPS: round1(perSec[1]),
		LCOverBerth: round2(lcOverBerth),
		RefMedianMs: refMedian, BerthOverRef: berthOverRef,
	}
	b, err := json.Marshal(&r)
	if err != nil {
		return err
	}
	fmt.Println(string(b))
	return nil
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

// concurrent runs total launches of s with conc in flight and returns the
// wall time they took.
func concurrent(s side, total, conc int, nextID func(string) string) (time.Duration, error) {
	var (
		wg    sync.WaitGroup
		left  atomic.Int64
		mu    sync.Mutex
		first error
	)
	left.Store(int64(total))
	t0 := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				if _, _, err := s.launch(nextID("c")); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(t0), first
}

// buildHelpers builds the berth CLI, berth-init, berth-hold and lc-hold into dir with
// the go command. berth is built in the main module, exactly as `make
// build` builds it (static, the main module's dependency versions: the
// bench module's are raised by runc's requirements); berth-init beside it
// is the init stage of berth's launches here (as for the CLI) and the
// lean reaper of the `run -d` supervisor. berth-hold (the
// RSS fallback) and lc-hold are built in the bench module; lc-hold needs
// cgo for libcontainer's nsenter.
func buildHelpers(dir string) error {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w (run from the bench module, or pass -bin)", err)
	}
	mod := strings.TrimSpace(string(out))
	if filepath.Base(filepath.Dir(mod)) != "bench" {
		return fmt.Errorf("build helpers: the current directory is not in the bench module (go.mod %q): run from bench/, or pass -bin", mod)
	}
	benchDir := filepath.Dir(mod)
	for _, p := range []struct {
		name, dir, pkg string
		cgo            bool
	}{
		{"berth", filepath.Dir(benchDir), "./cmd/berth", false},
		{"berth-init", filepath.Dir(benchDir), "./cmd/berth-init", false},
		{"berth-hold", benchDir, "./cmd/berth-hold", false},
		{"lc-hold", benchDir, "./cmd/lc-hold", true},
	} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, p.name), p.pkg)
		cmd.Dir = p.dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if p.cgo {
			cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", p.pkg, err, out)
		}
	}
	return nil
}

// berthSupervisorRSS reads the RSS of the `berth run -d` supervisor of a
// sleeping task. When the CLI cannot run a detached task, it falls back to
// berth-hold, an executor holding a sleeping task, and says so. It also
// checks that no berth mapping is left in the task after exec.
func berthSupervisorRSS(bin, tmp, rootfs string) (int, string, string, error) {
	rss, clean, err := detachedRSS(filepath.Join(bin, "berth"), filepath.Join(tmp, "cli-state"), rootfs)
	if err == nil {
		return rss, "the `berth run -d` supervisor", clean, nil
	}
	fmt.Fprintf(os.Stderr, "compare: berth run -d: %v; measuring berth-hold instead\n", err)
	rss, err = holdRSS(filepath.Join(bin, "berth-hold"), "-rootfs", rootfs, "-state-dir", filepath.Join(tmp, "hold-state"),
		"-cgroup-parent", berthCgroupParent, "--", "/bin/sleep", "1000")
	if err != nil {
		return 0, "", "", fmt.Errorf("berth rss: %w", err)
	}
	return rss, "berth-hold: an executor holding a sleeping task", "", nil
}

// settle is how long a supervisor idles before its RSS is read.
const settle = 500 * time.Millisecond

func detachedRSS(berth, stateDir, rootfs string) (int, string, error) {
	global := []string{"--state-dir", stateDir, "--cgroup-parent", berthCgroupParent}
	out, err := exec.Command(berth, append(global, "run", "-d", "--grace", "0s", "--rootfs", rootfs, "--", "/bin/sleep", "1000")...).Output()
	if err != nil {
		return 0, "", fmt.Errorf("%w: %s", err, stderrOf(err))
	}
	id := strings.TrimSpace(string(out))
	var st struct {
		Pid           int `json:"pid"`
		SupervisorPid int `json:"supervisor_pid"`
	}
	b, err := os.ReadFile(filepath.Join(stateDir, id, "state.json"))
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err == nil && st.SupervisorPid == 0 {
		err = errors.New("state.json has no supervisor_pid")
	}
	if err != nil {
		// The task runs but cannot be found: kill its cgroup by hand.
		stopCLI(berth, global, id, 0)
		return 0, "", err
	}
	time.Sleep(settle)
	rss, rerr := benchutil.RSSKiB(st.SupervisorPid)
	fmt.Printf("rss of the berth run -d supervisor (pid %d): %s\n", st.SupervisorPid, benchutil.RSSDetail(st.SupervisorPid))
	clean := taskHasNoBerth(st.Pid)
	stopCLI(berth, global, id, st.SupervisorPid)
	return rss, clean, rerr
}

// taskHasNoBerth reads the task's memory map for anything of berth: the
// init stage must leave nothing resident once the task execs.
func taskHasNoBerth(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return "unknown: " + err.Error()
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "berth") {
			return "FOUND a berth mapping: " + l
		}
	}
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	return fmt.Sprintf("nothing (pid %d is %s; no berth mapping in /proc/%d/maps)", pid, exe, pid)
}

// stopCLI stops a detached task through its supervisor (SIGTERM makes it
// shut the task down with the grace given at run, 0s) and deletes its
// state.
func stopCLI(berth string, global []string, id string, supervisor int) {
	if supervisor > 0 {
		_ = syscall.Kill(supervisor, syscall.SIGTERM)
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) && syscall.Kill(supervisor, 0) == nil {
			time.Sleep(10 * time.Millisecond)
		}
	} else {
		_ = exec.Command(berth, append(global, "kill", id, "KILL", "--all")...).Run()
	}
	if out, err := exec.Command(berth, append(global, "delete", id)...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "compare: berth delete %s: %v: %s\n", id, err, out)
	}
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return strings.TrimSpace(string(ee.Stderr))
	}
	return ""
}

// holdRSS starts a hold helper, waits for its "ready PID" line, lets it
// idle, reads its RSS, then closes its stdin so it stops its task and
// exits.
func holdRSS(prog string, args ...string) (int, error) {
	cmd := exec.Command(prog, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 0, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	line, rerr := bufio.NewReader(stdout).ReadString('\n')
	var rss int
	if rerr == nil && strings.HasPrefix(line, "ready ") {
		if _, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "ready "))); err != nil {
			rerr = fmt.Errorf("%s: bad ready line %q", prog, line)
		} else {
			time.Sleep(settle)
			rss, rerr = benchutil.RSSKiB(cmd.Process.Pid)
			fmt.Printf("rss of %s (pid %d): %s\n", filepath.Base(prog), cmd.Process.Pid, benchutil.RSSDetail(cmd.Process.Pid))
		}
	} else if rerr == nil {
		rerr = fmt.Errorf("%s: expected ready, got %q", prog, line)
	}
	stdin.Close()
	werr := cmd.Wait()
	if rerr != nil {
		return 0, rerr
	}
	if werr != nil {
		return 0, fmt.Errorf("%s: %w", prog, werr)
	}
	return rss, nil
}
