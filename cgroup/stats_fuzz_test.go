package cgroup

import (
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// counterModel is the v2 counter reading written out plainly, as a
// reference for readV2Counters.
type counterModel struct {
	c   Counters
	bad bool // some value a counter uses does not parse or overflows
}

func (m *counterModel) set(n string, v uint64) {
	*m.c.field(n) = v
	m.c.Measured = append(m.c.Measured, n)
}

// count parses a count times scale; a product past 2^64-1 is bad.
func (m *counterModel) count(s string, scale uint64) (uint64, bool) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		m.bad = true
		return 0, false
	}
	p := new(big.Int).Mul(new(big.Int).SetUint64(v), new(big.Int).SetUint64(scale))
	if !p.IsUint64() {
		m.bad = true
		return 0, false
	}
	return p.Uint64(), true
}

// keyedModel is a flat-keyed file as a map, the last line of a key
// winning, a line's value being its other words joined by one space.
func keyedModel(s string) map[string]string {
	kv := map[string]string{}
	for line := range strings.Lines(s) {
		if f := strings.Fields(line); len(f) > 0 {
			kv[f[0]] = strings.Join(f[1:], " ")
		}
	}
	return kv
}

func (m *counterModel) key(kv map[string]string, n string, scale uint64, k string) {
	if s, ok := kv[k]; ok {
		if v, ok := m.count(s, scale); ok {
			m.set(n, v)
		}
	}
}

// v2Model reads what readV2Counters reads from a directory holding
// memory.current, memory.max, memory.stat, memory.events, cpu.stat and
// pids.max (the same text as memory.max).
func v2Model(current, limit, memStat, events, cpuStat string) counterModel {
	var m counterModel
	if v, ok := m.count(strings.TrimSpace(current), 1); ok {
		m.set(nMemoryUsage, v)
	}
	for _, n := range []string{nMemoryLimit, nPidsLimit} {
		s := strings.TrimSpace(limit)
		if s == "max" {
			m.set(n, 0)
		} else if v, ok := m.count(s, 1); ok {
			if v >= unlimitedFrom {
				v = 0
			}
			m.set(n, v)
		}
	}
	stat := keyedModel(memStat)
	m.key(stat, nRSS, 1, "anon")
	m.key(stat, nCache, 1, "file")
	if _, ok := stat["kernel"]; ok {
		m.key(stat, nKernelUsage, 1, "kernel")
	} else {
		kinds := []string{"kernel_stack", "pagetables", "percpu", "vmalloc", "slab_reclaimable", "slab_unreclaimable"}
		if _, ok := stat["slab"]; ok {
			kinds = append(kinds[:4], "slab")
		}
		sum, any := new(big.Int), false
		for _, k := range kinds {
			if s, ok := stat[k]; ok {
				v, ok := m.count(s, 1)
				sum.Add(sum, new(big.Int).SetUint64(v))
				any = any || ok
			}
		}
		if !sum.IsUint64() {
			m.bad = true
		} else if any {
			m.set(nKernelUsage, sum.Uint64())
		}
	}
	m.key(keyedModel(events), nOOMKills, 1, "oom_kill")
	cpu := keyedModel(cpuStat)
	m.key(cpu, nCPUUsage, usec, "usage_usec")
	m.key(cpu, nCPUUser, usec, "user_usec")
	m.key(cpu, nCPUSystem, usec, "system_usec")
	m.key(cpu, nThrottledPeriods, 1, "nr_throttled")
	m.key(cpu, nThrottledTime, usec, "throttled_usec")
	finish(&m.c)
	return m
}

// writeFiles writes name -> content into dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// seedFile is the content of a file of testdata/stats, for seeds.
func seedFile(f *testing.F, elem ...string) string {
	b, err := os.ReadFile(statsFixture(elem...))
	if err != nil {
		f.Fatal(err)
	}
	return string(b)
}

// FuzzV2Counters feeds cgroup2 counter files to readV2Counters.
//
// Properties: it agrees with v2Model: every counter is its file's or
// key's value in the field's unit, a value that does not parse or does
// not fit in 64 bits after scaling (or summing) is an error, never a
// wrapped-around reading, and Measured is sorted, without duplicates, and
// names only what was read.
func FuzzV2Counters(f *testing.F) {
	dir := f.TempDir()
	full := func(name string) string { return seedFile(f, "v2", "full", name) }
	f.Add(full("memory.current"), full("memory.max"), full("memory.stat"), full("memory.events"), full("cpu.stat"))
	f.Add("0\n", "9223372036854771712\n", seedFile(f, "v2", "old", "memory.stat"), "oom_kill\t3\noom_kill 4", "usage_usec 18446744073709551\n")
	f.Add(" 1 ", "max", "anon  1\tfile 2 3\nslab 5\nkernel_stack 18446744073709551610", "oom_kill", "user_usec 18446744073709552")
	f.Fuzz(func(t *testing.T, current, limit, memStat, events, cpuStat string) {
		writeFiles(t, dir, map[string]string{
			"memory.current": current, "memory.max": limit, "pids.max": limit,
			"memory.stat": memStat, "memory.events": events, "cpu.stat": cpuStat,
		})
		got, err := readV2Counters(dir)
		want := v2Model(current, limit, memStat, events, cpuStat)
		if want.bad {
			if err == nil {
				t.Fatalf("readV2Counters accepts a bad value: %+v", got)
			}
			return
		}
		if err != nil {
			t.Fatalf("readV2Counters: %v; want %+v", err, want.c)
		}
		if !reflect.DeepEqual(*got, want.c) {
			t.Fatalf("readV2Counters:\n got %+v\nwant %+v", *got, want.c)
		}
	})
}

// FuzzV1Counters feeds cgroup v1 memory and cpuacct files to
// readV1Counters.
//
// Properties: Measured is sorted, without duplicates, and names only
// fields that exist; swap is memsw less usage, never below 0 nor wrapped;
// a limit is never the "unlimited" huge value; tick counts scale to whole
// ticks without overflow.
func FuzzV1Counters(f *testing.F) {
	root := f.TempDir()
	dirs := map[string]string{"memory": filepath.Join(root, "memory"), "cpuacct": filepath.Join(root, "cpuacct")}
	for _, d := range dirs {
		if err := os.Mkdir(d, 0o755); err != nil {
			f.Fatal(err)
		}
	}
	lim := func(name string) string { return seedFile(f, "v1", "limited", "memory", name) }
	f.Add(lim("memory.usage_in_bytes"), lim("memory.memsw.usage_in_bytes"), lim("memory.limit_in_bytes"), lim("memory.stat"), "user 5\nsystem 7\n")
	f.Add("100", "50", "9223372036854771712", "total_rss 1\nrss 2\ncache 3", "user 1844674407370")
	f.Add("18446744073709551615", "0", "9223372036853727232", "total_cache x", "user 1844674407371\nsystem")
	f.Fuzz(func(t *testing.T, usage, memsw, limit, memStat, cpuacctStat string) {
		writeFiles(t, dirs["memory"], map[string]string{
			"memory.usage_in_bytes": usage, "memory.memsw.usage_in_bytes": memsw,
			"memory.limit_in_bytes": limit, "memory.stat": memStat,
		})
		writeFiles(t, dirs["cpuacct"], map[string]string{"cpuacct.stat": cpuacctStat})
		c, err := readV1Counters(dirs)
		if err != nil {
			return
		}
		if !slices.IsSorted(c.Measured) || len(slices.Compact(slices.Clone(c.Measured))) != len(c.Measured) {
			t.Fatalf("Measured %q: not sorted or with duplicates", c.Measured)
		}
		for _, n := range c.Measured {
			c.field(n) // panics on a name that is no field
		}
		u, uerr := strconv.ParseUint(strings.TrimSpace(usage), 10, 64)
		s, serr := strconv.ParseUint(strings.TrimSpace(memsw), 10, 64)
		if c.has(nSwap) != (uerr == nil && serr == nil) {
			t.Fatalf("swap measured %v with usage %q and memsw %q", c.has(nSwap), usage, memsw)
		}
		if c.has(nSwap) && c.Swap != s-min(u, s) {
			t.Fatalf("swap %d from usage %d and memsw %d", c.Swap, u, s)
		}
		if c.MemoryLimit >= unlimitedFrom {
			t.Fatalf("limit %d: the unlimited value read as a limit", c.MemoryLimit)
		}
		if c.CPUUser%userHZTick != 0 || c.CPUSystem%userHZTick != 0 {
			t.Fatalf("cpu times %d, %d ns: not whole ticks (overflowed)", c.CPUUser, c.CPUSystem)
		}
	})
}

// FuzzReadKeyed feeds a flat-keyed file (cgroup.events, memory.events,
// memory.oom_control) and a key to readKeyed and readOOMKills.
//
// Properties: a value found is the rest of the first line whose first
// word is the key, trimmed; readOOMKills fails only on an oom_kill value
// that is not a count; on files shaped as the kernel writes them ("key
// value" lines, one space, each key once) readKeyed agrees with the
// statReader's own flat-keyed parser, which Counters uses.
func FuzzReadKeyed(f *testing.F) {
	file := filepath.Join(f.TempDir(), "memory.events")
	f.Add("populated 1\nfrozen 0\n", "frozen")
	f.Add("low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n", "oom_kill")
	f.Add("oom_kill_disable 0\nunder_oom 0\noom_kill 18446744073709551616\n", "oom_kill")
	f.Add("  oom_kill   7  \n", "oom_kill")
	f.Fuzz(func(t *testing.T, data, key string) {
		if err := os.WriteFile(file, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		v, found, err := readKeyed(file, key)
		if err != nil {
			t.Fatalf("readKeyed: %v", err)
		}
		var first *string
		for _, line := range strings.Split(data, "\n") {
			k, rest, ok := strings.Cut(strings.TrimSpace(line), " ")
			if ok && k == key {
				rest = strings.TrimSpace(rest)
				first = &rest
				break
			}
		}
		if found != (first != nil) || found && v != *first {
			t.Fatalf("readKeyed(%q, %q) = %q, %v", data, key, v, found)
		}
		kills, kerr := readOOMKills(file)
		kv, kfound, _ := readKeyed(file, "oom_kill")
		n, perr := strconv.ParseUint(kv, 10, 64)
		switch {
		case kerr != nil && (!kfound || perr == nil):
			t.Fatalf("readOOMKills(%q): %v", data, kerr)
		case kerr == nil && kfound && (perr != nil || kills != n):
			t.Fatalf("readOOMKills(%q) = %d, want %d or an error", data, kills, n)
		case kerr == nil && !kfound && kills != 0:
			t.Fatalf("readOOMKills(%q) = %d without an oom_kill line", data, kills)
		}
		if !kernelShaped(data) {
			return
		}
		r := &statReader{dir: filepath.Dir(file), c: &Counters{}}
		kvs := r.keyed(filepath.Base(file))
		if sv, ok := kvs[key]; ok != found || ok && sv != v {
			t.Fatalf("%q key %q: readKeyed %q, %v; statReader.keyed %q, %v", data, key, v, found, sv, ok)
		}
	})
}

// kernelShaped reports whether s is a flat-keyed file as the kernel
// prints one: "key value\n" lines, one space between two words, each key
// once.
func kernelShaped(s string) bool {
	seen := map[string]bool{}
	for line := range strings.Lines(s) {
		f := strings.Fields(line)
		if len(f) != 2 || line != f[0]+" "+f[1]+"\n" || seen[f[0]] {
			return false
		}
		seen[f[0]] = true
	}
	return true
}
