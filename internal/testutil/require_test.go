package testutil

import (
	"os"
	"strings"
	"testing"
)

func TestRequireRoot(t *testing.T) {
	ft := outcome(t, RequireRoot)
	if os.Geteuid() == 0 {
		if ft.ended != "" {
			t.Errorf("RequireRoot as root ended the test (%s): %q", ft.ended, ft.msgs)
		}
		return
	}
	if ft.ended != "fatal" || len(ft.msgs) != 1 || !strings.Contains(ft.msgs[0], "needs root") {
		t.Errorf("RequireRoot as euid %d: ended %q with %q, want it to fail naming root", os.Geteuid(), ft.ended, ft.msgs)
	}
}

// TestRequireCgroup: a controller no hierarchy offers is skipped, naming
// it; one the host has lets the test go on; without root it fails.
func TestRequireCgroup(t *testing.T) {
	lacking := outcome(t, func(tb testing.TB) { RequireCgroup(tb, "no-such-controller") })
	if os.Geteuid() != 0 {
		if lacking.ended != "fatal" || len(lacking.msgs) != 1 || !strings.Contains(lacking.msgs[0], "needs root") {
			t.Errorf("RequireCgroup as euid %d: ended %q with %q, want it to fail naming root", os.Geteuid(), lacking.ended, lacking.msgs)
		}
		return
	}
	_, anyCgroup, err := findCgroup("no-such-controller")
	if err != nil {
		t.Fatal(err)
	}
	want := "skip"
	if !anyCgroup {
		// No cgroup filesystem at all is a broken setup, not a host
		// lacking one controller.
		want = "fatal"
	}
	if lacking.ended != want || len(lacking.msgs) != 1 || !strings.Contains(lacking.msgs[0], `"no-such-controller"`) {
		t.Errorf(`RequireCgroup("no-such-controller"): ended %q with %q, want %s naming the controller`, lacking.ended, lacking.msgs, want)
	}

	// Where the host has the controller, the test goes on.
	ok, err := HasCgroup("freezer")
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Skip(`needs cgroup controller "freezer" for the positive case, which this host lacks`)
	}
	if ft := outcome(t, func(tb testing.TB) { RequireCgroup(tb, "freezer") }); ft.ended != "" {
		t.Errorf(`RequireCgroup("freezer") ended the test (%s): %q`, ft.ended, ft.msgs)
	}
}
