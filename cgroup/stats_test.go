package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode"
)

// statsFixture is a directory of testdata/stats.
func statsFixture(elem ...string) string {
	return filepath.Join(append([]string{"testdata", "stats"}, elem...)...)
}

// hierarchyDirs maps each subdirectory of a fixture (one per hierarchy:
// "unified", "memory", "cpu", ...) to its path, as Manager.Paths does.
func hierarchyDirs(t *testing.T, elem ...string) map[string]string {
	t.Helper()
	root := statsFixture(elem...)
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	dirs := make(map[string]string)
	for _, e := range entries {
		if e.IsDir() {
			dirs[e.Name()] = filepath.Join(root, e.Name())
		}
	}
	return dirs
}

// measured fills in want.Measured, sorted, for a comparison with a
// reading.
func measured(want Counters, names ...string) *Counters {
	want.Measured = slices.Sorted(slices.Values(names))
	return &want
}

func TestCountersFixtures(t *testing.T) {
	cpuTimes := []string{"cpu_usage", "cpu_user", "cpu_system"}
	for _, tc := range []struct {
		name    string
		version int
		dirs    map[string]string
		want    *Counters
	}{
		{
			// Every controller on (Linux 6.x): all but kernel_max_usage,
			// which v2 does not have; "kernel" wins over the sum of its
			// parts.
			name: "v2 full", version: V2, dirs: map[string]string{"unified": statsFixture("v2", "full")},
			want: measured(Counters{
				MemoryUsage: 52428800, MemoryMaxUsage: 67108864, MemoryLimit: 134217728,
				RSS: 41943040, Cache: 8388608, Swap: 1048576, KernelUsage: 2097152, OOMKills: 2,
				CPUUsage: 1234567000, CPUUser: 1000000000, CPUSystem: 234567000,
				ThrottledPeriods: 17, ThrottledTime: 456789000, PidsCurrent: 5, PidsLimit: 100,
			}, "memory_usage", "memory_max_usage", "memory_limit", "rss", "cache", "swap", "kernel_usage",
				"oom_kills", "cpu_usage", "cpu_user", "cpu_system", "throttled_periods", "throttled_time",
				"pids_current", "pids_limit"),
		},
		{
			// Linux 5.15, cpu controller off, swapaccount=0, no limits: no
			// memory.peak, no swap, no throttling; "max" limits are
			// measured as 0; kernel is kernel_stack+pagetables+percpu+slab
			// (no vmalloc key; sock left out).
			name: "v2 old kernel", version: V2, dirs: map[string]string{"unified": statsFixture("v2", "old")},
			want: measured(Counters{
				MemoryUsage: 20971520, RSS: 15728640, Cache: 3932160,
				KernelUsage: 49152 + 212992 + 720 + 892160,
				CPUUsage:    80000000, CPUUser: 60000000, CPUSystem: 20000000, PidsCurrent: 1,
			}, "memory_usage", "memory_limit", "rss", "cache", "kernel_usage", "oom_kills",
				"cpu_usage", "cpu_user", "cpu_system", "pids_current", "pids_limit"),
		},
		{
			name: "v2 no controllers", version: V2, dirs: map[string]string{"unified": statsFixture("v2", "nocontrollers")},
			want: measured(Counters{CPUUsage: 310422000, CPUUser: 301000000, CPUSystem: 9422000}, cpuTimes...),
		},
		{
			// Tabs, runs of blanks, blank lines, no final newline; no
			// "slab" key, so its two halves are added.
			name: "v2 odd whitespace", version: V2, dirs: map[string]string{"unified": statsFixture("v2", "oddspace")},
			want: measured(Counters{
				MemoryUsage: 4096, RSS: 1024, Cache: 2048, KernelUsage: 100 + 200 + 300 + 400 + 500, OOMKills: 7,
				CPUUsage: 3000, CPUUser: 2000, CPUSystem: 1000, PidsCurrent: 2,
			}, "memory_usage", "memory_limit", "rss", "cache", "kernel_usage", "oom_kills",
				"cpu_usage", "cpu_user", "cpu_system", "pids_current", "pids_limit"),
		},
		{
			// Swap accounting on: swap is memsw minus usage; total_* win
			// over the cgroup's own keys. cpu is on its own mount, without
			// the cpuacct files, and the task has no cpuacct cgroup: no
			// CPU times, only throttling.
			name: "v1 limited", version: V1, dirs: hierarchyDirs(t, "v1", "limited"),
			want: measured(Counters{
				MemoryUsage: 33554432, MemoryMaxUsage: 41943040, MemoryLimit: 67108864,
				RSS: 25165824, Cache: 6291456, Swap: 35651584 - 33554432,
				KernelUsage: 1572864, KernelMaxUsage: 1835008, OOMKills: 1,
				ThrottledPeriods: 42, ThrottledTime: 1234567890, PidsCurrent: 3, PidsLimit: 50,
			}, "memory_usage", "memory_max_usage", "memory_limit", "rss", "cache", "swap", "kernel_usage",
				"kernel_max_usage", "oom_kills", "throttled_periods", "throttled_time", "pids_current", "pids_limit"),
		},
		{
			// swapaccount=0: no memsw files, so swap is unknown, not 0;
			// the limit is the kernel's "unlimited" 9223372036854771712.
			name: "v1 memsw without swap accounting", version: V1, dirs: hierarchyDirs(t, "v1", "noswap"),
			want: measured(Counters{
				MemoryUsage: 8388608, MemoryMaxUsage: 9437184, RSS: 7340032, Cache: 1048576,
				KernelUsage: 262144, KernelMaxUsage: 327680,
			}, "memory_usage", "memory_max_usage", "memory_limit", "rss", "cache", "kernel_usage",
				"kernel_max_usage", "oom_kills"),
		},
		{
			// No kmem files, no oom_kill key (before Linux 4.13), no
			// total_* keys: rss and cache from the cgroup's own.
			name: "v1 minimal", version: V1, dirs: hierarchyDirs(t, "v1", "minimal"),
			want: measured(Counters{
				MemoryUsage: 5242880, MemoryMaxUsage: 6291456, MemoryLimit: 16777216, RSS: 3145728, Cache: 1048576,
			}, "memory_usage", "memory_max_usage", "memory_limit", "rss", "cache", "swap"),
		},
		{
			// cpu,cpuacct mounted together: the cpu directory serves the
			// CPU times too; cpuacct.stat is in USER_HZ ticks of 10 ms.
			name: "v1 cpu,cpuacct", version: V1, dirs: hierarchyDirs(t, "v1", "cpuacct"),
			want: measured(Counters{
				CPUUsage: 987654321, CPUUser: 70 * 10_000_000, CPUSystem: 25 * 10_000_000,
				ThrottledPeriods: 9, ThrottledTime: 88000000,
			}, "cpu_usage", "cpu_user", "cpu_system", "throttled_periods", "throttled_time"),
		},
		{
			// A hybrid task without limits: its unified cgroup only, so CPU
			// times and nothing else; the caller sums memory from /proc.
			name: "hybrid without limits", version: Hybrid, dirs: hierarchyDirs(t, "hybrid", "unlimited"),
			want: measured(Counters{CPUUsage: 310422000, CPUUser: 301000000, CPUSystem: 9422000}, cpuTimes...),
		},
		{
			// Memory, throttling and pids from v1; CPU times from the
			// unified cpu.stat (cpu has its own mount, no cpuacct).
			name: "hybrid with limits", version: Hybrid, dirs: hierarchyDirs(t, "hybrid", "limited"),
			want: measured(Counters{
				MemoryUsage: 16777216, MemoryMaxUsage: 20971520, MemoryLimit: 33554432,
				RSS: 12582912, Cache: 2097152, KernelUsage: 524288, KernelMaxUsage: 786432,
				CPUUsage: 520000000, CPUUser: 500000000, CPUSystem: 20000000,
				ThrottledPeriods: 5, ThrottledTime: 250000000, PidsCurrent: 2, PidsLimit: 20,
			}, "memory_usage", "memory_max_usage", "memory_limit", "rss", "cache", "swap", "kernel_usage",
				"kernel_max_usage", "oom_kills", "cpu_usage", "cpu_user", "cpu_system",
				"throttled_periods", "throttled_time", "pids_current", "pids_limit"),
		},
		{
			// A v1 cpuacct cgroup serves the CPU times in place of the
			// unified cpu.stat (which says 111 µs here).
			name: "hybrid with cpuacct", version: Hybrid, dirs: hierarchyDirs(t, "hybrid", "cpuacct"),
			want: measured(Counters{CPUUsage: 222000000, CPUUser: 200000000, CPUSystem: 20000000},
				"cpu_usage", "cpu_user", "cpu_system", "throttled_periods", "throttled_time"),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readCounters(tc.version, tc.dirs)
			if err != nil {
				t.Fatalf("readCounters: %v", err)
			}
			if !slices.IsSorted(got.Measured) {
				t.Errorf("Measured not sorted: %v", got.Measured)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n%+v\nwant\n%+v", *got, *tc.want)
			}
		})
	}
}

// TestCountersMeasuredNames: every field but Measured has its lower snake
// case name, and the name leads to that field.
func TestCountersMeasuredNames(t *testing.T) {
	var c Counters
	v := reflect.ValueOf(&c).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if f.Name == "Measured" {
			continue
		}
		name := snakeCase(f.Name)
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("field %s: no counter named %q: %v", f.Name, name, r)
				}
			}()
			if got := c.field(name); got != v.Field(i).Addr().Interface().(*uint64) {
				t.Errorf("counter %q is not field %s", name, f.Name)
			}
		}()
	}
	for _, tc := range [][2]string{{"RSS", "rss"}, {"OOMKills", "oom_kills"}, {"CPUUser", "cpu_user"}, {"MemoryMaxUsage", "memory_max_usage"}} {
		if got := snakeCase(tc[0]); got != tc[1] {
			t.Errorf("snakeCase(%s) = %s, want %s", tc[0], got, tc[1])
		}
	}
}

// snakeCase turns a Go field name into lower snake case, acronyms as one
// word: OOMKills -> oom_kills.
func snakeCase(s string) string {
	r := []rune(s)
	var b strings.Builder
	for i, c := range r {
		if i > 0 && unicode.IsUpper(c) && (unicode.IsLower(r[i-1]) || i+1 < len(r) && unicode.IsLower(r[i+1])) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

// TestCountersCorrupt: a file that exists but does not parse is an error
// naming it, never a guess or a silent omission.
func TestCountersCorrupt(t *testing.T) {
	for _, tc := range []struct {
		fixture, file, want string
	}{
		{"v2-memory-stat", "memory.stat", `anon "4096k" is not a count`},
		{"v2-memory-max", "memory.max", `"unlimited" is not a count`},
		{"v2-cpu-stat", "cpu.stat", `usage_usec "" is not a count`},
		{"v2-pids-current", "pids.current", `"" is not a count`},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			dir := statsFixture("corrupt", tc.fixture)
			_, err := readV2Counters(dir)
			wantErr(t, err, "parse "+filepath.Join(dir, tc.file)+": "+tc.want)
			if errors.Is(err, fs.ErrNotExist) {
				t.Errorf("error %q matches fs.ErrNotExist", err)
			}
		})
	}
	dirs := hierarchyDirs(t, "corrupt", "v1-memory-usage")
	_, err := readV1Counters(dirs)
	wantErr(t, err, "parse "+filepath.Join(dirs["memory"], "memory.usage_in_bytes")+`: "-1" is not a count`)
}

// TestCountersRemoved: a cgroup directory that is gone is an error
// matching fs.ErrNotExist, for every layout, also when no file of it would
// be read (a v1 freezer) or when only one of its hierarchies is gone.
func TestCountersRemoved(t *testing.T) {
	gone := filepath.Join(t.TempDir(), "gone")
	for name, tc := range map[string]struct {
		version int
		dirs    map[string]string
	}{
		"v2":                     {V2, map[string]string{"unified": gone}},
		"v1 freezer":             {V1, map[string]string{"freezer": gone}},
		"v1 memory":              {V1, map[string]string{"freezer": statsFixture("v1", "limited", "freezer"), "memory": gone}},
		"hybrid unified":         {Hybrid, map[string]string{"unified": gone}},
		"hybrid unified, memory": {Hybrid, map[string]string{"unified": gone, "memory": statsFixture("hybrid", "limited", "memory")}},
		"hybrid memory":          {Hybrid, map[string]string{"unified": statsFixture("hybrid", "limited", "unified"), "memory": gone}},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := readCounters(tc.version, tc.dirs)
			if !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("readCounters = %+v, %v; want an error matching fs.ErrNotExist", c, err)
			}
			wantErr(t, err, gone)
		})
	}
}

// TestCountersUnlimitedValue: the v1 "unlimited" limit is 0 whatever the
// page size, a real limit is kept.
func TestCountersUnlimitedValue(t *testing.T) {
	for value, want := range map[string]uint64{
		"9223372036854771712": 0,           // 4 KiB pages
		"9223372036854710272": 0,           // 64 KiB pages
		"9223372036854775807": 0,           // LONG_MAX (pids, older kernels)
		"max":                 0,           // v2, pids
		"68719476736":         68719476736, // 64 GiB
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "memory.limit_in_bytes"), []byte(value+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := readV1Counters(map[string]string{"memory": dir})
		if err != nil {
			t.Fatalf("%s: %v", value, err)
		}
		if !slices.Equal(c.Measured, []string{"memory_limit"}) || c.MemoryLimit != want {
			t.Errorf("limit %s: MemoryLimit = %d, Measured %v; want %d, [memory_limit]", value, c.MemoryLimit, c.Measured, want)
		}
	}
}

// spinScript waits for the release, then burns CPU in user mode without
// starting any other process.
const spinScript = `read x; while :; do :; done`

// startSpinner starts spinScript in m's cgroup (cloned into the unified
// cgroup, adopted by the v1 ones), releases it and waits until it has used
// cpu of CPU time by its own /proc/PID/stat, which the cgroup's counters
// must then show. It returns the spinner's pid.
func startSpinner(t *testing.T, m *Manager, cpu time.Duration) int {
	t.Helper()
	fd, ok := m.FD()
	if !ok {
		t.Fatal("FD() not ok")
	}
	cmd := exec.Command("sh", "-c", spinScript)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	c := startChild(t, cmd)
	pid := cmd.Process.Pid
	if err := m.Adopt(pid); err != nil {
		t.Fatalf("Adopt: %v", err)
	}
	c.release(t)
	// A shared machine may give the spinner little CPU: wait for the CPU
	// time, not for a wall-clock time.
	deadline := time.Now().Add(30 * time.Second)
	for procCPU(t, pid) < cpu {
		if time.Now().After(deadline) {
			t.Fatalf("spinner %d used only %s of CPU in 30s", pid, procCPU(t, pid))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return pid
}

// procCPU is the user plus system time of pid, from /proc/PID/stat (in
// USER_HZ ticks of 10 ms).
func procCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	s := readTrim(t, fmt.Sprintf("/proc/%d/stat", pid))
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	// After the command: state ppid pgrp session tty_nr tpgid flags
	// minflt cminflt majflt cmajflt utime stime.
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("/proc/%d/stat: %q", pid, s)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

func counters(t *testing.T, m *Manager) *Counters {
	t.Helper()
	c, err := m.Counters()
	if err != nil {
		t.Fatalf("Counters: %v", err)
	}
	t.Logf("counters: %+v", *c)
	return c
}

// assertMeasured fails unless each name is measured (want) or not.
func assertMeasured(t *testing.T, c *Counters, want bool, names ...string) {
	t.Helper()
	for _, n := range names {
		if c.has(n) != want {
			t.Errorf("%s measured: %v, want %v (Measured %v)", n, !want, want, c.Measured)
		}
	}
}

// assertMeasuredIffFile checks, for counters read from one file each, that
// a counter is measured exactly when its file exists on this host.
func assertMeasuredIffFile(t *testing.T, c *Counters, dir string, files map[string]string) {
	t.Helper()
	for n, file := range files {
		_, err := os.Stat(filepath.Join(dir, file))
		assertMeasured(t, c, err == nil, n)
	}
}

// TestCountersHybridNoLimits: a hybrid task without limits has CPU times
// from its unified cgroup and no memory, throttling or pids counter; once
// removed, reading is an error matching fs.ErrNotExist.
func TestCountersHybridNoLimits(t *testing.T) {
	requireCgroupV2(t, unifiedMount)
	m := newTestManager(t, Config{Version: Hybrid, Parent: testParent, ID: testID(t)})
	pid := startSpinner(t, m, 300*time.Millisecond)
	c := counters(t, m)
	if want := []string{"cpu_system", "cpu_usage", "cpu_user"}; !slices.Equal(c.Measured, want) {
		t.Errorf("Measured = %v, want %v", c.Measured, want)
	}
	if c.CPUUsage < uint64(100*time.Millisecond) {
		t.Errorf("CPUUsage = %s, want at least 100ms: the spinner alone used %s", time.Duration(c.CPUUsage), procCPU(t, pid))
	}
	if c.CPUUser == 0 {
		t.Errorf("CPUUser = 0 after a user-mode spin")
	}
	if err := m.KillAll(); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Counters(); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Counters after Delete: %v, want an error matching fs.ErrNotExist", err)
	}
}

// TestCountersHybridLimits: a hybrid task with a memory and a pids limit
// has its memory and pids counters from its v1 cgroups, the limits as set,
// and CPU times still; each v1 counter is measured exactly when its file
// exists on this host (memsw only with swap accounting).
func TestCountersHybridLimits(t *testing.T) {
	requireCgroupV2(t, unifiedMount)
	requireCgroupV1(t, "memory", "pids")
	const limit = 64 << 20
	m := newTestManager(t, Config{Version: Hybrid, Parent: testParent, ID: testID(t),
		Resources: Resources{MemoryBytes: limit, PidsLimit: 32}})
	startSpinner(t, m, 100*time.Millisecond)
	c := counters(t, m)
	assertMeasured(t, c, true, "memory_usage", "memory_limit", "rss", "cache",
		"pids_current", "pids_limit", "cpu_usage", "cpu_user", "cpu_system")
	// No cpu limit, so no cpu cgroup to be throttled in.
	assertMeasured(t, c, false, "throttled_periods", "throttled_time")
	mem := m.Paths()["memory"]
	assertMeasuredIffFile(t, c, mem, map[string]string{
		"memory_max_usage": "memory.max_usage_in_bytes",
		"swap":             "memory.memsw.usage_in_bytes",
		"kernel_usage":     "memory.kmem.usage_in_bytes",
		"kernel_max_usage": "memory.kmem.max_usage_in_bytes",
	})
	if c.MemoryLimit != limit {
		t.Errorf("MemoryLimit = %d, want %d", c.MemoryLimit, limit)
	}
	if c.MemoryUsage > limit {
		t.Errorf("MemoryUsage = %d, above the limit %d", c.MemoryUsage, limit)
	}
	if c.PidsLimit != 32 || c.PidsCurrent < 1 {
		t.Errorf("pids %d of %d, want at least 1 of 32", c.PidsCurrent, c.PidsLimit)
	}
	if c.has("oom_kills") && c.OOMKills != 0 {
		t.Errorf("OOMKills = %d, want 0", c.OOMKills)
	}
	if c.CPUUsage < uint64(50*time.Millisecond) || c.CPUUser == 0 {
		t.Errorf("CPUUsage %s, CPUUser %s: want at least 50ms and some", time.Duration(c.CPUUsage), time.Duration(c.CPUUser))
	}
}

// TestCountersHybridCPULimit: a task held to half a CPU is throttled, and
// the throttling counters come from its v1 cpu cgroup.
func TestCountersHybridCPULimit(t *testing.T) {
	requireCgroupV2(t, unifiedMount)
	requireCgroupV1(t, "cpu")
	// A twentieth of a CPU: 5ms of every 100ms period. A spinner given
	// half a CPU went unthrottled on a busy machine that never let it
	// run 50ms within one period; 5ms it gets in any period it runs in.
	m := newTestManager(t, Config{Version: Hybrid, Parent: testParent, ID: testID(t), Resources: Resources{CPUs: 0.05}})
	startSpinner(t, m, 20*time.Millisecond)
	c := counters(t, m)
	assertMeasured(t, c, true, "cpu_usage", "cpu_user", "cpu_system", "throttled_periods", "throttled_time")
	assertMeasured(t, c, false, "memory_usage", "pids_current")
	// It uses up its quota in a period it runs through; waited for, as
	// the machine decides when that is (the deadline only guards).
	for deadline := time.Now().Add(30 * time.Second); c.ThrottledPeriods == 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		c = counters(t, m)
	}
	if c.ThrottledPeriods == 0 || c.ThrottledTime == 0 {
		t.Errorf("throttled %d periods for %s, want some", c.ThrottledPeriods, time.Duration(c.ThrottledTime))
	}
}

// TestCountersSeeLaterLimits: a Manager made before another process (the
// CLI's update) gave the task a v1 pids cgroup reads the new cgroup too.
func TestCountersSeeLaterLimits(t *testing.T) {
	requireCgroupV2(t, unifiedMount)
	requireCgroupV1(t, "pids")
	cfg := Config{Version: Hybrid, Parent: testParent, ID: testID(t)}
	m := newTestManager(t, cfg)
	startSpinner(t, m, 0)
	assertMeasured(t, counters(t, m), false, "pids_current", "pids_limit")
	other, err := Load(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.Update(Resources{PidsLimit: 9}); err != nil {
		t.Fatalf("Update: %v", err)
	}
	c := counters(t, m)
	if !c.has("pids_limit") || c.PidsLimit != 9 || c.PidsCurrent < 1 {
		t.Errorf("pids %d of %d (Measured %v), want at least 1 of 9", c.PidsCurrent, c.PidsLimit, c.Measured)
	}
}

// TestCountersV2 reads a cgroup on the unified hierarchy as a V2 task:
// each counter is measured exactly when its file exists there (on a hybrid
// host the memory and pids controllers are on v1, so only cpu.stat).
func TestCountersV2(t *testing.T) {
	requireCgroupV2(t, unifiedMount)
	m := newTestManager(t, Config{Version: V2, V2Mount: unifiedMount, Parent: testParent, ID: testID(t)})
	startSpinner(t, m, 100*time.Millisecond)
	c := counters(t, m)
	assertMeasured(t, c, true, "cpu_usage", "cpu_user", "cpu_system")
	assertMeasured(t, c, false, "kernel_max_usage")
	assertMeasuredIffFile(t, c, m.Paths()["unified"], map[string]string{
		"memory_usage":     "memory.current",
		"memory_max_usage": "memory.peak",
		"memory_limit":     "memory.max",
		"swap":             "memory.swap.current",
		"pids_current":     "pids.current",
		"pids_limit":       "pids.max",
	})
	if c.CPUUsage < uint64(50*time.Millisecond) {
		t.Errorf("CPUUsage = %s, want at least 50ms", time.Duration(c.CPUUsage))
	}
}

// TestCountersV1: a v1 task with a memory limit has memory counters; it
// has no cpuacct cgroup (no cpu limit), so its CPU times are unknown, not 0.
func TestCountersV1(t *testing.T) {
	requireCgroupV1(t, "freezer", "memory")
	const limit = 32 << 20
	m := newTestManager(t, Config{Version: V1, Parent: testParent, ID: testID(t), Resources: Resources{MemoryBytes: limit}})
	c := counters(t, m)
	assertMeasured(t, c, true, "memory_usage", "memory_limit", "rss", "cache")
	assertMeasured(t, c, false, "cpu_usage", "cpu_user", "cpu_system", "pids_current", "throttled_periods")
	if c.MemoryLimit != limit {
		t.Errorf("MemoryLimit = %d, want %d", c.MemoryLimit, limit)
	}
}
