package stats

import (
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/berthrun/berth/proc"
)

// Tracker keeps a task's previous reading, so that each Usage reports CPU
// percent over the time since the last one. Safe for concurrent use; calls
// are ordered by its lock, so readings taken by different goroutines should
// reach it in the order they were taken (one out of order has a negative
// interval and gives no percent).
type Tracker struct {
	mu sync.Mutex
	// cgroup is the last reading's cgroup CPU counters.
	cgroup cgroupCPU
	// procs holds the CPU times of the last reading's processes and of no
	// others: a process is forgotten at the first reading without it, so
	// the map is as large as the task and no larger, however its pids
	// churn.
	procs map[procKey]procTimes
}

// cgroupCPU is what Usage keeps of a reading's cgroup: its CPU counters,
// and which of them were measured. seen is false before the first reading.
type cgroupCPU struct {
	seen                bool
	time                time.Time
	has                 field
	usage, user, system uint64
}

// procKey names one process: a pid is reused once its process is reaped,
// but the new process starts later, so the pair does not repeat.
type procKey struct {
	pid   int
	start uint64
}

// procTimes are a process's CPU times, in clock ticks.
type procTimes struct{ utime, stime uint64 }

// NewTracker returns a Tracker that has seen no reading.
func NewTracker() *Tracker { return &Tracker{} }

// Usage turns r into the usage shape and remembers r for the next call
// (only its counters: it keeps neither r nor its slices). Every Measured
// list is sorted and never nil, so JSON shows [] rather than null; Pids is
// never nil either. Timestamp is r.Time in Unix nanoseconds.
//
// Memory: each of Usage, MaxUsage, Limit, RSS, Cache, Swap, KernelUsage,
// KernelMaxUsage and OOMKills is copied from r.Cgroup when measured there,
// and named in Measured by its JSON name ("usage", "max_usage", "limit",
// "rss", "cache", "swap", "kernel_usage", "kernel_max_usage",
// "oom_kills"). When the cgroup measured no rss (a task without a memory
// cgroup on a hybrid host), RSS is the sum of the processes' RSS and
// Measured says "rss" and the source marker "rss_from_procs". Pages shared
// between the processes count once per process in that sum, so it is not
// the task's usage, and "usage" stays unmeasured.
//
// CPU: ThrottledPeriods and ThrottledTime are the cgroup's counters, as
// read. The rest are rates over the interval since the previous reading,
// as shares of its wall time: Percent is the growth of cpu_usage over the
// interval times 100 (one core busy throughout is 100, two are 200),
// UserMode and SystemMode the same of cpu_user and cpu_system, and
// TotalTicks is Percent/100 times r.CoreMHz. Each is measured only when
// its counter was measured in both readings; TotalTicks also needs
// CoreMHz > 0. None of the four is measured
//   - on the first reading, which has nothing to compare with;
//   - when the interval is zero or negative (two readings at the same time,
//     or handed over out of order);
//   - when any of cpu_usage, cpu_user and cpu_system measured in both
//     readings went down: the counters restart only when the cgroup is
//     created, so the two readings are of different cgroups (the task's was
//     recreated, or the Tracker was handed another task) and no difference
//     between them means anything. This reading becomes the base for the
//     next, as every reading does.
//
// Nothing is clamped: a percent is never negative because a counter that
// went down gives none, and one above 100 times the cores is reported as
// computed (it comes from the counters and the clock disagreeing).
//
// Processes: Current and Limit are the cgroup's pids_current and
// pids_limit where measured. When pids_current is not, Current is the
// number of processes in r.Procs, and Measured says "current" and the
// source marker "current_from_procs".
//
// Pids: one entry per process in r.Procs, keyed by its pid in decimal. A
// pid listed twice (cgroup v1's cgroup.procs may repeat one) counts once,
// its first listing, in Pids and in every sum. Memory.RSS is the process's
// RSS (measured "rss"). CPU.Percent, UserMode and SystemMode are the
// growth of the process's utime+stime, utime and stime (clock ticks of
// 1/proc.ClockTicks() s) over the interval's wall time, times 100, and
// TotalTicks is Percent/100 times r.CoreMHz, as for the task. They are
// measured only for a process the previous reading had too, named by pid
// and start time: a process new since then, a pid reused by a new process,
// and every process on the first reading have none yet (so the CPU of a
// process that forks and exits between two readings shows in the task's
// total but in no pid's). The same rules for a zero interval and for times
// that went down apply.
func (t *Tracker) Usage(r *Reading) *TaskResourceUsage {
	t.mu.Lock()
	defer t.mu.Unlock()

	has := measuredFields(r.Cgroup.Measured)
	interval := r.Time.Sub(t.cgroup.time)
	rated := t.cgroup.seen && interval > 0
	u := &TaskResourceUsage{
		Timestamp: r.Time.UnixNano(),
		Pids:      make(map[string]*PidUsage, len(r.Procs)),
	}

	// Per pid. Each PidUsage and its two Measured lists are carved out of
	// one allocation apiece, with capacities capped so that appending to
	// one list cannot write into the next.
	var (
		pids   = make([]PidUsage, len(r.Procs))
		names  = make([]string, 0, len(r.Procs)*pidNamesMax)
		procs  = make(map[procKey]procTimes, len(r.Procs))
		rssSum uint64
	)
	// The keys, the pids in decimal, are cut from one string: a few
	// allocations, not one per pid (strconv.Itoa allocates from 100 on).
	var (
		digits = make([]byte, 0, len(r.Procs)*8)
		ends   = make([]int, len(r.Procs))
	)
	for i, p := range r.Procs {
		digits = strconv.AppendInt(digits, int64(p.Pid), 10)
		ends[i] = len(digits)
	}
	decimal := string(digits)
	for i, p := range r.Procs {
		key := decimal[:ends[i]]
		if i > 0 {
			key = decimal[ends[i-1]:ends[i]]
		}
		if _, dup := u.Pids[key]; dup {
			continue
		}
		pu := &pids[len(u.Pids)]
		u.Pids[key] = pu
		rssSum += p.RSS

		n := len(names)
		names = append(names, "rss")
		pu.Memory = MemoryStats{RSS: p.RSS, Measured: names[n:len(names):len(names)]}

		k, now := procKey{p.Pid, p.StartTime}, procTimes{p.UTime, p.STime}
		procs[k] = now
		n = len(names)
		if was, ok := t.procs[k]; ok && rated && now.utime >= was.utime && now.stime >= was.stime {
			user := percent(ticksToNanos(now.utime-was.utime), interval)
			system := percent(ticksToNanos(now.stime-was.stime), interval)
			pu.CPU.UserMode, pu.CPU.SystemMode = user, system
			pu.CPU.Percent = percent(ticksToNanos(now.utime-was.utime+now.stime-was.stime), interval)
			names = append(names, "percent", "system_mode")
			if r.CoreMHz > 0 {
				pu.CPU.TotalTicks = pu.CPU.Percent / 100 * r.CoreMHz
				names = append(names, "total_ticks")
			}
			names = append(names, "user_mode") // sorted as it is appended
		}
		pu.CPU.Measured = names[n:len(names):len(names)]
	}
	t.procs = procs

	u.Memory = memoryUsage(&r.Cgroup, has, rssSum)
	u.CPU = t.cpuUsage(r, has, interval, rated)
	u.Processes = processUsage(&r.Cgroup, has, len(u.Pids))

	t.cgroup = cgroupCPU{
		seen:   true,
		time:   r.Time,
		has:    has & (fCPUUsage | fCPUUser | fCPUSystem),
		usage:  r.Cgroup.CPUUsage,
		user:   r.Cgroup.CPUUser,
		system: r.Cgroup.CPUSystem,
	}
	return u
}

// pidNamesMax is the most names a process's two Measured lists hold
// together: "rss"; "percent", "system_mode", "total_ticks", "user_mode".
const pidNamesMax = 5

// memoryUsage copies c's measured memory fields; rssSum stands in for rss
// when the cgroup has none.
func memoryUsage(c *Totals, has field, rssSum uint64) MemoryStats {
	m := MemoryStats{Measured: make([]string, 0, 10)}
	set := func(f field, name string, dst *uint64, v uint64) {
		if has&f != 0 {
			*dst = v
			m.Measured = append(m.Measured, name)
		}
	}
	set(fMemoryUsage, "usage", &m.Usage, c.MemoryUsage)
	set(fMemoryMaxUsage, "max_usage", &m.MaxUsage, c.MemoryMaxUsage)
	set(fMemoryLimit, "limit", &m.Limit, c.MemoryLimit)
	set(fRSS, "rss", &m.RSS, c.RSS)
	set(fCache, "cache", &m.Cache, c.Cache)
	set(fSwap, "swap", &m.Swap, c.Swap)
	set(fKernelUsage, "kernel_usage", &m.KernelUsage, c.KernelUsage)
	set(fKernelMaxUsage, "kernel_max_usage", &m.KernelMaxUsage, c.KernelMaxUsage)
	set(fOOMKills, "oom_kills", &m.OOMKills, c.OOMKills)
	if has&fRSS == 0 {
		m.RSS = rssSum
		m.Measured = append(m.Measured, "rss", "rss_from_procs")
	}
	slices.Sort(m.Measured)
	return m
}

// cpuUsage computes the task's CPU figures against the previous reading
// (see Usage); rated says there is one, at a positive interval before r.
func (t *Tracker) cpuUsage(r *Reading, has field, interval time.Duration, rated bool) CPUStats {
	c := &r.Cgroup
	s := CPUStats{Measured: make([]string, 0, 6)}
	if has&fThrottledPeriods != 0 {
		s.ThrottledPeriods = c.ThrottledPeriods
		s.Measured = append(s.Measured, "throttled_periods")
	}
	if has&fThrottledTime != 0 {
		s.ThrottledTime = c.ThrottledTime
		s.Measured = append(s.Measured, "throttled_time")
	}
	prev := t.cgroup
	both := has & prev.has
	reset := both&fCPUUsage != 0 && c.CPUUsage < prev.usage ||
		both&fCPUUser != 0 && c.CPUUser < prev.user ||
		both&fCPUSystem != 0 && c.CPUSystem < prev.system
	if rated && !reset {
		if both&fCPUUsage != 0 {
			s.Percent = percent(c.CPUUsage-prev.usage, interval)
			s.Measured = append(s.Measured, "percent")
			if r.CoreMHz > 0 {
				s.TotalTicks = s.Percent / 100 * r.CoreMHz
				s.Measured = append(s.Measured, "total_ticks")
			}
		}
		if both&fCPUUser != 0 {
			s.UserMode = percent(c.CPUUser-prev.user, interval)
			s.Measured = append(s.Measured, "user_mode")
		}
		if both&fCPUSystem != 0 {
			s.SystemMode = percent(c.CPUSystem-prev.system, interval)
			s.Measured = append(s.Measured, "system_mode")
		}
	}
	slices.Sort(s.Measured)
	return s
}

// processUsage counts the task's processes; procs, the number of distinct
// ones read, stands in for pids_current when the cgroup has none.
func processUsage(c *Totals, has field, procs int) ProcessStats {
	p := ProcessStats{Measured: make([]string, 0, 3)}
	if has&fPidsCurrent != 0 {
		p.Current = c.PidsCurrent
		p.Measured = append(p.Measured, "current")
	} else {
		p.Current = uint64(procs)
		p.Measured = append(p.Measured, "current", "current_from_procs")
	}
	if has&fPidsLimit != 0 {
		p.Limit = c.PidsLimit
		p.Measured = append(p.Measured, "limit")
	}
	slices.Sort(p.Measured)
	return p
}

// percent is busy nanoseconds of CPU as a percent of one core over
// interval (positive).
func percent(busy uint64, interval time.Duration) float64 {
	return float64(busy) / float64(interval.Nanoseconds()) * 100
}

// ticksToNanos converts clock ticks of /proc/PID/stat to nanoseconds (10
// ms each: USER_HZ is 100, which divides a second exactly).
func ticksToNanos(ticks uint64) uint64 {
	return ticks * (uint64(time.Second) / proc.ClockTicks())
}
