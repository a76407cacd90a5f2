package cgroup

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// formatCPUList prints a cpu set as the kernel prints cpuset.cpus: sorted,
// runs as ranges.
func formatCPUList(set map[int]bool) string {
	cpus := slices.Sorted(maps.Keys(set))
	var items []string
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		item := strconv.Itoa(cpus[i])
		if j > i {
			item += "-" + strconv.Itoa(cpus[j])
		}
		items = append(items, item)
		i = j + 1
	}
	return strings.Join(items, ",")
}

// FuzzCPUList feeds --cpuset values (and the parent's cpuset.cpus) to
// parseCPUList and Validate.
//
// Properties: Validate refuses exactly what parseCPUList refuses; a parsed
// set is not empty and holds only cpus 0..maxCPU, each one the list names;
// printed the kernel's way it parses back to the same set.
func FuzzCPUList(f *testing.F) {
	f.Add("0-3,5")
	f.Add(" 1 ")
	f.Add("0-8191")
	f.Add("3-1")
	f.Add("0,,1")
	f.Add("-1")
	f.Add("99999999999999999999")
	f.Fuzz(func(t *testing.T, s string) {
		set, err := parseCPUList(s)
		if s != "" {
			if verr := (Resources{Cpuset: s}).Validate(); (verr == nil) != (err == nil) {
				t.Fatalf("parseCPUList(%q): %v, but Validate: %v", s, err, verr)
			}
		}
		if err != nil {
			return
		}
		if len(set) == 0 {
			t.Fatalf("parseCPUList(%q): an empty set", s)
		}
		for c := range set {
			if c < 0 || c > maxCPU {
				t.Fatalf("parseCPUList(%q): cpu %d out of 0..%d", s, c, maxCPU)
			}
		}
		// Each cpu lies in one of the items the list names.
		for c := range set {
			named := false
			for _, item := range strings.Split(strings.TrimSpace(s), ",") {
				lo, hi, isRange := strings.Cut(item, "-")
				a, _ := strconv.Atoi(lo)
				b := a
				if isRange {
					b, _ = strconv.Atoi(hi)
				}
				named = named || a <= c && c <= b
			}
			if !named {
				t.Fatalf("parseCPUList(%q) holds cpu %d, which it does not name", s, c)
			}
		}
		list := formatCPUList(set)
		again, err := parseCPUList(list)
		if err != nil || !maps.Equal(again, set) {
			t.Fatalf("parseCPUList(%q) -> %q -> %v, %v", s, list, slices.Sorted(maps.Keys(again)), err)
		}
	})
}
