package stats

import (
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// t0 is when the first reading of every test is taken.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// cpuTotals returns cgroup totals measuring only the three CPU counters.
func cpuTotals(usage, user, system time.Duration) Totals {
	return Totals{
		CPUUsage: uint64(usage), CPUUser: uint64(user), CPUSystem: uint64(system),
		Measured: []string{"cpu_usage", "cpu_user", "cpu_system"},
	}
}

// at returns a reading taken d after t0.
func at(d time.Duration, c Totals, procs ...Proc) *Reading {
	return &Reading{Time: t0.Add(d), Cgroup: c, Procs: procs, CoreMHz: 2000}
}

// near fails unless got is want to within a millionth.
func near(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-6*math.Max(1, math.Abs(want)) {
		t.Errorf("%s = %v; want %v", what, got, want)
	}
}

// measured fails unless list is exactly want (both non-nil).
func measured(t *testing.T, what string, list []string, want ...string) {
	t.Helper()
	if list == nil {
		t.Errorf("%s measured is nil; want %q", what, want)
		return
	}
	if want == nil {
		want = []string{}
	}
	if !reflect.DeepEqual(list, want) {
		t.Errorf("%s measured = %q; want %q", what, list, want)
	}
}

// pid returns u's entry for pid, failing the test when there is none.
func pid(t *testing.T, u *TaskResourceUsage, pid int) *PidUsage {
	t.Helper()
	p, ok := u.Pids[strconv.Itoa(pid)]
	if !ok {
		t.Fatalf("no pid %d in %v", pid, u.Pids)
	}
	return p
}

func TestFirstReadingHasNoPercent(t *testing.T) {
	c := cpuTotals(5*time.Second, 4*time.Second, time.Second)
	c.ThrottledPeriods, c.ThrottledTime = 3, 40e6
	c.Measured = append(c.Measured, "throttled_periods", "throttled_time")
	u := NewTracker().Usage(at(0, c, Proc{Pid: 10, StartTime: 1, UTime: 400, STime: 100, RSS: 4096}))

	want := CPUStats{ThrottledPeriods: 3, ThrottledTime: 40e6, Measured: []string{"throttled_periods", "throttled_time"}}
	if !reflect.DeepEqual(u.CPU, want) {
		t.Errorf("CPU = %+v; want %+v", u.CPU, want)
	}
	p := pid(t, u, 10)
	if want := (CPUStats{Measured: []string{}}); !reflect.DeepEqual(p.CPU, want) {
		t.Errorf("pid CPU = %+v; want %+v", p.CPU, want)
	}
	if want := (MemoryStats{RSS: 4096, Measured: []string{"rss"}}); !reflect.DeepEqual(p.Memory, want) {
		t.Errorf("pid memory = %+v; want %+v", p.Memory, want)
	}
	data, err := json.Marshal(p.CPU)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"measured":[]`) {
		t.Errorf("pid CPU JSON %s; want \"measured\":[]", data)
	}
}

func TestOneCoreBusyIs100(t *testing.T) {
	tr := NewTracker()
	// One process spinning on one core: 95 ticks of user and 5 of system
	// time in the second between the readings.
	tr.Usage(at(0, cpuTotals(10*time.Second, 8*time.Second, 2*time.Second),
		Proc{Pid: 10, StartTime: 1, UTime: 800, STime: 200}))
	u := tr.Usage(at(time.Second, cpuTotals(11*time.Second, 8*time.Second+950*time.Millisecond, 2*time.Second+50*time.Millisecond),
		Proc{Pid: 10, StartTime: 1, UTime: 895, STime: 205}))

	near(t, "Percent", u.CPU.Percent, 100)
	near(t, "UserMode", u.CPU.UserMode, 95)
	near(t, "SystemMode", u.CPU.SystemMode, 5)
	near(t, "TotalTicks", u.CPU.TotalTicks, 2000)
	measured(t, "CPU", u.CPU.Measured, "percent", "system_mode", "total_ticks", "user_mode")
	p := pid(t, u, 10)
	near(t, "pid Percent", p.CPU.Percent, 100)
	near(t, "pid UserMode", p.CPU.UserMode, 95)
	near(t, "pid SystemMode", p.CPU.SystemMode, 5)
	near(t, "pid TotalTicks", p.CPU.TotalTicks, 2000)
	measured(t, "pid CPU", p.CPU.Measured, "percent", "system_mode", "total_ticks", "user_mode")
}

func TestTwoCoresBusyIs200(t *testing.T) {
	tr := NewTracker()
	// Two processes, each spinning on its own core for the 500 ms between
	// the readings: 1 s of CPU in 0.5 s.
	tr.Usage(at(0, cpuTotals(0, 0, 0), Proc{Pid: 10, StartTime: 1}, Proc{Pid: 11, StartTime: 2}))
	u := tr.Usage(at(500*time.Millisecond, cpuTotals(time.Second, time.Second, 0),
		Proc{Pid: 10, StartTime: 1, UTime: 50}, Proc{Pid: 11, StartTime: 2, UTime: 50}))

	near(t, "Percent", u.CPU.Percent, 200)
	near(t, "UserMode", u.CPU.UserMode, 200)
	near(t, "SystemMode", u.CPU.SystemMode, 0)
	near(t, "TotalTicks", u.CPU.TotalTicks, 4000)
	for _, n := range []int{10, 11} {
		near(t, "pid Percent", pid(t, u, n).CPU.Percent, 100)
	}
}

func TestUserAboveSystem(t *testing.T) {
	tr := NewTracker()
	// A loop doing arithmetic with a rare syscall: 0.7 s user, 0.1 s system
	// over 1 s (the rest idle).
	tr.Usage(at(0, cpuTotals(0, 0, 0), Proc{Pid: 3, StartTime: 9}))
	u := tr.Usage(at(time.Second, cpuTotals(800*time.Millisecond, 700*time.Millisecond, 100*time.Millisecond),
		Proc{Pid: 3, StartTime: 9, UTime: 70, STime: 10}))

	near(t, "Percent", u.CPU.Percent, 80)
	near(t, "UserMode", u.CPU.UserMode, 70)
	near(t, "SystemMode", u.CPU.SystemMode, 10)
	if u.CPU.UserMode <= u.CPU.SystemMode {
		t.Errorf("UserMode %v not above SystemMode %v", u.CPU.UserMode, u.CPU.SystemMode)
	}
	p := pid(t, u, 3)
	near(t, "pid UserMode", p.CPU.UserMode, 70)
	near(t, "pid SystemMode", p.CPU.SystemMode, 10)
	near(t, "pid Percent", p.CPU.Percent, 80)
}

func TestCounterResetGivesNoPercent(t *testing.T) {
	tests := []struct {
		name  string
		reset Totals
	}{
		// The task's cgroup was recreated: every counter starts over.
		{"all", cpuTotals(100*time.Millisecond, 80*time.Millisecond, 20*time.Millisecond)},
		// Only the system counter went down: the other deltas span two
		// cgroups just the same.
		{"system", cpuTotals(6*time.Second, 5*time.Second, 0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker()
			tr.Usage(at(0, cpuTotals(5*time.Second, 4*time.Second, time.Second)))
			reset := tc.reset
			reset.ThrottledPeriods = 2
			reset.Measured = append(reset.Measured, "throttled_periods")
			u := tr.Usage(at(time.Second, reset))
			want := CPUStats{ThrottledPeriods: 2, Measured: []string{"throttled_periods"}}
			if !reflect.DeepEqual(u.CPU, want) {
				t.Errorf("after reset CPU = %+v; want %+v", u.CPU, want)
			}
			// The reset reading is the new base.
			next := tc.reset
			next.CPUUsage += uint64(500 * time.Millisecond)
			next.CPUUser += uint64(400 * time.Millisecond)
			next.CPUSystem += uint64(100 * time.Millisecond)
			u = tr.Usage(at(2*time.Second, next))
			near(t, "Percent", u.CPU.Percent, 50)
			near(t, "UserMode", u.CPU.UserMode, 40)
			near(t, "SystemMode", u.CPU.SystemMode, 10)
			measured(t, "CPU", u.CPU.Measured, "percent", "system_mode", "total_ticks", "user_mode")
		})
	}
}

func TestProcessTimesDownGiveNoPercent(t *testing.T) {
	tr := NewTracker()
	tr.Usage(at(0, cpuTotals(0, 0, 0), Proc{Pid: 4, StartTime: 1, UTime: 90, STime: 10}))
	u := tr.Usage(at(time.Second, cpuTotals(0, 0, 0), Proc{Pid: 4, StartTime: 1, UTime: 80, STime: 20}))
	measured(t, "pid CPU", pid(t, u, 4).CPU.Measured)
	u = tr.Usage(at(2*time.Second, cpuTotals(0, 0, 0), Proc{Pid: 4, StartTime: 1, UTime: 100, STime: 20}))
	near(t, "pid Percent", pid(t, u, 4).CPU.Percent, 20)
}

func TestReusedPidIsANewProcess(t *testing.T) {
	// Pid 7 exited and was reaped; a new process got pid 7. Its ticks are
	// its own, not a difference from the old one's: fewer (3 after 500)
	// is not a reset, and more (60 after 5) is not 55 ticks of work.
	for _, ticks := range [][2]uint64{{500, 3}, {5, 60}} {
		tr := NewTracker()
		tr.Usage(at(0, cpuTotals(0, 0, 0), Proc{Pid: 7, StartTime: 100, UTime: ticks[0]}))
		u := tr.Usage(at(time.Second, cpuTotals(0, 0, 0), Proc{Pid: 7, StartTime: 200, UTime: ticks[1]}))
		p := pid(t, u, 7)
		measured(t, "reused pid CPU", p.CPU.Measured)
		if p.CPU.Percent != 0 {
			t.Errorf("reused pid Percent = %v; want 0", p.CPU.Percent)
		}
		if _, ok := tr.procs[procKey{7, 100}]; ok || len(tr.procs) != 1 {
			t.Errorf("tracker remembers %v; want only the new pid 7", tr.procs)
		}
		// The new process is compared with its own first reading.
		u = tr.Usage(at(2*time.Second, cpuTotals(0, 0, 0), Proc{Pid: 7, StartTime: 200, UTime: ticks[1] + 50}))
		near(t, "pid 7 Percent", pid(t, u, 7).CPU.Percent, 50)
	}
}

func TestForkAndExitBetweenReadings(t *testing.T) {
	tr := NewTracker()
	// Pid 20 forks a child that runs 500 ms and is reaped before the next
	// reading; pid 20 itself runs 200 ms. The cgroup counts both.
	tr.Usage(at(0, cpuTotals(0, 0, 0), Proc{Pid: 20, StartTime: 5}))
	u := tr.Usage(at(time.Second, cpuTotals(700*time.Millisecond, 700*time.Millisecond, 0),
		Proc{Pid: 20, StartTime: 5, UTime: 20}))
	near(t, "Percent", u.CPU.Percent, 70)
	near(t, "pid 20 Percent", pid(t, u, 20).CPU.Percent, 20)
	if len(u.Pids) != 1 {
		t.Errorf("Pids = %v; want only pid 20", u.Pids)
	}

	// This time the child (pid 21) is caught by one reading: it has no
	// percent there, and is forgotten at the next, which lacks it.
	u = tr.Usage(at(2*time.Second, cpuTotals(900*time.Millisecond, 900*time.Millisecond, 0),
		Proc{Pid: 20, StartTime: 5, UTime: 30}, Proc{Pid: 21, StartTime: 150, UTime: 10}))
	measured(t, "new child CPU", pid(t, u, 21).CPU.Measured)
	near(t, "pid 20 Percent", pid(t, u, 20).CPU.Percent, 10)
	measured(t, "processes", u.Processes.Measured, "current", "current_from_procs")
	if u.Processes.Current != 2 {
		t.Errorf("Processes.Current = %d; want 2", u.Processes.Current)
	}
	u = tr.Usage(at(3*time.Second, cpuTotals(time.Second, time.Second, 0), Proc{Pid: 20, StartTime: 5, UTime: 40}))
	if _, ok := u.Pids["21"]; ok || len(u.Pids) != 1 {
		t.Errorf("Pids = %v; want only pid 20", u.Pids)
	}
	if _, ok := tr.procs[procKey{21, 150}]; ok || len(tr.procs) != 1 {
		t.Errorf("tracker remembers %v; want only pid 20", tr.procs)
	}
}

func TestHybridNoMemoryCgroupSumsRSS(t *testing.T) {
	// No memory controller for the task: the cgroup gave CPU and pids only.
	c := cpuTotals(0, 0, 0)
	c.PidsCurrent, c.PidsLimit = 2, 64
	c.Measured = append(c.Measured, "pids_current", "pids_limit")
	u := NewTracker().Usage(at(0, c,
		Proc{Pid: 1, StartTime: 1, RSS: 3 << 20}, Proc{Pid: 2, StartTime: 2, RSS: 5 << 20}))
	want := MemoryStats{RSS: 8 << 20, Measured: []string{"rss", "rss_from_procs"}}
	if !reflect.DeepEqual(u.Memory, want) {
		t.Errorf("Memory = %+v; want %+v (no usage: summed RSS counts shared pages twice)", u.Memory, want)
	}
	want = MemoryStats{RSS: 5 << 20, Measured: []string{"rss"}}
	if got := pid(t, u, 2).Memory; !reflect.DeepEqual(got, want) {
		t.Errorf("pid 2 memory = %+v; want %+v", got, want)
	}
}

func TestHybridNoMemoryCgroupNoProcesses(t *testing.T) {
	u := NewTracker().Usage(at(0, cpuTotals(0, 0, 0)))
	want := MemoryStats{Measured: []string{"rss", "rss_from_procs"}}
	if !reflect.DeepEqual(u.Memory, want) {
		t.Errorf("Memory = %+v; want %+v", u.Memory, want)
	}
	want2 := ProcessStats{Measured: []string{"current", "current_from_procs"}}
	if !reflect.DeepEqual(u.Processes, want2) {
		t.Errorf("Processes = %+v; want %+v", u.Processes, want2)
	}
}

func TestProcessCount(t *testing.T) {
	procs := []Proc{{Pid: 1, StartTime: 1}, {Pid: 2, StartTime: 2}, {Pid: 3, StartTime: 3}}
	tests := []struct {
		name     string
		measured []string
		want     ProcessStats
	}{
		{"cgroup", []string{"pids_current", "pids_limit"},
			ProcessStats{Current: 4, Limit: 100, Measured: []string{"current", "limit"}}},
		{"no pids controller", nil,
			ProcessStats{Current: 3, Measured: []string{"current", "current_from_procs"}}},
		{"limit only", []string{"pids_limit"},
			ProcessStats{Current: 3, Limit: 100, Measured: []string{"current", "current_from_procs", "limit"}}},
	}
	for _, tc := range tests {
		c := Totals{PidsCurrent: 4, PidsLimit: 100, Measured: tc.measured}
		u := NewTracker().Usage(at(0, c, procs...))
		if !reflect.DeepEqual(u.Processes, tc.want) {
			t.Errorf("%s: Processes = %+v; want %+v", tc.name, u.Processes, tc.want)
		}
	}
}

func TestDuplicatePidCountsOnce(t *testing.T) {
	// cgroup v1's cgroup.procs may list a process twice.
	tr := NewTracker()
	tr.Usage(at(0, Totals{}, Proc{Pid: 5, StartTime: 1, UTime: 10, RSS: 4096}))
	u := tr.Usage(at(time.Second, Totals{},
		Proc{Pid: 5, StartTime: 1, UTime: 60, RSS: 4096}, Proc{Pid: 5, StartTime: 1, UTime: 60, RSS: 4096}))
	if len(u.Pids) != 1 || u.Processes.Current != 1 || u.Memory.RSS != 4096 {
		t.Errorf("Pids %v, Current %d, RSS %d; want one pid, 1, 4096", u.Pids, u.Processes.Current, u.Memory.RSS)
	}
	near(t, "pid 5 Percent", pid(t, u, 5).CPU.Percent, 50)
}

func TestMeasuredListsExact(t *testing.T) {
	all := Totals{
		MemoryUsage: 1, MemoryMaxUsage: 2, MemoryLimit: 3, RSS: 4, Cache: 5, Swap: 6,
		KernelUsage: 7, KernelMaxUsage: 8, OOMKills: 9,
		CPUUsage: 10, CPUUser: 11, CPUSystem: 12, ThrottledPeriods: 13, ThrottledTime: 14,
		PidsCurrent: 15, PidsLimit: 16,
		Measured: []string{"memory_usage", "memory_max_usage", "memory_limit", "rss", "cache", "swap",
			"kernel_usage", "kernel_max_usage", "oom_kills", "cpu_usage", "cpu_user", "cpu_system",
			"throttled_periods", "throttled_time", "pids_current", "pids_limit", "some_future_field"},
	}
	tr := NewTracker()
	u := tr.Usage(&Reading{Time: t0, Cgroup: all, Procs: []Proc{{Pid: 1, StartTime: 1, RSS: 99}}})
	wantMem := MemoryStats{RSS: 4, Cache: 5, Swap: 6, Usage: 1, MaxUsage: 2, KernelUsage: 7, KernelMaxUsage: 8,
		Limit: 3, OOMKills: 9, Measured: []string{"cache", "kernel_max_usage", "kernel_usage", "limit",
			"max_usage", "oom_kills", "rss", "swap", "usage"}}
	if !reflect.DeepEqual(u.Memory, wantMem) {
		t.Errorf("Memory = %+v; want %+v", u.Memory, wantMem)
	}
	measured(t, "first CPU", u.CPU.Measured, "throttled_periods", "throttled_time")
	wantProc := ProcessStats{Current: 15, Limit: 16, Measured: []string{"current", "limit"}}
	if !reflect.DeepEqual(u.Processes, wantProc) {
		t.Errorf("Processes = %+v; want %+v", u.Processes, wantProc)
	}
	if u.Timestamp != t0.UnixNano() {
		t.Errorf("Timestamp = %d; want %d", u.Timestamp, t0.UnixNano())
	}

	next := all
	next.CPUUsage, next.CPUUser, next.CPUSystem = 10+4e8, 11+3e8, 12+1e8
	u = tr.Usage(&Reading{Time: t0.Add(time.Second), Cgroup: next, Procs: []Proc{{Pid: 1, StartTime: 1, UTime: 1}}})
	wantCPU := CPUStats{SystemMode: 10, UserMode: 30, Percent: 40, ThrottledPeriods: 13, ThrottledTime: 14,
		Measured: []string{"percent", "system_mode", "throttled_periods", "throttled_time", "user_mode"}}
	if !reflect.DeepEqual(u.CPU, wantCPU) {
		t.Errorf("CPU without CoreMHz = %+v; want %+v", u.CPU, wantCPU)
	}
	measured(t, "pid CPU without CoreMHz", pid(t, u, 1).CPU.Measured, "percent", "system_mode", "user_mode")

	// Nothing measured at all: every list is empty, not nil, and JSON
	// says so.
	u = NewTracker().Usage(&Reading{Time: t0, Cgroup: Totals{Measured: []string{}}})
	u.Memory.Measured = u.Memory.Measured[:0] // drop the rss_from_procs pair, checked elsewhere
	u.Processes.Measured = u.Processes.Measured[:0]
	data, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"memory":{"rss":0,"cache":0,"swap":0,"usage":0,"max_usage":0,"kernel_usage":0,"kernel_max_usage":0,"limit":0,"oom_kills":0,"measured":[]},` +
		`"cpu":{"system_mode":0,"user_mode":0,"percent":0,"throttled_periods":0,"throttled_time":0,"total_ticks":0,"measured":[]},` +
		`"processes":{"current":0,"limit":0,"measured":[]},"timestamp":` + strconv.FormatInt(t0.UnixNano(), 10) + `,"pids":{}}`
	if string(data) != want {
		t.Errorf("JSON\n%s\nwant\n%s", data, want)
	}
}

func TestCounterMeasuredInOneReadingOnly(t *testing.T) {
	tr := NewTracker()
	tr.Usage(at(0, Totals{CPUUser: 1e9, CPUSystem: 1e9, Measured: []string{"cpu_user", "cpu_system"}}))
	// cpu_usage appears, cpu_system is gone: only user_mode has two ends.
	u := tr.Usage(at(time.Second, Totals{CPUUsage: 5e9, CPUUser: 1.5e9, Measured: []string{"cpu_usage", "cpu_user"}}))
	measured(t, "CPU", u.CPU.Measured, "user_mode")
	near(t, "UserMode", u.CPU.UserMode, 50)
	if u.CPU.Percent != 0 || u.CPU.TotalTicks != 0 {
		t.Errorf("Percent %v, TotalTicks %v; want 0 (cpu_usage has no previous value)", u.CPU.Percent, u.CPU.TotalTicks)
	}
}

func TestNoPercentWithoutInterval(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second} {
		tr := NewTracker()
		tr.Usage(at(time.Second, cpuTotals(time.Second, 0, 0), Proc{Pid: 1, StartTime: 1}))
		u := tr.Usage(at(time.Second+d, cpuTotals(2*time.Second, time.Second, 0), Proc{Pid: 1, StartTime: 1, UTime: 50}))
		measured(t, "CPU at interval "+d.String(), u.CPU.Measured)
		measured(t, "pid CPU at interval "+d.String(), pid(t, u, 1).CPU.Measured)
		// The reading still becomes the base.
		u = tr.Usage(at(2*time.Second+d, cpuTotals(3*time.Second, 2*time.Second, 0), Proc{Pid: 1, StartTime: 1, UTime: 100}))
		near(t, "Percent after", u.CPU.Percent, 100)
		near(t, "pid Percent after", pid(t, u, 1).CPU.Percent, 50)
	}
}

func TestChurningPidsStayBounded(t *testing.T) {
	// A task that forks short-lived workers: every reading has 20 of them,
	// half new since the last.
	tr := NewTracker()
	next := 1000
	var live []Proc
	for i := range 5000 {
		if len(live) > 10 {
			live = live[10:]
		}
		for len(live) < 20 {
			live = append(live, Proc{Pid: next, StartTime: uint64(next)})
			next++
		}
		for j := range live {
			live[j].UTime++
		}
		u := tr.Usage(at(time.Duration(i)*time.Second, Totals{}, live...))
		if len(u.Pids) != 20 || len(tr.procs) != 20 {
			t.Fatalf("reading %d: %d pids reported, %d remembered; want 20, 20", i, len(u.Pids), len(tr.procs))
		}
		if i > 0 {
			rated := 0
			for _, p := range u.Pids {
				if len(p.CPU.Measured) > 0 {
					rated++
					near(t, "pid Percent", p.CPU.Percent, 1)
				}
			}
			if rated != 10 {
				t.Fatalf("reading %d: %d pids with percent; want the 10 seen before", i, rated)
			}
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	tr := NewTracker()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				d := time.Duration(g*1000+i) * time.Millisecond
				u := tr.Usage(at(d, cpuTotals(d, d, 0), Proc{Pid: g + 1, StartTime: 1, UTime: uint64(i)}))
				if u.CPU.Percent < 0 {
					t.Errorf("Percent %v < 0", u.CPU.Percent)
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkUsage100Procs(b *testing.B) {
	c := Totals{
		MemoryUsage: 1 << 30, MemoryLimit: 2 << 30, RSS: 1 << 29, CPUUsage: 1e9, CPUUser: 8e8, CPUSystem: 2e8,
		PidsCurrent: 100, PidsLimit: 1000,
		Measured: []string{"memory_usage", "memory_limit", "rss", "cpu_usage", "cpu_user", "cpu_system",
			"pids_current", "pids_limit"},
	}
	r := &Reading{Time: t0, Cgroup: c, CoreMHz: 2100}
	for i := range 100 {
		r.Procs = append(r.Procs, Proc{Pid: 1000 + i, StartTime: uint64(i), UTime: 100, STime: 10, RSS: 1 << 20})
	}
	tr := NewTracker()
	b.ReportAllocs()
	for b.Loop() {
		r.Time = r.Time.Add(time.Second)
		r.Cgroup.CPUUsage += 1e9
		for i := range r.Procs {
			r.Procs[i].UTime += 100
		}
		tr.Usage(r)
	}
}
