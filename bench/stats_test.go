package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthrun/berth/executor"
)

// startProcs launches a task of n processes (a shell and n-1 sleeps) and
// returns it once all of them run; it is shut down when b ends.
func startProcs(b *testing.B, n int) *executor.Executor {
	b.Helper()
	e := executor.New(config(b))
	script := fmt.Sprintf("for i in $(seq %d); do sleep 1000 & done; wait", n-1)
	if n == 1 {
		script = "exec sleep 1000" // no command substitution's subshell
	}
	if _, err := e.Launch(&executor.Command{ID: newID("st"), Cmd: "/bin/sh", Args: []string{"-c", script}}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = e.Shutdown("", 0)
		_, _ = e.Wait(context.Background())
	})
	if err := waitProcs(e, n, time.Minute); err != nil {
		b.Fatal(err)
	}
	return e
}

// BenchmarkStats is one Usage() reading (cgroup counters, the cgroup's
// pids, every process's /proc/PID/stat, the CPU percent against the
// previous reading) of a task of 1, 100 and 1000 processes. Goroutines and
// fds are checked not to grow.
func BenchmarkStats(b *testing.B) {
	requireRoot(b)
	for _, n := range []int{1, 100, 1000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			e := startProcs(b, n)
			if _, err := e.Usage(); err != nil {
				b.Fatal(err)
			}
			goroutines, fds := runtime.NumGoroutine(), countFDs(b)
			b.ReportAllocs()
			for b.Loop() {
				u, err := e.Usage()
				if err != nil {
					b.Fatal(err)
				}
				if len(u.Pids) != n {
					b.Fatalf("%d pids in the reading, want %d", len(u.Pids), n)
				}
			}
			if g, f := runtime.NumGoroutine(), countFDs(b); g > goroutines || f > fds {
				b.Fatalf("after the readings: %d goroutines (was %d), %d fds (was %d)", g, goroutines, f, fds)
			}
		})
	}
}

// BenchmarkStatsFloor is the floor under BenchmarkStats/100: the same
// files read in a tight loop (the cgroup's cgroup.procs and cpu.stat, each
// process's /proc/PID/stat), nothing parsed.
func BenchmarkStatsFloor(b *testing.B) {
	requireRoot(b)
	e := startProcs(b, 100)
	var dir string
	for _, d := range e.CgroupPaths() {
		dir = d
	}
	procs, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		b.Fatal(err)
	}
	var files []string
	for _, f := range strings.Fields(string(procs)) {
		files = append(files, "/proc/"+f+"/stat")
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, f := range []string{filepath.Join(dir, "cgroup.procs"), filepath.Join(dir, "cpu.stat")} {
			if _, err := os.ReadFile(f); err != nil {
				b.Fatal(err)
			}
		}
		for _, f := range files {
			if _, err := os.ReadFile(f); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func countFDs(b *testing.B) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		b.Fatal(err)
	}
	return len(ents)
}

// BenchmarkPs100 is `berth ps`'s library path, Store.Processes, on a task
// of 100 processes: the cgroup's pids, each one's stat, status and cmdline,
// and the task's passwd for the user names.
func BenchmarkPs100(b *testing.B) {
	requireRoot(b)
	cfg := config(b)
	e := executor.New(cfg)
	script := "for i in $(seq 99); do sleep 1000 & done; wait"
	id := newID("ps")
	if _, err := e.Launch(&executor.Command{ID: id, Cmd: "/bin/sh", Args: []string{"-c", script}}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = e.Shutdown("", 0)
		_, _ = e.Wait(context.Background())
	})
	if err := waitProcs(e, 100, time.Minute); err != nil {
		b.Fatal(err)
	}
	store := executor.NewStore(cfg.StateDir, cfg.CgroupParent, nil)
	b.ReportAllocs()
	for b.Loop() {
		procs, err := store.Processes(id)
		if err != nil {
			b.Fatal(err)
		}
		if len(procs) != 100 {
			b.Fatalf("%d processes, want 100", len(procs))
		}
	}
}
