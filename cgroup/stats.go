package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Counters are a task cgroup's raw counters at one moment. Measured names
// each field that was read from a file that exists on this host for this
// task; a field not in Measured is unknown (not zero).
type Counters struct {
	MemoryUsage      uint64 // bytes: v1 memory.usage_in_bytes, v2 memory.current
	MemoryMaxUsage   uint64 // v1 memory.max_usage_in_bytes, v2 memory.peak
	MemoryLimit      uint64 // v1 memory.limit_in_bytes (0 when it is the "unlimited" huge value), v2 memory.max ("max" -> 0)
	RSS              uint64 // v1 memory.stat total_rss (else rss), v2 memory.stat anon
	Cache            uint64 // v1 memory.stat total_cache (else cache), v2 memory.stat file
	Swap             uint64 // v1: memory.memsw.usage_in_bytes MINUS memory.usage_in_bytes (memsw is memory PLUS swap; only when memsw exists), v2 memory.swap.current
	KernelUsage      uint64 // v1 memory.kmem.usage_in_bytes, v2 memory.stat kernel (or kernel_stack+pagetables+percpu+vmalloc+slab before Linux 5.18)
	KernelMaxUsage   uint64 // v1 memory.kmem.max_usage_in_bytes; v2: none (never measured)
	OOMKills         uint64 // v1 memory.oom_control oom_kill, v2 memory.events oom_kill
	CPUUsage         uint64 // ns: v1 cpuacct.usage, v2 cpu.stat usage_usec*1000
	CPUUser          uint64 // ns: v1 cpuacct.stat user (USER_HZ=100 ticks -> *10ms), v2 cpu.stat user_usec*1000
	CPUSystem        uint64 // ns: likewise system
	ThrottledPeriods uint64 // v1 cpu.stat nr_throttled, v2 cpu.stat nr_throttled (only where the cpu controller is on for the task)
	ThrottledTime    uint64 // ns: v1 cpu.stat throttled_time, v2 cpu.stat throttled_usec*1000
	PidsCurrent      uint64 // pids.current
	PidsLimit        uint64 // pids.max ("max" -> 0)
	// Measured names the fields read, in lower snake case ("memory_usage",
	// "rss", "oom_kills", "cpu_usage", "pids_limit", ...), sorted.
	Measured []string
}

// has reports whether the field named n was measured.
func (c *Counters) has(n string) bool {
	return slices.Contains(c.Measured, n)
}

// Counters reads the task's counters from every hierarchy it is in.
//
// On V2 everything comes from the task's one directory, each file only if
// it exists there (a controller not enabled for the cgroup has none). On
// V1 each group of counters comes from the controller cgroup the task has:
// memory, cpuacct (a cpu,cpuacct mount serves it through the cpu
// directory), cpu for throttling, pids. On Hybrid the same, except that
// the CPU times come from the unified cgroup's cpu.stat when the task has
// no v1 cpuacct cgroup: every cgroup2 cgroup has usage_usec, user_usec and
// system_usec, with or without the cpu controller. A hybrid task without
// limits has no v1 cgroups, so no memory, throttling or pids field is
// measured for it.
//
// A cgroup removed meanwhile is an error matching fs.ErrNotExist.
func (m *Manager) Counters() (*Counters, error) {
	c, err := readCounters(m.h.version(), m.counterDirs())
	if err != nil {
		return nil, fmt.Errorf("read counters of cgroup %s: %w", m.h.dir(), err)
	}
	return c, nil
}

// counterDirs is the Manager's paths plus the v1 counter hierarchies
// (memory, cpu, cpuacct, pids) that another process added since the
// Manager was made: an update from the CLI creates the v1 cgroups a new
// limit needs, and the supervisor's long-lived Manager would otherwise
// keep reporting the task's memory as unmeasured.
func (m *Manager) counterDirs() map[string]string {
	dirs := m.h.paths()
	var root, group string
	switch h := m.h.(type) {
	case *v1Group:
		root, group = h.root, h.group
	case *hybridGroup:
		root, group = h.cfg.V1Root, h.cfg.group()
	default:
		return dirs
	}
	for _, name := range []string{"memory", "cpu", "cpuacct", "pids"} {
		if _, ok := dirs[name]; ok {
			continue
		}
		// The directories below /sys/fs/cgroup are plain tmpfs until a
		// hierarchy is mounted there: only a cgroup filesystem counts.
		dir := filepath.Join(root, name, group)
		var st unix.Statfs_t
		if unix.Statfs(dir, &st) == nil && st.Type == unix.CGROUP_SUPER_MAGIC {
			dirs[name] = dir
		}
	}
	return dirs
}

// readCounters reads the counters of a cgroup laid out as version says,
// from the directories dirs names by hierarchy ("unified", "memory",
// "cpu", "cpuacct", "pids", "freezer"...).
func readCounters(version int, dirs map[string]string) (*Counters, error) {
	switch version {
	case V2:
		return readV2Counters(dirs["unified"])
	case V1:
		return readV1Counters(dirs)
	case Hybrid:
		return readHybridCounters(dirs)
	}
	return nil, fmt.Errorf("cgroup version %d: must be 1, 2 or 3 (hybrid)", version)
}

// The names of the Counters fields in Measured.
const (
	nMemoryUsage      = "memory_usage"
	nMemoryMaxUsage   = "memory_max_usage"
	nMemoryLimit      = "memory_limit"
	nRSS              = "rss"
	nCache            = "cache"
	nSwap             = "swap"
	nKernelUsage      = "kernel_usage"
	nKernelMaxUsage   = "kernel_max_usage"
	nOOMKills         = "oom_kills"
	nCPUUsage         = "cpu_usage"
	nCPUUser          = "cpu_user"
	nCPUSystem        = "cpu_system"
	nThrottledPeriods = "throttled_periods"
	nThrottledTime    = "throttled_time"
	nPidsCurrent      = "pids_current"
	nPidsLimit        = "pids_limit"
)

// Unit conversions to nanoseconds.
const (
	usec = 1000
	// userHZTick is one tick of USER_HZ, the unit of cpuacct.stat: the
	// kernel reports it at 100 per second on every architecture Go runs
	// on (jiffies_64_to_clock_t), whatever CONFIG_HZ is.
	userHZTick = 10_000_000
)

// readV2Counters reads the counters of a cgroup2 cgroup from its directory
// dir: memory.{current,peak,max,stat,swap.current,events}, cpu.stat and
// pids.{current,max}, each only if the file exists (the memory, cpu and
// pids controllers may be off for it; memory.peak is Linux 5.19).
func readV2Counters(dir string) (*Counters, error) {
	r := newStatReader(dir)
	r.readV2Memory()
	r.readV2CPU(true)
	r.readPids()
	return r.result()
}

// readV1Counters reads the counters of a v1 cgroup from its controller
// directories, keyed by hierarchy name ("memory", "cpu", "cpuacct",
// "pids", ...; others, the freezer, are only checked to exist). CPU times
// come from "cpuacct", else from "cpu" when that is a cpu,cpuacct mount
// (its directory then has the cpuacct files).
func readV1Counters(dirs map[string]string) (*Counters, error) {
	c := &Counters{}
	names := make([]string, 0, len(dirs))
	for name := range dirs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		r := &statReader{dir: dirs[name], c: c}
		r.checkDir()
		switch name {
		case "memory":
			r.readV1Memory()
		case "cpu":
			r.readV1Throttling()
			if _, ok := dirs["cpuacct"]; !ok {
				r.readV1CPUAcct()
			}
		case "cpuacct":
			r.readV1CPUAcct()
		case "pids":
			r.readPids()
		}
		if r.err != nil {
			return nil, r.err
		}
	}
	return finish(c), nil
}

// readHybridCounters reads a hybrid cgroup: dirs["unified"] and the v1
// controller directories. The CPU times come from v1 cpuacct when the task
// has it, else from the unified cpu.stat; everything else from v1 only
// (the unified hierarchy of a hybrid host has no memory or pids
// controller: each controller is bound to one hierarchy).
func readHybridCounters(dirs map[string]string) (*Counters, error) {
	v1 := make(map[string]string, len(dirs))
	for name, dir := range dirs {
		if name != "unified" {
			v1[name] = dir
		}
	}
	c, err := readV1Counters(v1)
	if err != nil {
		return nil, err
	}
	// The unified cgroup is read even when cpuacct served the CPU times:
	// it is the one every hybrid task has, so its absence is how a task
	// without limits shows that it was removed.
	unified := newStatReader(dirs["unified"])
	unified.readV2CPU(false)
	u, err := unified.result()
	if err != nil {
		return nil, err
	}
	if !c.has(nCPUUsage) && !c.has(nCPUUser) && !c.has(nCPUSystem) {
		for _, n := range []string{nCPUUsage, nCPUUser, nCPUSystem} {
			if u.has(n) {
				*c.field(n) = *u.field(n)
				c.Measured = append(c.Measured, n)
			}
		}
	}
	return finish(c), nil
}

// field is the Counters field named n.
func (c *Counters) field(n string) *uint64 {
	switch n {
	case nMemoryUsage:
		return &c.MemoryUsage
	case nMemoryMaxUsage:
		return &c.MemoryMaxUsage
	case nMemoryLimit:
		return &c.MemoryLimit
	case nRSS:
		return &c.RSS
	case nCache:
		return &c.Cache
	case nSwap:
		return &c.Swap
	case nKernelUsage:
		return &c.KernelUsage
	case nKernelMaxUsage:
		return &c.KernelMaxUsage
	case nOOMKills:
		return &c.OOMKills
	case nCPUUsage:
		return &c.CPUUsage
	case nCPUUser:
		return &c.CPUUser
	case nCPUSystem:
		return &c.CPUSystem
	case nThrottledPeriods:
		return &c.ThrottledPeriods
	case nThrottledTime:
		return &c.ThrottledTime
	case nPidsCurrent:
		return &c.PidsCurrent
	case nPidsLimit:
		return &c.PidsLimit
	}
	panic("cgroup: no counter " + n)
}

func (c *Counters) set(n string, v uint64) {
	*c.field(n) = v
	c.Measured = append(c.Measured, n)
}

// finish sorts Measured, without duplicates, and makes it non-nil.
func finish(c *Counters) *Counters {
	slices.Sort(c.Measured)
	c.Measured = slices.Compact(c.Measured)
	if c.Measured == nil {
		c.Measured = []string{}
	}
	return c
}

// statReader reads counter files of one cgroup directory into c. The
// first error sticks: later reads do nothing, and result returns it.
type statReader struct {
	dir string
	c   *Counters
	err error
}

func newStatReader(dir string) *statReader {
	r := &statReader{dir: dir, c: &Counters{}}
	r.checkDir()
	return r
}

func (r *statReader) result() (*Counters, error) {
	if r.err != nil {
		return nil, r.err
	}
	return finish(r.c), nil
}

// goneError says a cgroup directory was removed. It matches
// fs.ErrNotExist, also for ENODEV: the kernel's answer to a read of a file
// whose cgroup was removed after the open.
type goneError struct {
	dir string
	err error
}

func (e *goneError) Error() string { return "cgroup " + e.dir + " was removed: " + e.err.Error() }
func (e *goneError) Unwrap() error { return e.err }
func (e *goneError) Is(target error) bool {
	return target == fs.ErrNotExist
}

// checkDir fails when the directory itself is gone, so that a removed
// cgroup is an error rather than a reading with nothing measured.
func (r *statReader) checkDir() {
	if r.err != nil {
		return
	}
	if _, err := os.Stat(r.dir); err != nil {
		if deleted(err) {
			r.err = &goneError{r.dir, unwrapPathErr(err)}
		} else {
			r.err = err
		}
	}
}

// read returns a file's content; ok is false when the file does not exist
// (the controller is off for the cgroup, or the kernel predates the file).
func (r *statReader) read(name string) (content string, ok bool) {
	if r.err != nil {
		return "", false
	}
	file := filepath.Join(r.dir, name)
	b, err := os.ReadFile(file)
	switch {
	case err == nil:
		return string(b), true
	case errors.Is(err, unix.ENODEV):
		r.err = &goneError{r.dir, unix.ENODEV}
	case errors.Is(err, fs.ErrNotExist):
		// A missing file is a missing feature, unless the whole
		// directory went with it.
		r.checkDir()
	default:
		r.err = err
	}
	return "", false
}

func (r *statReader) parseError(name, format string, args ...any) {
	r.err = fmt.Errorf("parse %s: %s", filepath.Join(r.dir, name), fmt.Sprintf(format, args...))
}

// parseCount parses a counter value; scale converts it to the field's
// unit.
func (r *statReader) parseCount(name, what, s string, scale uint64) (uint64, bool) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		r.parseError(name, "%s%q is not a count", what, s)
		return 0, false
	}
	if v > math.MaxUint64/scale {
		r.parseError(name, "%s%s is out of range", what, s)
		return 0, false
	}
	return v * scale, true
}

// value reads a file holding one count into field n.
func (r *statReader) value(name, n string) {
	if v, ok := r.count(name); ok {
		r.c.set(n, v)
	}
}

// count reads a file holding one count.
func (r *statReader) count(name string) (uint64, bool) {
	s, ok := r.read(name)
	if !ok {
		return 0, false
	}
	return r.parseCount(name, "", strings.TrimSpace(s), 1)
}

// unlimitedFrom is where a v1 limit means "none". The kernel stores a
// limit in pages and shows "unlimited" (PAGE_COUNTER_MAX pages) as
// LONG_MAX rounded down to the page size: 9223372036854771712 with 4 KiB
// pages, 9223372036854710272 with 64 KiB ones. No real limit comes within
// a mebibyte of LONG_MAX.
const unlimitedFrom = math.MaxInt64 - (1<<20 - 1)

// limit reads a limit file into field n: "max" (v2, pids) or the v1
// unlimited value is 0, no limit.
func (r *statReader) limit(name, n string) {
	s, ok := r.read(name)
	if !ok {
		return
	}
	s = strings.TrimSpace(s)
	if s == "max" {
		r.c.set(n, 0)
		return
	}
	v, ok := r.parseCount(name, "", s, 1)
	if !ok {
		return
	}
	if v >= unlimitedFrom {
		v = 0
	}
	r.c.set(n, v)
}

// keyed reads a flat-keyed file ("key value" per line: memory.stat,
// cpu.stat, memory.events, memory.oom_control, cpuacct.stat); nil when
// the file does not exist. Fields may be separated by any run of blanks.
// A line that is not a key and one value keeps what follows its key, so
// that reading that key is an error naming the file, while a malformed
// line that no counter uses is no reason to lose the others.
func (r *statReader) keyed(name string) map[string]string {
	s, ok := r.read(name)
	if !ok {
		return nil
	}
	kv := make(map[string]string)
	for line := range strings.Lines(s) {
		if f := strings.Fields(line); len(f) > 0 {
			kv[f[0]] = strings.Join(f[1:], " ")
		}
	}
	return kv
}

// key sets field n from the first of keys that kv has, times scale. A key
// missing from the file leaves n unmeasured.
func (r *statReader) key(name string, kv map[string]string, n string, scale uint64, keys ...string) {
	if r.err != nil || kv == nil {
		return
	}
	for _, k := range keys {
		if s, ok := kv[k]; ok {
			if v, ok := r.parseCount(name, k+" ", s, scale); ok {
				r.c.set(n, v)
			}
			return
		}
	}
}

// sumKeys adds the values of those of keys that kv has; ok is false when
// it has none.
func (r *statReader) sumKeys(name string, kv map[string]string, keys ...string) (sum uint64, ok bool) {
	for _, k := range keys {
		s, has := kv[k]
		if !has {
			continue
		}
		v, parsed := r.parseCount(name, k+" ", s, 1)
		if !parsed {
			return 0, false
		}
		if sum > math.MaxUint64-v {
			r.parseError(name, "%s%s makes the sum out of range", k+" ", s)
			return 0, false
		}
		sum, ok = sum+v, true
	}
	return sum, ok
}

func (r *statReader) readV2Memory() {
	r.value("memory.current", nMemoryUsage)
	r.value("memory.peak", nMemoryMaxUsage)
	r.limit("memory.max", nMemoryLimit)
	stat := r.keyed("memory.stat")
	r.key("memory.stat", stat, nRSS, 1, "anon")
	r.key("memory.stat", stat, nCache, 1, "file")
	if _, ok := stat["kernel"]; ok {
		r.key("memory.stat", stat, nKernelUsage, 1, "kernel")
	} else if r.err == nil && stat != nil {
		// Before Linux 5.18 there is no total: add up the kinds of kernel
		// memory the file breaks out, as "kernel" now counts them. sock is
		// left out, as from "kernel" and v1's kmem: it is charged apart.
		kinds := []string{"kernel_stack", "pagetables", "percpu", "vmalloc"}
		if _, ok := stat["slab"]; ok {
			kinds = append(kinds, "slab")
		} else {
			kinds = append(kinds, "slab_reclaimable", "slab_unreclaimable")
		}
		if v, ok := r.sumKeys("memory.stat", stat, kinds...); ok {
			r.c.set(nKernelUsage, v)
		}
	}
	r.value("memory.swap.current", nSwap)
	r.key("memory.events", r.keyed("memory.events"), nOOMKills, 1, "oom_kill")
}

// readV2CPU reads cpu.stat: the CPU times every cgroup2 cgroup has and,
// with throttling, the figures the cpu controller adds when it is on.
func (r *statReader) readV2CPU(throttling bool) {
	stat := r.keyed("cpu.stat")
	r.key("cpu.stat", stat, nCPUUsage, usec, "usage_usec")
	r.key("cpu.stat", stat, nCPUUser, usec, "user_usec")
	r.key("cpu.stat", stat, nCPUSystem, usec, "system_usec")
	if throttling {
		r.key("cpu.stat", stat, nThrottledPeriods, 1, "nr_throttled")
		r.key("cpu.stat", stat, nThrottledTime, usec, "throttled_usec")
	}
}

// readPids reads pids.current and pids.max, the same on v1 and v2.
func (r *statReader) readPids() {
	r.value("pids.current", nPidsCurrent)
	r.limit("pids.max", nPidsLimit)
}

func (r *statReader) readV1Memory() {
	usage, hasUsage := r.count("memory.usage_in_bytes")
	if hasUsage {
		r.c.set(nMemoryUsage, usage)
	}
	r.value("memory.max_usage_in_bytes", nMemoryMaxUsage)
	r.limit("memory.limit_in_bytes", nMemoryLimit)
	stat := r.keyed("memory.stat")
	// total_* include the cgroups below the task's, if any; the plain
	// keys are the fallback for a file without them.
	r.key("memory.stat", stat, nRSS, 1, "total_rss", "rss")
	r.key("memory.stat", stat, nCache, 1, "total_cache", "cache")
	// memsw counts memory plus swap; it exists only with swap accounting
	// (CONFIG_MEMCG_SWAP and not swapaccount=0). Read after usage, a
	// charge in between makes it larger, never the difference negative;
	// a concurrent uncharge can, so clamp at 0.
	if memsw, ok := r.count("memory.memsw.usage_in_bytes"); ok && hasUsage {
		r.c.set(nSwap, memsw-min(usage, memsw))
	}
	r.value("memory.kmem.usage_in_bytes", nKernelUsage)
	r.value("memory.kmem.max_usage_in_bytes", nKernelMaxUsage)
	// oom_kill is Linux 4.13; older kernels show only oom_kill_disable
	// and under_oom.
	r.key("memory.oom_control", r.keyed("memory.oom_control"), nOOMKills, 1, "oom_kill")
}

func (r *statReader) readV1CPUAcct() {
	r.value("cpuacct.usage", nCPUUsage)
	stat := r.keyed("cpuacct.stat")
	r.key("cpuacct.stat", stat, nCPUUser, userHZTick, "user")
	r.key("cpuacct.stat", stat, nCPUSystem, userHZTick, "system")
}

func (r *statReader) readV1Throttling() {
	stat := r.keyed("cpu.stat")
	r.key("cpu.stat", stat, nThrottledPeriods, 1, "nr_throttled")
	r.key("cpu.stat", stat, nThrottledTime, 1, "throttled_time")
}
