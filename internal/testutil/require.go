// Package testutil holds helpers for berth's privileged tests: skipping
// only when the host truly lacks something, and checking that a task left
// nothing behind (processes, cgroups, mounts, state).
package testutil

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"
)

// InCI reports whether the tests run in CI (CI=true), where privileged tests
// must run and may not skip for want of root.
func InCI() bool {
	return os.Getenv("CI") == "true"
}

// RequireRoot skips t with "needs root" when the effective uid is not 0.
// In CI, which runs as root, a non-root run is a broken setup and fails t
// instead of skipping silently.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if InCI() {
		t.Fatalf("needs root: running as euid %d in CI, which must run as root", os.Geteuid())
	}
	t.Skipf("needs root: running as euid %d", os.Geteuid())
}

// RequireCgroup skips t when no cgroup hierarchy on the host offers
// controller: a v1 hierarchy mounted with it, or a cgroup2 mount listing it
// in cgroup.controllers ("freezer" is a core feature of every cgroup2
// mount).
func RequireCgroup(t testing.TB, controller string) {
	t.Helper()
	ok, err := HasCgroup(controller)
	if err != nil {
		t.Fatalf("look up cgroup controller %q: %v", controller, err)
	}
	if !ok {
		t.Skipf("needs cgroup controller %q: no v1 hierarchy mounted with it and no cgroup2 mount lists it", controller)
	}
}

// HasCgroup reports whether some cgroup hierarchy mounted on the host offers
// controller, as RequireCgroup describes.
func HasCgroup(controller string) (bool, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		mnt, fs := strings.Fields(pre), strings.Fields(post)
		if len(mnt) < 5 || len(fs) < 3 {
			continue
		}
		switch fs[0] {
		case "cgroup":
			if slices.Contains(strings.Split(fs[2], ","), controller) {
				return true, nil
			}
		case "cgroup2":
			// Freezing is built into cgroup2 (cgroup.freeze, kernel 5.2),
			// not a controller listed in cgroup.controllers.
			if controller == "freezer" {
				return true, nil
			}
			b, err := os.ReadFile(mnt[4] + "/cgroup.controllers")
			if err != nil {
				continue
			}
			if slices.Contains(strings.Fields(string(b)), controller) {
				return true, nil
			}
		}
	}
	return false, sc.Err()
}
