package caps

import (
	"fmt"
	"slices"

	"github.com/moby/sys/capability"
	"golang.org/x/sys/unix"
)

// Compute returns a task's capability set, sorted "CAP_X" names without
// duplicates, from Default adjusted by add and drop the way docker does it:
//
//   - drop contains ALL: start from nothing, then add;
//   - add contains ALL: start from every capability the running kernel
//     supports, then drop;
//   - otherwise Default plus add minus drop (a name in both add and drop
//     is dropped).
//
// With ALL in both add and drop the result is exactly the other entries of
// add. Errors name the field: `cap_add: unknown capability "FOO"`.
func Compute(add, drop []string) ([]string, error) {
	addSet, addAll, err := parseField("cap_add", add)
	if err != nil {
		return nil, err
	}
	dropSet, dropAll, err := parseField("cap_drop", drop)
	if err != nil {
		return nil, err
	}

	set := make(map[string]bool)
	switch {
	case dropAll:
		// Nothing survives a drop of ALL, so add is the whole set; an ALL
		// in add too cannot widen it again.
	case addAll:
		// Only what the running kernel supports and this process's
		// bounding set still holds: the init stage inherits that bounding
		// set and can never raise a capability outside it (a host or an
		// outer container may have dropped some).
		supported, err := capability.ListSupported()
		if err != nil {
			return nil, fmt.Errorf("cap_add: %w", err)
		}
		for _, c := range supported {
			if inBounding(c) {
				set[capName(c)] = true
			}
		}
	default:
		for _, n := range Default {
			set[n] = true
		}
	}
	for n := range addSet {
		set[n] = true
	}
	if !dropAll {
		for n := range dropSet {
			delete(set, n)
		}
	}

	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}

// inBounding reports whether c is in the calling thread's bounding set.
func inBounding(c capability.Cap) bool {
	r, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0)
	return err == nil && r == 1
}

// parseField normalizes the names of one field (cap_add or cap_drop) and
// reports whether ALL was among them; ALL is not in the returned set.
func parseField(field string, names []string) (map[string]bool, bool, error) {
	set := make(map[string]bool, len(names))
	all := false
	for _, name := range names {
		n, err := Normalize(name)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", field, err)
		}
		if n == All {
			all = true
			continue
		}
		set[n] = true
	}
	return set, all, nil
}

// Mask returns the set of names as the kernel's 64-bit capability bitmask,
// bit N for capability N, as printed in the Cap* lines of /proc/PID/status.
// Names may be in any form Normalize accepts; ALL is refused because its
// meaning depends on cap_add/cap_drop (see Compute).
func Mask(names []string) (uint64, error) {
	var m uint64
	for _, name := range names {
		c, err := lookup(name)
		if err != nil {
			return 0, err
		}
		m |= 1 << uint(c)
	}
	return m, nil
}

// Names returns the sorted "CAP_X" names of the capabilities in mask that
// the capability library knows; unknown bits are left out.
func Names(mask uint64) []string {
	var out []string
	for _, c := range capability.ListKnown() {
		if mask&(1<<uint(c)) != 0 {
			out = append(out, capName(c))
		}
	}
	slices.Sort(out)
	return out
}
