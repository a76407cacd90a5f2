// Package bench holds berth's Go benchmarks. They need root: every
// iteration launches a real task in new namespaces and its own cgroup.
//
//	cd bench && go test -run XXX -bench . -benchtime 50x ./...
//
// The test binary is also the init stage of the tasks it launches
// (executor re-executes /proc/self/exe), hence nsinit.Init in TestMain.
// Tasks' cgroups live below berth-bench/berth; TestMain removes
// berth-bench when the benchmarks are done.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/berthrun/berth/bench/internal/benchutil"
	"github.com/berthrun/berth/executor"
	"github.com/berthrun/berth/nsinit"
	"github.com/hashicorp/go-hclog"
)

// rootfs is the prepared task root every benchmark runs /bin/true in.
var rootfs string

func TestMain(m *testing.M) {
	nsinit.Init() // first thing: this test binary is also the init stage
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: needs root (namespaces, mounts, cgroups); the benchmarks are skipped")
		return m.Run()
	}
	tmp, err := os.MkdirTemp("", "berth-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	rootfs = filepath.Join(tmp, "rootfs")
	if err := os.Mkdir(rootfs, 0o755); err == nil {
		err = benchutil.MakeRootfs(rootfs)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.RemoveAll(tmp)
		return 1
	}
	code := m.Run()
	if left := benchutil.LeftCgroups(); len(left) > 0 {
		fmt.Fprintln(os.Stderr, "bench: cgroups left behind by a task:", left)
		code = 1
	}
	if err := benchutil.RemoveCgroups(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		code = 1
	}
	if err := os.RemoveAll(tmp); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		code = 1
	}
	return code
}

// requireRoot skips a benchmark outside root: it cannot launch anything.
func requireRoot(b *testing.B) {
	b.Helper()
	if os.Geteuid() != 0 || rootfs == "" {
		b.Skip("needs root: namespaces, mounts and cgroups")
	}
}

var seq atomic.Int64

// berthCgroupParent is the cgroup parent of the benchmarks' tasks.
var berthCgroupParent = filepath.Join(benchutil.CgroupParent, "berth")

// berthRun launches cmd through a fresh Executor and waits until it has
// exited and been cleaned up: the launch-to-exit path of one task.
func berthRun(cfg executor.Config, cmd *executor.Command) error {
	e := executor.New(cfg)
	if _, err := e.Launch(cmd); err != nil {
		return fmt.Errorf("berth launch: %w", err)
	}
	st, err := e.Wait(context.Background())
	if err != nil {
		return fmt.Errorf("berth wait: %w", err)
	}
	if st.ExitCode != 0 {
		return fmt.Errorf("berth: task exited with %d", st.ExitCode)
	}
	return nil
}

func newID(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), seq.Add(1))
}

// config is the Executor configuration of every benchmark: its own state
// dir and cgroup parent, the test binary as init stage.
func config(b *testing.B) executor.Config {
	return executor.Config{StateDir: filepath.Join(b.TempDir(), "state"), CgroupParent: berthCgroupParent}
}

// BenchmarkLaunchWait is berth's launch-to-exit of /bin/true in the
// prepared root with the default isolation: Launch, then Wait until the
// task has exited and been cleaned up.
func BenchmarkLaunchWait(b *testing.B) {
	requireRoot(b)
	cfg := config(b)
	for b.Loop() {
		if err := berthRun(cfg, &executor.Command{ID: newID("lw"), TaskDir: rootfs, Cmd: "/bin/true"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLaunchSteps is BenchmarkLaunchWait with the executor logging
// at trace level, where it times each step of the launch (parent side),
// of the init stage (child side, reported with "ready") and of the exit
// path; it reports the median of each step as a metric "ms/<step>".
// Logging at trace level costs a little, so ns/op here runs above
// BenchmarkLaunchWait.
func BenchmarkLaunchSteps(b *testing.B) {
	requireRoot(b)
	steps := &stepTimes{}
	cfg := config(b)
	cfg.Logger = steps.logger()
	for b.Loop() {
		if err := berthRun(cfg, &executor.Command{ID: newID("st"), TaskDir: rootfs, Cmd: "/bin/true"}); err != nil {
			b.Fatal(err)
		}
	}
	steps.report(b)
}

// stepTimes collects the step timings the executor logs at trace level
// ("launch step", "init stage step", "exit step", each with "step" and
// "took").
type stepTimes struct {
	mu    sync.Mutex
	names []string
	took  map[string][]time.Duration
}

// logger returns a trace-level JSON logger that feeds s.
func (s *stepTimes) logger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, JSONFormat: true, Output: lineWriter(s.add)})
}

func (s *stepTimes) add(line []byte) {
	var ent map[string]any
	if json.Unmarshal(line, &ent) != nil {
		return
	}
	step, _ := ent["step"].(string)
	msg, _ := ent["@message"].(string)
	if step == "" {
		return
	}
	var took time.Duration
	switch v := ent["took"].(type) {
	case float64:
		took = time.Duration(v)
	case string:
		took, _ = time.ParseDuration(v)
	}
	key := strings.ReplaceAll(strings.TrimSuffix(msg, " step")+":"+step, " ", "_")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.took == nil {
		s.took = map[string][]time.Duration{}
	}
	if _, ok := s.took[key]; !ok {
		s.names = append(s.names, key)
	}
	s.took[key] = append(s.took[key], took)
}

// report adds the median of every step to b's results as "ms/<step>".
func (s *stepTimes) report(b *testing.B) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.names {
		b.ReportMetric(benchutil.Ms(benchutil.Summarize(s.took[k]).Median), "ms/"+k)
	}
}

// lineWriter calls its function with each line written to it.
type lineWriter func(line []byte)

func (w lineWriter) Write(p []byte) (int, error) {
	for _, l := range bytes.Split(p, []byte("\n")) {
		if len(l) > 0 {
			w(l)
		}
	}
	return len(p), nil
}

// BenchmarkLaunchIsolationOff is BenchmarkLaunchWait with one isolation
// feature changed at a time, so that the cost of each shows as the
// difference to "default". The mount namespace cannot be turned off.
func BenchmarkLaunchIsolationOff(b *testing.B) {
	requireRoot(b)
	cases := []struct {
		name string
		cmd  func() *executor.Command
	}{
		{"default", func() *executor.Command { return &executor.Command{TaskDir: rootfs} }},
		{"pid=host", func() *executor.Command {
			return &executor.Command{TaskDir: rootfs, Isolation: executor.Isolation{PID: executor.ModeHost}}
		}},
		{"ipc=host", func() *executor.Command {
			return &executor.Command{TaskDir: rootfs, Isolation: executor.Isolation{IPC: executor.ModeHost}}
		}},
		{"uts=host", func() *executor.Command {
			return &executor.Command{TaskDir: rootfs, Isolation: executor.Isolation{UTS: executor.ModeHost}}
		}},
		{"pid,ipc,uts=host", func() *executor.Command {
			return &executor.Command{TaskDir: rootfs, Isolation: executor.Isolation{
				PID: executor.ModeHost, IPC: executor.ModeHost, UTS: executor.ModeHost}}
		}},
		// Turned on rather than off: the default is the host network.
		{"net=none", func() *executor.Command {
			return &executor.Command{TaskDir: rootfs, Isolation: executor.Isolation{Net: executor.ModeNone}}
		}},
		// No capability dropped from the bounding set: the cost of the
		// capabilities step's per-capability prctl calls.
		{"cap-add=ALL", func() *executor.Command {
			return &executor.Command{TaskDir: rootfs, Isolation: executor.Isolation{CapAdd: []string{"ALL"}}}
		}},
		// The default task dir instead of the prepared root: the host's
		// system directories bound read-only, secrets hidden, a private
		// tmpfs /tmp.
		{"default-taskdir", func() *executor.Command { return &executor.Command{} }},
		// A memory limit adds the memory controller's cgroup (v1) to the
		// freezer one every task gets.
		{"memory-limit", func() *executor.Command {
			return &executor.Command{TaskDir: rootfs, Resources: executor.Resources{MemoryBytes: 256 << 20}}
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			cfg := config(b)
			for b.Loop() {
				cmd := c.cmd()
				cmd.ID, cmd.Cmd = newID("iso"), "/bin/true"
				if err := berthRun(cfg, cmd); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkShutdown500 times Shutdown with no grace of a task running 500
// processes (a shell and 499 sleeps, on the default task dir): from the
// call to its return, when every process is dead, reaped or reparented,
// and the cgroup, task dir and state are gone. Starting the 500 processes
// is not timed. The exit path's steps, as the executor logs them at trace
// level, are reported as "ms/exit:<step>".
func BenchmarkShutdown500(b *testing.B) {
	requireRoot(b)
	steps := &stepTimes{}
	cfg := config(b)
	cfg.Logger = steps.logger()
	const procs = 500
	script := fmt.Sprintf("for i in $(seq %d); do sleep 1000 & done; wait", procs-1)
	for b.Loop() {
		b.StopTimer()
		e := executor.New(cfg)
		if _, err := e.Launch(&executor.Command{ID: newID("sd"), Cmd: "/bin/sh", Args: []string{"-c", script}}); err != nil {
			b.Fatal(err)
		}
		if err := waitProcs(e, procs, time.Minute); err != nil {
			_ = e.Shutdown("", 0)
			b.Fatal(err)
		}
		b.StartTimer()
		if err := e.Shutdown("", 0); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		st, err := e.Wait(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if st.Signal == 0 {
			b.Fatalf("task ended with %+v, want killed by a signal", st)
		}
		b.StartTimer()
	}
	b.StopTimer()
	steps.report(b)
}

// BenchmarkShutdown500Kernel is the floor under BenchmarkShutdown500: the
// same 500-process task, killed by one write of "1" to its cgroup.kill and
// timed until the kernel reports the cgroup empty ("populated 0" in
// cgroup.events, polled every 100µs), with none of the executor's work
// (signal, backoff, reap, cgroup and state removal; the executor's own
// reaper runs meanwhile and may remove the emptied cgroup first, which
// also ends the timing). The difference to
// BenchmarkShutdown500 is what the executor adds. It needs cgroup.kill
// (cgroup v2, Linux 5.14).
func BenchmarkShutdown500Kernel(b *testing.B) {
	requireRoot(b)
	cfg := config(b)
	const procs = 500
	script := fmt.Sprintf("for i in $(seq %d); do sleep 1000 & done; wait", procs-1)
	for b.Loop() {
		b.StopTimer()
		e := executor.New(cfg)
		if _, err := e.Launch(&executor.Command{ID: newID("sk"), Cmd: "/bin/sh", Args: []string{"-c", script}}); err != nil {
			b.Fatal(err)
		}
		dir := ""
		for _, d := range e.CgroupPaths() {
			if _, err := os.Stat(filepath.Join(d, "cgroup.kill")); err == nil {
				dir = d
			}
		}
		if dir == "" {
			_ = e.Shutdown("", 0)
			b.Skip("the task's cgroup has no cgroup.kill (needs cgroup v2 and Linux 5.14)")
		}
		if err := waitProcs(e, procs, time.Minute); err != nil {
			_ = e.Shutdown("", 0)
			b.Fatal(err)
		}
		b.StartTimer()
		if err := os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0); err != nil {
			b.Fatal(err)
		}
		for {
			ev, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
			if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENODEV) {
				// The executor's reaper saw it empty first and removed
				// it (ENODEV: removed while the file was open).
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if strings.Contains(string(ev), "populated 0") {
				break
			}
			time.Sleep(100 * time.Microsecond)
		}
		b.StopTimer()
		if _, err := e.Wait(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// waitProcs waits until the task's cgroup holds n processes.
func waitProcs(e *executor.Executor, n int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var last int
	for time.Now().Before(deadline) {
		last = 0
		for h, dir := range e.CgroupPaths() {
			// Every hierarchy holds the same processes; count one.
			b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
			if err != nil {
				return fmt.Errorf("count processes in %s cgroup: %w", h, err)
			}
			last = len(strings.Fields(string(b)))
			break
		}
		if last >= n {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("task has %d processes after %s, want %d", last, limit, n)
}
