// Package testutil holds helpers for berth's privileged tests: requiring
// what they need, and checking that a task left nothing behind
// (processes, cgroups, mounts, state).
//
// The rule for a privileged test: when it cannot run it fails, naming what
// is missing; it skips only when the host lacks the thing it tests, naming
// that. A test that quietly skips looks like a pass, and a suite that
// skipped everything is green while testing nothing. So:
//
//   - not running as root is a setup to fix (run the tests as root, as CI
//     does): RequireRoot fails;
//   - a cgroup controller that no hierarchy mounted on the host offers is
//     something the host lacks: RequireCgroup skips, naming the controller;
//   - but no cgroup filesystem mounted at all, or the controller's
//     hierarchies all mounted read-only (a container without a writable
//     /sys/fs/cgroup), is a broken setup, not a host without the
//     controller: RequireCgroup fails.
package testutil

import (
	"bufio"
	"github.com/berthrun/berth/proc"
	"os"
	"slices"
	"strings"
	"testing"
)

// RequireRoot fails t, naming the effective uid, unless it runs as root.
// It never skips: a privileged test that cannot run is a broken setup,
// not a pass (see the package doc).
func RequireRoot(t testing.TB) {
	t.Helper()
	if euid := os.Geteuid(); euid != 0 {
		t.Fatalf("needs root: running as euid %d; run the privileged tests as root", euid)
	}
}

// RequireCgroup requires root (creating cgroups needs it) and a writable
// cgroup hierarchy offering controller: a v1 hierarchy mounted with it, or
// a cgroup2 mount listing it in cgroup.controllers ("freezer" is a core
// feature of every cgroup2 mount). It skips t, naming the controller, only
// when the host lacks it: some cgroup filesystem is mounted but none
// offers the controller. No cgroup filesystem at all, or only read-only
// ones offering it, fails t (see the package doc).
func RequireCgroup(t testing.TB, controller string) {
	t.Helper()
	RequireRoot(t)
	found, anyCgroup, err := findCgroup(controller)
	if err != nil {
		t.Fatalf("look up cgroup controller %q: %v", controller, err)
	}
	if !anyCgroup {
		t.Fatalf("needs cgroup controller %q: no cgroup filesystem is mounted at all (berth needs one for every task); mount the host's cgroups", controller)
	}
	if len(found) == 0 {
		t.Skipf("needs cgroup controller %q, which this host lacks: no v1 hierarchy mounted with it and no cgroup2 mount lists it", controller)
	}
	var readOnly []string
	for _, m := range found {
		if !m.readOnly {
			return
		}
		readOnly = append(readOnly, m.path)
	}
	t.Fatalf("needs cgroup controller %q writable: mounted read-only at %s", controller, strings.Join(readOnly, ", "))
}

// HasCgroup reports whether some cgroup hierarchy mounted on the host offers
// controller, as RequireCgroup describes.
func HasCgroup(controller string) (bool, error) {
	found, _, err := findCgroup(controller)
	return len(found) > 0, err
}

// cgroupMount is a cgroup hierarchy's mount that offers a controller.
type cgroupMount struct {
	path     string
	readOnly bool
}

// findCgroup returns the mounts of the cgroup hierarchies that offer
// controller, and whether any cgroup filesystem is mounted at all.
func findCgroup(controller string) (found []cgroupMount, anyCgroup bool, err error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		mnt, fs := strings.Fields(pre), strings.Fields(post)
		if len(mnt) < 6 || len(fs) < 3 {
			continue
		}
		m := cgroupMount{path: proc.UnescapeMountinfo(mnt[4]), readOnly: slices.Contains(strings.Split(mnt[5], ","), "ro")}
		switch fs[0] {
		case "cgroup":
			anyCgroup = true
			if slices.Contains(strings.Split(fs[2], ","), controller) {
				found = append(found, m)
			}
		case "cgroup2":
			anyCgroup = true
			// Freezing is built into cgroup2 (cgroup.freeze, kernel 5.2),
			// not a controller listed in cgroup.controllers.
			if controller == "freezer" {
				found = append(found, m)
				continue
			}
			b, err := os.ReadFile(m.path + "/cgroup.controllers")
			if err != nil {
				continue
			}
			if slices.Contains(strings.Fields(string(b)), controller) {
				found = append(found, m)
			}
		}
	}
	return found, anyCgroup, sc.Err()
}
