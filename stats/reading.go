package stats

import "time"

// Reading is one look at a task.
type Reading struct {
	// Time is when the reading was taken. Take it from time.Now(): the
	// monotonic clock it carries keeps the interval between two readings
	// true across a step of the wall clock.
	Time time.Time
	// Cgroup holds the totals from the task's cgroup; Cgroup.Measured names
	// the fields read (same lower_snake names as the fields:
	// "memory_usage", "memory_max_usage", "memory_limit", "rss", "cache",
	// "swap", "kernel_usage", "kernel_max_usage", "oom_kills",
	// "cpu_usage", "cpu_user", "cpu_system", "throttled_periods",
	// "throttled_time", "pids_current", "pids_limit").
	Cgroup Totals
	// Procs are the task's processes (from the cgroup's procs), each read
	// from /proc/PID/stat; a process that exited while being read is left
	// out by the caller.
	Procs []Proc
	// CoreMHz is one core's speed, for TotalTicks; 0 when unknown (then
	// total_ticks is not measured).
	CoreMHz float64
}

// Totals mirror the cgroup counters (nanoseconds for CPU and throttled
// time, bytes for memory). A field not named in Measured is ignored,
// whatever its value.
type Totals struct {
	// Memory, in bytes; OOMKills is a count of processes.
	MemoryUsage, MemoryMaxUsage, MemoryLimit, RSS, Cache, Swap uint64
	KernelUsage, KernelMaxUsage, OOMKills                      uint64

	// CPU time, in nanoseconds; ThrottledPeriods is a count.
	CPUUsage, CPUUser, CPUSystem, ThrottledPeriods, ThrottledTime uint64

	// Processes in the cgroup, and its limit on them.
	PidsCurrent, PidsLimit uint64

	// Measured names the fields read, by the names Reading.Cgroup lists.
	Measured []string
}

// Proc is one process's figures from /proc/PID/stat.
type Proc struct {
	Pid          int
	StartTime    uint64 // clock ticks since boot: with Pid, names one process
	UTime, STime uint64 // clock ticks (proc.ClockTicks per second)
	RSS          uint64 // bytes (RSSPages * page size)
}

// field is one bit per name a Totals.Measured may hold.
type field uint32

const (
	fMemoryUsage field = 1 << iota
	fMemoryMaxUsage
	fMemoryLimit
	fRSS
	fCache
	fSwap
	fKernelUsage
	fKernelMaxUsage
	fOOMKills
	fCPUUsage
	fCPUUser
	fCPUSystem
	fThrottledPeriods
	fThrottledTime
	fPidsCurrent
	fPidsLimit
)

// measuredFields returns the set of fields names lists. Unknown names are
// ignored: a newer reader may measure more than this package reports.
func measuredFields(names []string) field {
	var set field
	for _, n := range names {
		switch n {
		case "memory_usage":
			set |= fMemoryUsage
		case "memory_max_usage":
			set |= fMemoryMaxUsage
		case "memory_limit":
			set |= fMemoryLimit
		case "rss":
			set |= fRSS
		case "cache":
			set |= fCache
		case "swap":
			set |= fSwap
		case "kernel_usage":
			set |= fKernelUsage
		case "kernel_max_usage":
			set |= fKernelMaxUsage
		case "oom_kills":
			set |= fOOMKills
		case "cpu_usage":
			set |= fCPUUsage
		case "cpu_user":
			set |= fCPUUser
		case "cpu_system":
			set |= fCPUSystem
		case "throttled_periods":
			set |= fThrottledPeriods
		case "throttled_time":
			set |= fThrottledTime
		case "pids_current":
			set |= fPidsCurrent
		case "pids_limit":
			set |= fPidsLimit
		}
	}
	return set
}
