// Command soak runs berth under a steady load for a long time and checks
// that nothing grows. It keeps -tasks tasks alive at once and, for
// -duration, from -workers goroutines, stops and relaunches them, execs
// into them and reads their stats; every -report it pauses the load and
// reads what must not grow: the soak's own open fds, goroutines, RSS and
// Go heap (what a scheduler that vendors the executor sees), the cgroups
// below its cgroup parent on every hierarchy, the host's mounts below its
// state dir, the entries of its state dir, the processes in its cgroups,
// its children and zombies, and (-mode cli) the supervisors of its
// detached tasks. At the end it compares the start with the end, once with
// every task running and once with every task stopped, prints PASS or
// FAIL, and exits 1 on growth or on any unexpected error.
//
// It is a benchmark-style command, not a test: run as root, from the bench
// module (-mode cli builds berth with the go command unless -bin is given):
//
//	cd bench && go run ./cmd/soak -duration 10m -tasks 100
//	cd bench && go run ./cmd/soak -mode cli -duration 10m -tasks 100
//
// Everything lives below its own state dir (a new temp dir unless
// -state-dir) and cgroup parent (berth-soak); Ctrl-C stops the load, stops
// every task and removes both, as the end of a run does. The last line of
// output is one JSON object.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/berthrun/berth/nsinit"
	"github.com/hashicorp/go-hclog"
)

type options struct {
	duration, warmup, report  time.Duration
	tasks, workers, maxErrors int
	stateDir, cgroupParent    string
	mode, bin                 string
	killWithParent            bool
}

func main() {
	nsinit.Init() // first thing: this binary is also the tasks' init stage
	var o options
	flag.DurationVar(&o.duration, "duration", 10*time.Minute, "how long the load runs (warm-up included)")
	flag.IntVar(&o.tasks, "tasks", 100, "tasks alive at once")
	flag.StringVar(&o.stateDir, "state-dir", "", "berth state dir, empty or absent (default: a new temp dir, removed at the end)")
	flag.StringVar(&o.cgroupParent, "cgroup-parent", "berth-soak", "cgroup parent of every task, on every hierarchy (must hold no cgroup; removed at the end)")
	flag.StringVar(&o.mode, "mode", "lib", "lib: the executor library in this process; cli: the berth CLI (run -d, exec, stats --json, stop, delete)")
	flag.StringVar(&o.bin, "bin", "", "-mode cli: directory with a static berth and berth-init (default: build both into a temp dir)")
	flag.IntVar(&o.workers, "workers", 2, "operations in flight at once")
	flag.DurationVar(&o.report, "report", time.Minute, "interval between progress reports")
	flag.BoolVar(&o.killWithParent, "kill-with-parent", true, "-mode lib: executor.Config.KillWithParent (the tasks die if the soak dies)")
	flag.IntVar(&o.maxErrors, "max-errors", 100, "stop the load after this many unexpected errors (the verdict is FAIL either way)")
	flag.DurationVar(&o.warmup, "warmup", 0, "load before the loaded baseline is taken (default: a tenth of -duration, 10s to 1m)")
	flag.Parse()
	if o.warmup == 0 {
		o.warmup = min(max(o.duration/10, 10*time.Second), time.Minute)
	}
	switch {
	case o.tasks < 1 || o.workers < 1 || o.maxErrors < 1:
		usage("-tasks, -workers and -max-errors must be at least 1")
	case o.duration <= o.warmup:
		usage(fmt.Sprintf("-duration %s must be longer than the warm-up %s", o.duration, o.warmup))
	case o.mode != "lib" && o.mode != "cli":
		usage(fmt.Sprintf("-mode %q: want lib or cli", o.mode))
	case o.cgroupParent == "" || strings.Contains(o.cgroupParent, ".."):
		usage(fmt.Sprintf("-cgroup-parent %q: want a relative name", o.cgroupParent))
	}
	os.Exit(run(o))
}

func usage(msg string) {
	fmt.Fprintln(os.Stderr, "soak:", msg)
	os.Exit(2)
}

// slot holds one of the tasks kept alive; its lock is held by whichever
// operation works on it.
type slot struct {
	mu   sync.Mutex
	kind *kind
	t    task // nil while empty (a launch failed)
}

type soak struct {
	o     options
	d     driver
	h     *host
	rec   *recorder
	slots []*slot
	start time.Time
	// gate lets operations run (read side) and a snapshot stop them all
	// (write side).
	gate sync.RWMutex
	// live is the number of launched tasks not yet stopped.
	live atomic.Int64
}

func run(o options) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "soak: run as root: tasks need namespaces and cgroups")
		return 2
	}
	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		// A second Ctrl-C ends the soak outright: its cgroups stay, and
		// its tasks too unless -kill-with-parent (-mode lib).
		stopSignals()
	}()
	defer stopSignals()

	var binDir string
	if o.mode == "cli" {
		var cleanup func()
		var err error
		if binDir, cleanup, err = berthBinaries(o.bin); err != nil {
			fmt.Fprintln(os.Stderr, "soak:", err)
			return 2
		}
		defer cleanup()
	}
	h, err := newHost(o.stateDir, o.cgroupParent)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 2
	}
	h.binDir = binDir
	// The load stops at Ctrl-C (ctx) or at -max-errors unexpected errors
	// (runCtx).
	runCtx, abort := context.WithCancel(ctx)
	defer abort()
	s := &soak{o: o, h: h, rec: newRecorder(uint64(o.maxErrors), abort), start: time.Now()}
	// The executor's warnings and errors (a cleanup that failed in the
	// background, a reaper that could not record an exit) are printed and
	// counted as unexpected errors.
	log := hclog.New(&hclog.LoggerOptions{Name: "berth", Level: hclog.Warn,
		Output: &countingWriter{w: os.Stderr, rec: s.rec}})
	switch o.mode {
	case "lib":
		s.d = newLibDriver(h.stateDir, o.cgroupParent, o.killWithParent, log)
	case "cli":
		s.d = &cliDriver{bin: filepath.Join(binDir, "berth"), stateDir: h.stateDir, cgroupParent: o.cgroupParent}
	}
	for i := range o.tasks {
		s.slots = append(s.slots, &slot{kind: kinds[i%len(kinds)]})
	}
	fmt.Printf("soak: mode %s, %d tasks (%s), %d workers, %s (warm-up %s), state dir %s, cgroup parent %s, %d hierarchies, GOMAXPROCS %d\n",
		o.mode, o.tasks, kindMix(o.tasks), o.workers, o.duration, o.warmup, h.stateDir, o.cgroupParent, len(h.hier), runtime.GOMAXPROCS(0))
	fmt.Printf("soak: load %s at start\n", fmtLoad(loadavg()))

	res := s.soak(runCtx)
	// However the run ended: every task stopped, then everything of the
	// soak's removed from the host, and looked for once more.
	if n := s.stopAll(); n > 0 {
		res.problems = append(res.problems, fmt.Sprintf("%d tasks could not be stopped", n))
	}
	if res.endLoaded != nil {
		res.end = s.snapshot("end (all stopped)")
	}
	leaks := h.cleanup()
	left := h.leftovers()
	return s.verdict(ctx, res, leaks, left)
}

// result is what the run measured.
type result struct {
	start, warm, endLoaded, end *snapshot
	reports                     []*snapshot
	problems                    []string
}

// soak runs the phases: fill and warm up (the loaded baseline, "warm");
// stop everything (the idle baseline, "start"); fill again and load until
// the duration is over, reporting as it goes ("end (loaded)"). The two
// baselines come after a full set of tasks has come and gone, so that the
// end is compared with a process that has been through the same peak, not
// with a fresh one.
func (s *soak) soak(ctx context.Context) *result {
	res := &result{}
	end := s.start.Add(s.o.duration)
	s.fill(ctx)
	s.load(ctx, s.start.Add(s.o.warmup), nil)
	if ctx.Err() != nil {
		return res
	}
	res.warm = s.snapshot("warm (loaded)")
	s.print(res.warm, s.rec.summary(true))
	if n := s.stopAll(); n > 0 {
		res.problems = append(res.problems, fmt.Sprintf("%d tasks could not be stopped", n))
	}
	res.start = s.snapshot("start (all stopped)")
	s.print(res.start, nil)
	s.fill(ctx)
	s.load(ctx, end, func() {
		r := s.snapshot("report")
		res.reports = append(res.reports, r)
		s.print(r, s.rec.summary(true))
	})
	if ctx.Err() != nil {
		return res
	}
	res.endLoaded = s.snapshot("end (loaded)")
	s.print(res.endLoaded, s.rec.summary(true))
	return res
}

// fill launches a task into every empty slot.
func (s *soak) fill(ctx context.Context) {
	var wg sync.WaitGroup
	next := make(chan *slot)
	for range s.o.workers {
		wg.Go(func() {
			for sl := range next {
				sl.mu.Lock()
				s.gate.RLock()
				s.launch(sl)
				s.gate.RUnlock()
				sl.mu.Unlock()
			}
		})
	}
	for _, sl := range s.slots {
		if ctx.Err() != nil {
			break
		}
		next <- sl
	}
	close(next)
	wg.Wait()
}

// load runs the workers until the deadline or ctx, calling report (with
// the load paused by the snapshot it takes) every -report.
func (s *soak) load(ctx context.Context, until time.Time, report func()) {
	wctx, cancel := context.WithDeadline(ctx, until)
	defer cancel()
	var wg sync.WaitGroup
	for range s.o.workers {
		wg.Go(func() {
			for wctx.Err() == nil {
				s.gate.RLock()
				s.step()
				s.gate.RUnlock()
			}
		})
	}
	if report != nil {
		tick := time.NewTicker(s.o.report)
	loop:
		for {
			select {
			case <-tick.C:
				if time.Until(until) > s.o.report/4 {
					report()
				}
			case <-wctx.Done():
				break loop
			}
		}
		tick.Stop()
	}
	wg.Wait()
}

// step does one operation on a random task: 20 % stop and relaunch, 40 %
// exec, 40 % stats.
func (s *soak) step() {
	sl := s.pick()
	defer sl.mu.Unlock()
	if sl.t == nil {
		s.launch(sl)
		return
	}
	switch r := rand.IntN(10); {
	case r < 2:
		s.replace(sl)
	case r < 6:
		s.timed(sl, func() (string, error) { return s.d.exec(sl.t) })
	default:
		s.timed(sl, func() (string, error) { return s.d.stats(sl.t) })
	}
}

// pick locks a random slot that no other operation holds.
func (s *soak) pick() *slot {
	for {
		sl := s.slots[rand.IntN(len(s.slots))]
		if sl.mu.TryLock() {
			return sl
		}
	}
}

// timed runs op on the slot's task and records it. A task that op found
// ended by itself is cleaned up and its slot left empty for the next step
// to relaunch.
func (s *soak) timed(sl *slot, op func() (string, error)) {
	t0 := time.Now()
	name, err := op()
	s.rec.done(name, time.Since(t0), err)
	if errors.Is(err, errTaskGone) {
		if kerr := s.d.kill(sl.t); kerr != nil {
			s.rec.fail(fmt.Sprintf("clean up %s after it ended: %v", sl.t.ID(), kerr))
		}
		sl.t = nil
		s.live.Add(-1)
	}
}

func (s *soak) launch(sl *slot) {
	t0 := time.Now()
	t, name, err := s.d.launch(sl.kind)
	s.rec.done(name, time.Since(t0), err)
	if err == nil {
		sl.t = t
		s.live.Add(1)
	}
}

// replace stops the slot's task and launches a new one of the same kind.
// A task whose stop failed is killed, so the set stays whole.
func (s *soak) replace(sl *slot) {
	t0 := time.Now()
	name, err := s.d.stop(sl.t)
	s.rec.done(name, time.Since(t0), err)
	if err != nil {
		if kerr := s.d.kill(sl.t); kerr != nil {
			s.rec.fail(fmt.Sprintf("kill %s after its stop failed: %v", sl.t.ID(), kerr))
		}
	}
	sl.t = nil
	s.live.Add(-1)
	s.launch(sl)
}

// stopAll kills every task, -workers at a time, and returns how many
// failed.
func (s *soak) stopAll() int {
	var failed atomic.Int64
	var wg sync.WaitGroup
	next := make(chan *slot)
	for range max(s.o.workers, 4) {
		wg.Go(func() {
			for sl := range next {
				sl.mu.Lock()
				if sl.t != nil {
					if err := s.d.kill(sl.t); err != nil {
						failed.Add(1)
						s.rec.fail(fmt.Sprintf("kill %s: %v", sl.t.ID(), err))
					}
					sl.t = nil
					s.live.Add(-1)
				}
				sl.mu.Unlock()
			}
		})
	}
	for _, sl := range s.slots {
		next <- sl
	}
	close(next)
	wg.Wait()
	return int(failed.Load())
}

// snapshot pauses the load (every operation in flight finishes first) and
// measures.
func (s *soak) snapshot(label string) *snapshot {
	s.gate.Lock()
	defer s.gate.Unlock()
	snap := s.h.measure(label)
	snap.AtS = time.Since(s.start).Round(100 * time.Millisecond).Seconds()
	snap.Tasks = int(s.live.Load())
	return snap
}

func (s *soak) print(sn *snapshot, ops []opSummary) {
	fmt.Printf("[%6.0fs] %-19s tasks %d | fds %d goroutines %d rss %d KiB (anon %d) heap %d KiB | cgroups %s | mounts %d state %d | procs %d (+%d zombies) children %d zombies %d",
		sn.AtS, sn.Label, sn.Tasks, sn.FDs, sn.Goroutines, sn.RSSKiB, sn.RSSAnonKiB, sn.HeapKiB, fmtCgroups(sn.Cgroups), sn.Mounts, sn.StateEntries,
		sn.InCgroups, sn.TaskZombies, sn.Children, sn.Zombies)
	if s.h.binDir != "" {
		fmt.Printf(" supervisors %d (%d KiB)", sn.Supervisors, sn.SupervisorRSSKiB)
	}
	if sn.Unsettled {
		fmt.Print(" | UNSETTLED")
	}
	fmt.Printf(" | load %s\n", fmtLoad(sn.Load))
	if len(ops) > 0 {
		n, _ := s.rec.errors()
		fmt.Printf("          %s | unexpected errors %d\n", fmtOps(ops), n)
	}
}

// fmtOps prints the operations of a window: count and p50/p99 of each.
func fmtOps(ops []opSummary) string {
	parts := make([]string, 0, len(ops))
	for _, o := range ops {
		if o.Count == 0 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %d (%.1f/%.1f ms)", o.Name, o.Count, o.P50Ms, o.P99Ms))
	}
	return strings.Join(parts, ", ")
}

// fmtCgroups prints the hierarchies that hold any of the soak's cgroups,
// and the unified one always.
func fmtCgroups(m map[string]int) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(m)) {
		if m[name] > 0 || name == "unified" {
			parts = append(parts, fmt.Sprintf("%s %d", name, m[name]))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

func fmtLoad(l [3]float64) string { return fmt.Sprintf("%.2f %.2f %.2f", l[0], l[1], l[2]) }

func kindMix(n int) string {
	counts := make([]int, len(kinds))
	for i := range n {
		counts[i%len(kinds)]++
	}
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%d %s", counts[i], k.name)
	}
	return strings.Join(parts, ", ")
}

// countingWriter passes the executor's log lines through and counts each
// as an unexpected error: it logs at Warn and above only.
type countingWriter struct {
	w   io.Writer
	rec *recorder
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.rec.fail("executor logged: " + strings.TrimSpace(string(p)))
	return c.w.Write(p)
}

// jsonResult is the last line of output.
type jsonResult struct {
	Mode        string      `json:"mode"`
	Tasks       int         `json:"tasks"`
	Workers     int         `json:"workers"`
	DurationS   float64     `json:"duration_s"`
	Launches    uint64      `json:"launches"`
	Execs       uint64      `json:"execs"`
	Stats       uint64      `json:"stats"`
	Stops       uint64      `json:"stops"`
	Errors      uint64      `json:"errors"`
	LaunchP50Ms float64     `json:"launch_p50_ms"`
	LaunchP99Ms float64     `json:"launch_p99_ms"`
	ExecP50Ms   float64     `json:"exec_p50_ms"`
	ExecP99Ms   float64     `json:"exec_p99_ms"`
	Ops         []opSummary `json:"ops"`
	Start       *snapshot   `json:"start,omitempty"`
	End         *snapshot   `json:"end,omitempty"`
	Warm        *snapshot   `json:"warm,omitempty"`
	EndLoaded   *snapshot   `json:"end_loaded,omitempty"`
	Leftovers   []string    `json:"leftovers"`
	Interrupted bool        `json:"interrupted"`
	Pass        bool        `json:"pass"`
}

// verdict compares the baselines with the end, prints the table, PASS or
// FAIL and the JSON line, and returns the exit code: 0 on PASS, 1 on
// growth, an unexpected error or anything left behind, 130 when
// interrupted.
func (s *soak) verdict(ctx context.Context, res *result, leaks, left []string) int {
	pass := true
	fmt.Println()
	if res.start != nil && res.end != nil {
		fmt.Println("all stopped: start → end")
		pass = compare(res.start, res.end, s.h.binDir != "") && pass
	}
	if res.warm != nil && res.endLoaded != nil {
		fmt.Printf("loaded (%d tasks): warm → end\n", s.o.tasks)
		pass = compare(res.warm, res.endLoaded, s.h.binDir != "") && pass
	}
	ops := s.rec.summary(false)
	fmt.Println("\noperations over the whole run (latency in ms):")
	fmt.Printf("  %-14s %8s %7s %9s %9s %9s\n", "op", "count", "errors", "p50", "p99", "max")
	for _, o := range ops {
		fmt.Printf("  %-14s %8d %7d %9.2f %9.2f %9.2f\n", o.Name, o.Count, o.Errs, o.P50Ms, o.P99Ms, o.MaxMs)
	}
	nErrs, errs := s.rec.errors()
	if nErrs > 0 {
		pass = false
		fmt.Printf("\nunexpected errors: %d; the first %d:\n", nErrs, len(errs))
		for _, e := range errs {
			fmt.Println("  " + e)
		}
	}
	for _, p := range res.problems {
		pass = false
		fmt.Println("problem: " + p)
	}
	for _, l := range leaks {
		pass = false
		fmt.Println("cleaned up after a leak: " + l)
	}
	for _, l := range left {
		pass = false
		fmt.Println("left behind: " + l)
	}
	if len(leaks) == 0 && len(left) == 0 {
		fmt.Printf("\nleft behind: nothing (no %s cgroup on any of %d hierarchies, no mount below %s, no process in its cgroups, no child, no supervisor, state dir removed: %v)\n",
			s.o.cgroupParent, len(s.h.hier), s.h.stateDir, s.h.ownStateDir)
	}
	interrupted := ctx.Err() != nil
	if res.end == nil {
		pass = false
	}
	fmt.Printf("load %s at end\n", fmtLoad(loadavg()))
	switch {
	case interrupted:
		fmt.Println("INTERRUPTED: stopped and cleaned up; no verdict")
	case res.end == nil && nErrs >= uint64(s.o.maxErrors):
		fmt.Printf("FAIL: stopped early after %d unexpected errors (-max-errors)\n", nErrs)
	case pass:
		fmt.Println("PASS")
	default:
		fmt.Println("FAIL")
	}
	jr := jsonResult{Mode: s.o.mode, Tasks: s.o.tasks, Workers: s.o.workers, DurationS: time.Since(s.start).Round(time.Second).Seconds(),
		Launches: s.rec.total("launch"), Execs: s.rec.total("exec"), Stats: s.rec.total("stats"), Stops: s.rec.total("stop"),
		Errors: nErrs, Ops: ops, Start: res.start, End: res.end, Warm: res.warm, EndLoaded: res.endLoaded,
		Leftovers: append(append([]string{}, leaks...), left...), Interrupted: interrupted, Pass: pass && !interrupted}
	for _, o := range ops {
		switch o.Name {
		case "launch":
			jr.LaunchP50Ms, jr.LaunchP99Ms = o.P50Ms, o.P99Ms
		case "exec":
			jr.ExecP50Ms, jr.ExecP99Ms = o.P50Ms, o.P99Ms
		}
	}
	b, _ := json.Marshal(jr)
	fmt.Println(string(b))
	switch {
	case interrupted:
		return 130
	case pass:
		return 0
	}
	return 1
}
