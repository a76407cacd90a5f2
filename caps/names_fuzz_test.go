package caps

import (
	"slices"
	"strings"
	"testing"
)

// FuzzNormalize feeds --cap-add and --cap-drop names to Normalize, Mask
// and Names.
//
// Properties: an accepted name is ALL or a capability the library knows,
// and Normalize keeps it; the input is ASCII and is that name up to ASCII
// case, blanks and the CAP_ prefix, so a name that reads as one
// capability never grants another; its mask has exactly its one bit,
// which Names maps back to it.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"NET_RAW", "cap_net_raw", " CAP_SYS_ADMIN ", "all", "CAP_ALL", "cap_", "CAP_CAP_KILL", "kill\n", "BPF"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		n, err := Normalize(name)
		if err != nil {
			return
		}
		if again, err := Normalize(n); err != nil || again != n {
			t.Fatalf("Normalize(%q) = %q, but Normalize(%q) = %q, %v", name, n, n, again, err)
		}
		for i := 0; i < len(name); i++ {
			if name[i] >= 0x80 {
				t.Fatalf("Normalize(%q) = %q: a name spelled with non-ASCII characters", name, n)
			}
		}
		bare := strings.ToUpper(strings.Trim(name, " \t\n\v\f\r"))
		if bare != n && "CAP_"+bare != n {
			t.Fatalf("Normalize(%q) = %q", name, n)
		}
		if n == All {
			if _, err := Mask([]string{name}); err == nil {
				t.Fatalf("Mask(%q) accepts ALL", name)
			}
			return
		}
		c, ok := known[n]
		if !ok {
			t.Fatalf("Normalize(%q) = %q, which is no known capability", name, n)
		}
		m, err := Mask([]string{name})
		if err != nil || m != 1<<uint(c) {
			t.Fatalf("Mask(%q) = %#x, %v; want bit %d", name, m, err, c)
		}
		if got := Names(m); !slices.Equal(got, []string{n}) {
			t.Fatalf("Names(%#x) = %q, want [%s]", m, got, n)
		}
	})
}

// FuzzCompute feeds comma-separated cap_add and cap_drop lists to Compute.
//
// Properties: the set is sorted, without duplicates, of known names; a
// name dropped (without ALL in cap_drop) is never in it, a name added is
// always in it; with ALL dropped it is exactly what was added.
func FuzzCompute(f *testing.F) {
	f.Add("NET_RAW,SYS_ADMIN", "KILL")
	f.Add("ALL", "SYS_ADMIN,net_raw")
	f.Add("chown,ALL", "all")
	f.Add("", "ALL")
	f.Add("KILL", "kill")
	f.Fuzz(func(t *testing.T, add, drop string) {
		split := func(s string) []string {
			if s == "" {
				return nil
			}
			return strings.Split(s, ",")
		}
		set, err := Compute(split(add), split(drop))
		if err != nil {
			return
		}
		if !slices.IsSorted(set) || len(slices.Compact(slices.Clone(set))) != len(set) {
			t.Fatalf("Compute(%q, %q) = %q: not sorted or with duplicates", add, drop, set)
		}
		for _, n := range set {
			if _, ok := known[n]; !ok {
				t.Fatalf("Compute(%q, %q) holds %q", add, drop, n)
			}
		}
		addSet, _, _ := parseField("cap_add", split(add))
		dropSet, dropAll, _ := parseField("cap_drop", split(drop))
		for n := range addSet {
			if !slices.Contains(set, n) && (dropAll || !dropSet[n]) {
				t.Fatalf("Compute(%q, %q) = %q: added %s is missing", add, drop, set, n)
			}
		}
		for _, n := range set {
			if dropAll && !addSet[n] {
				t.Fatalf("Compute(%q, %q) = %q: %s was neither kept nor added", add, drop, set, n)
			}
			if !dropAll && dropSet[n] {
				t.Fatalf("Compute(%q, %q) = %q: dropped %s is in it", add, drop, set, n)
			}
		}
	})
}
