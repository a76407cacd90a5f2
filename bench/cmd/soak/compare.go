package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Tolerances. Every count is compared exactly: the soak pauses the load
// and waits for the counts to settle before it reads them, and a full set
// of tasks of the same kinds holds the same fds, goroutines, cgroups,
// mounts and processes whichever tasks they are, so any difference is
// something that was not given back. Memory is noisier: the Go heap in use
// after a collection moves with what the allocator keeps in partly used
// spans, and VmRSS with the runtime's own metadata and the pages it has
// not yet returned; both are allowed 10 % or a floor, whichever is more
// (rssFloorKiB, heapFloorKiB). Over a ten-minute run of about ten thousand
// launches, the RSS floor still catches a leak of half a KiB a launch.
const (
	rssFloorKiB  = 4096
	heapFloorKiB = 1024
	memSlack     = 0.10
)

// compare prints one row per figure, from a to b, and reports whether none
// grew past its tolerance. With every task running, the zombies in the
// tasks are printed but not judged (infoOnly): how many a task holds
// depends on which execs went into it since it was launched, a matter of
// chance; with every task stopped they must be gone like the rest.
func compare(a, b *snapshot, cli bool) bool {
	ok := true
	const infoOnly = -1
	row := func(name string, from, to, allowed int) {
		verdict := "ok"
		switch {
		case allowed == infoOnly:
			verdict = "(not judged)"
		case to-from > allowed:
			verdict = "GREW"
			ok = false
		}
		shown := fmt.Sprint(allowed)
		if allowed == infoOnly {
			shown = "-"
		}
		fmt.Printf("  %-22s %9d %9d %+9d %9s  %s\n", name, from, to, to-from, shown, verdict)
	}
	mem := func(from, floor int) int { return max(floor, int(float64(from)*memSlack)) }
	fmt.Printf("  %-22s %9s %9s %9s %9s\n", "", "from", "to", "growth", "allowed")
	row("open fds", a.FDs, b.FDs, 0)
	row("goroutines", a.Goroutines, b.Goroutines, 0)
	row("RSS KiB", a.RSSKiB, b.RSSKiB, mem(a.RSSKiB, rssFloorKiB))
	row("  of which anon KiB", a.RSSAnonKiB, b.RSSAnonKiB, mem(a.RSSAnonKiB, rssFloorKiB))
	row("Go heap in use KiB", a.HeapKiB, b.HeapKiB, mem(a.HeapKiB, heapFloorKiB))
	names := slices.Sorted(maps.Keys(a.Cgroups))
	for _, n := range slices.Sorted(maps.Keys(b.Cgroups)) {
		if _, seen := a.Cgroups[n]; !seen {
			names = append(names, n)
		}
	}
	for _, n := range names {
		if a.Cgroups[n] > 0 || b.Cgroups[n] > 0 || n == "unified" {
			row("cgroups "+n, a.Cgroups[n], b.Cgroups[n], 0)
		}
	}
	row("mounts", a.Mounts, b.Mounts, 0)
	row("state dir entries", a.StateEntries, b.StateEntries, 0)
	row("procs in its cgroups", a.InCgroups, b.InCgroups, 0)
	zombiesAllowed := 0
	if a.Tasks > 0 {
		zombiesAllowed = infoOnly
	}
	row("zombies in its tasks", a.TaskZombies, b.TaskZombies, zombiesAllowed)
	row("children", a.Children, b.Children, 0)
	row("zombies", a.Zombies, b.Zombies, 0)
	if cli {
		row("supervisors", a.Supervisors, b.Supervisors, 0)
		row("supervisors' RSS KiB", a.SupervisorRSSKiB, b.SupervisorRSSKiB, mem(a.SupervisorRSSKiB, rssFloorKiB))
	}
	if !ok {
		kindDiff("fds by kind", a.FDKinds, b.FDKinds)
		kindDiff("processes in its cgroups by kind", a.ProcKinds, b.ProcKinds)
	}
	return ok
}

// kindDiff prints the kinds whose count changed.
func kindDiff(what string, a, b map[string]int) {
	var lines []string
	for _, k := range slices.Sorted(maps.Keys(b)) {
		if b[k] != a[k] {
			lines = append(lines, fmt.Sprintf("    %-40s %6d %6d %+6d", k, a[k], b[k], b[k]-a[k]))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(a)) {
		if _, ok := b[k]; !ok {
			lines = append(lines, fmt.Sprintf("    %-40s %6d %6d %+6d", k, a[k], 0, -a[k]))
		}
	}
	if len(lines) > 0 {
		fmt.Printf("  %s:\n%s\n", what, strings.Join(lines, "\n"))
	}
}
