package caps

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/berthrun/berth/internal/testutil"
	"golang.org/x/sys/unix"
)

// Apply changes the capabilities of the thread that calls it, so the root
// tests run it in a copy of the test binary (see TestMain), never in the
// test process itself. These variables tell the copy what to do.
const (
	envChild   = "BERTH_CAPS_TEST_CHILD"   // "apply" or "status"
	envNames   = "BERTH_CAPS_TEST_NAMES"   // comma-separated set for Apply
	envAmbient = "BERTH_CAPS_TEST_AMBIENT" // "1": Apply(names, granted, true)
	envGranted = "BERTH_CAPS_TEST_GRANTED" // granted set if set ("" = none); names otherwise
	envSets    = "BERTH_CAPS_TEST_SETS"    // "B|E|P|I|A", comma lists: ApplySets instead
	envUID     = "BERTH_CAPS_TEST_UID"     // switch the thread to this uid/gid first
	envKeep    = "BERTH_CAPS_TEST_KEEP"    // "1": PR_SET_KEEPCAPS before the uid switch
	envLimit   = "BERTH_CAPS_TEST_LIMIT"   // shrink permitted to these names first
	envExec    = "BERTH_CAPS_TEST_EXEC"    // "1": execve a status child after Apply
	envPreAmb  = "BERTH_CAPS_TEST_PRE_AMB" // raise these ambient bits first
)

func TestMain(m *testing.M) {
	switch os.Getenv(envChild) {
	case "apply":
		os.Exit(applyChild())
	case "status":
		os.Exit(printCaps("/proc/self/status"))
	}
	os.Exit(m.Run())
}

// applyChild plays the part of the re-exec'd child: on one locked thread it
// optionally becomes another user, calls Apply and prints that thread's
// capability sets (or, with envExec, execs a copy that prints its own).
func applyChild() int {
	// Never unlocked: the thread's credentials differ from the others'
	// and it must not run anything else.
	runtime.LockOSThread()

	if limit := os.Getenv(envLimit); limit != "" {
		m, err := Mask(strings.Split(limit, ","))
		if err != nil {
			return childFail("limit: %v", err)
		}
		if err := setSets(sets{effective: m, permitted: m}); err != nil {
			return childFail("limit: capset: %v", err)
		}
	}
	if pre := os.Getenv(envPreAmb); pre != "" {
		m, err := Mask(strings.Split(pre, ","))
		if err != nil {
			return childFail("pre ambient: %v", err)
		}
		cur, err := getSets()
		if err != nil {
			return childFail("pre ambient: capget: %v", err)
		}
		// An ambient bit can only be raised while it is inheritable.
		cur.inheritable |= m
		if err := setSets(cur); err != nil {
			return childFail("pre ambient: capset: %v", err)
		}
		for c := range 64 {
			if m&(1<<c) == 0 {
				continue
			}
			if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c), 0, 0); err != nil {
				return childFail("pre ambient: raise %d: %v", c, err)
			}
		}
	}
	if s := os.Getenv(envUID); s != "" {
		id, err := strconv.Atoi(s)
		if err != nil {
			return childFail("uid %q: %v", s, err)
		}
		if os.Getenv(envKeep) == "1" {
			if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
				return childFail("prctl keepcaps: %v", err)
			}
		}
		// Raw syscalls change this thread only, as the real child does;
		// the gid and groups go first while CAP_SETGID is still effective.
		if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, 0, 0, 0); e != 0 {
			return childFail("setgroups: %v", e)
		}
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(id), uintptr(id), uintptr(id)); e != 0 {
			return childFail("setresgid: %v", e)
		}
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(id), uintptr(id), uintptr(id)); e != 0 {
			return childFail("setresuid: %v", e)
		}
	}

	var names []string
	if s := os.Getenv(envNames); s != "" {
		names = strings.Split(s, ",")
	}
	granted := names
	if s, ok := os.LookupEnv(envGranted); ok {
		granted = nil
		if s != "" {
			granted = strings.Split(s, ",")
		}
	}
	apply := func() error { return Apply(names, granted, os.Getenv(envAmbient) == "1") }
	if v, ok := os.LookupEnv(envSets); ok {
		var sets [5][]string
		for i, part := range strings.SplitN(v, "|", 5) {
			if part != "" {
				sets[i] = strings.Split(part, ",")
			}
		}
		apply = func() error {
			return ApplySets(Sets{Bounding: sets[0], Effective: sets[1], Permitted: sets[2], Inheritable: sets[3], Ambient: sets[4]})
		}
	}
	if err := apply(); err != nil {
		fmt.Printf("error: %v\n", err)
		fmt.Printf("eperm: %v\n", errors.Is(err, unix.EPERM))
		return 0
	}

	if os.Getenv(envExec) == "1" {
		// The environment keeps its first entry of a name, so drop the
		// apply settings rather than append a new mode after them, or the
		// copy would apply and exec again, forever.
		env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
			return strings.HasPrefix(kv, "BERTH_CAPS_TEST_")
		})
		env = append(env, envChild+"=status")
		// execve from this thread: the new program starts with the
		// capabilities the kernel derives from this thread's sets.
		err := unix.Exec("/proc/self/exe", []string{os.Args[0]}, env)
		return childFail("exec: %v", err)
	}
	return printCaps("/proc/thread-self/status")
}

func childFail(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "child: "+format+"\n", args...)
	return 2
}

// printCaps copies the Cap* lines of a status file to stdout.
func printCaps(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return childFail("%v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "Cap") {
			fmt.Println(line)
		}
	}
	return 0
}

// childResult is what an apply child printed: its five sets, or Apply's
// error.
type childResult struct {
	caps  map[string]uint64 // "CapEff" -> mask
	err   string
	eperm bool
}

// runChild runs the test binary in apply mode with env and parses what it
// printed.
func runChild(t *testing.T, env ...string) childResult {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), append([]string{envChild + "=apply"}, env...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("child %q: %v\nstdout:\n%s\nstderr:\n%s", env, err, stdout.String(), stderr.String())
	}
	res := childResult{caps: make(map[string]uint64)}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		switch {
		case key == "error":
			res.err = val
		case key == "eperm":
			res.eperm = val == "true"
		case strings.HasPrefix(key, "Cap"):
			m, err := strconv.ParseUint(val, 16, 64)
			if err != nil {
				t.Fatalf("child printed %q: %v", sc.Text(), err)
			}
			res.caps[key] = m
		}
	}
	if res.err == "" && len(res.caps) != 5 {
		t.Fatalf("child %q printed no capability sets:\n%s\nstderr:\n%s", env, stdout.String(), stderr.String())
	}
	return res
}

const (
	defaultMask = 0xa80405fb
	netRaw      = 1 << 13
	netBind     = 1 << 10
)

func TestApply(t *testing.T) {
	// Apply is tested in a child that drops capabilities and switches uid.
	testutil.RequireRoot(t)
	defaults := "BERTH_CAPS_TEST_NAMES=" + strings.Join(Default, ",")

	for _, tc := range []struct {
		name string
		env  []string
		want map[string]uint64
	}{
		{
			name: "root default",
			env:  []string{defaults},
			want: map[string]uint64{"CapEff": defaultMask, "CapPrm": defaultMask, "CapInh": defaultMask, "CapBnd": defaultMask, "CapAmb": 0},
		},
		{
			// After execve root gets inheritable | bounding in permitted
			// and effective.
			name: "root default after exec",
			env:  []string{defaults, envExec + "=1"},
			want: map[string]uint64{"CapEff": defaultMask, "CapPrm": defaultMask, "CapInh": defaultMask, "CapBnd": defaultMask, "CapAmb": 0},
		},
		{
			// Compute([NET_RAW], [ALL]) is the set Apply gets.
			name: "root all dropped net_raw added",
			env:  []string{envNames + "=CAP_NET_RAW"},
			want: map[string]uint64{"CapEff": netRaw, "CapPrm": netRaw, "CapInh": netRaw, "CapBnd": netRaw, "CapAmb": 0},
		},
		{
			name: "root all dropped net_raw added after exec",
			env:  []string{envNames + "=CAP_NET_RAW", envExec + "=1"},
			want: map[string]uint64{"CapEff": netRaw, "CapPrm": netRaw, "CapInh": netRaw, "CapBnd": netRaw, "CapAmb": 0},
		},
		{
			name: "root empty set",
			env:  nil,
			want: map[string]uint64{"CapEff": 0, "CapPrm": 0, "CapInh": 0, "CapBnd": 0, "CapAmb": 0},
		},
		{
			// Ambient must be cleared when not asked for, even for root.
			name: "root ambient off",
			env:  []string{defaults, envAmbient + "=0"},
			want: map[string]uint64{"CapEff": defaultMask, "CapPrm": defaultMask, "CapInh": defaultMask, "CapBnd": defaultMask, "CapAmb": 0},
		},
		{
			// Ambient bits raised earlier and still permitted and
			// inheritable survive the capset: Apply must clear them.
			name: "root stale ambient cleared",
			env:  []string{defaults, envPreAmb + "=CAP_CHOWN,CAP_KILL,CAP_NET_RAW"},
			want: map[string]uint64{"CapEff": defaultMask, "CapPrm": defaultMask, "CapInh": defaultMask, "CapBnd": defaultMask, "CapAmb": 0},
		},
		{
			// Only the asked bits stay ambient: CAP_NET_RAW is outside
			// the set.
			name: "root ambient exactly names",
			env:  []string{defaults, envAmbient + "=1", envPreAmb + "=CAP_NET_RAW"},
			want: map[string]uint64{"CapEff": defaultMask, "CapPrm": defaultMask, "CapInh": defaultMask, "CapBnd": defaultMask, "CapAmb": defaultMask},
		},
		{
			// The uid switch with KEEPCAPS clears effective; Apply must
			// raise it from permitted to drop the bounding set.
			name: "uid 1000 default",
			env:  []string{defaults, envAmbient + "=1", envUID + "=1000", envKeep + "=1"},
			want: map[string]uint64{"CapEff": defaultMask, "CapPrm": defaultMask, "CapInh": defaultMask, "CapBnd": defaultMask, "CapAmb": defaultMask},
		},
		{
			// A non-root program without file capabilities gets its
			// permitted and effective sets from the ambient set.
			name: "uid 1000 default after exec",
			env:  []string{defaults, envAmbient + "=1", envUID + "=1000", envKeep + "=1", envExec + "=1"},
			want: map[string]uint64{"CapEff": defaultMask, "CapPrm": defaultMask, "CapInh": defaultMask, "CapBnd": defaultMask, "CapAmb": defaultMask},
		},
		{
			// Without ambient a non-root user loses everything at execve
			// but the inheritable and bounding sets: the reason berth asks
			// for ambient for non-root users.
			name: "uid 1000 no ambient after exec",
			env:  []string{defaults, envUID + "=1000", envKeep + "=1", envExec + "=1"},
			want: map[string]uint64{"CapEff": 0, "CapPrm": 0, "CapInh": defaultMask, "CapBnd": defaultMask, "CapAmb": 0},
		},
		{
			name: "root five sets",
			env:  []string{envSets + "=CAP_CHOWN,CAP_KILL,CAP_NET_BIND_SERVICE|CAP_KILL|CAP_KILL,CAP_NET_BIND_SERVICE|CAP_KILL|CAP_KILL"},
			want: map[string]uint64{"CapEff": 1 << 5, "CapPrm": 1<<5 | netBind, "CapInh": 1 << 5, "CapBnd": 1<<0 | 1<<5 | netBind, "CapAmb": 1 << 5},
		},
		{
			// OCI's five sets, each its own: effective within permitted,
			// no inheritable (containerd's default), no ambient.
			name: "root five sets after exec",
			env:  []string{envSets + "=CAP_CHOWN,CAP_KILL,CAP_NET_BIND_SERVICE|CAP_KILL|CAP_KILL,CAP_NET_BIND_SERVICE||", envExec + "=1"},
			// After execve root's permitted and effective are bounding |
			// inheritable ... limited by the bounding set: the kernel
			// gives root the whole bounding set again.
			want: map[string]uint64{"CapEff": 1<<0 | 1<<5 | netBind, "CapPrm": 1<<0 | 1<<5 | netBind, "CapInh": 0, "CapBnd": 1<<0 | 1<<5 | netBind, "CapAmb": 0},
		},
		{
			name: "uid 1000 five sets after exec",
			env: []string{envSets + "=CAP_CHOWN,CAP_KILL,CAP_NET_BIND_SERVICE|CAP_KILL,CAP_NET_BIND_SERVICE|CAP_KILL,CAP_NET_BIND_SERVICE|CAP_NET_BIND_SERVICE|CAP_NET_BIND_SERVICE",
				envUID + "=1000", envKeep + "=1", envExec + "=1"},
			want: map[string]uint64{"CapEff": netBind, "CapPrm": netBind, "CapInh": netBind, "CapBnd": 1<<0 | 1<<5 | netBind, "CapAmb": netBind},
		},
		{
			// What berth does for a non-root task: nothing granted, the
			// default set still bounds it.
			name: "uid 1000 granted none after exec",
			env:  []string{defaults, envGranted + "=", envAmbient + "=1", envUID + "=1000", envKeep + "=1", envExec + "=1"},
			want: map[string]uint64{"CapEff": 0, "CapPrm": 0, "CapInh": 0, "CapBnd": defaultMask, "CapAmb": 0},
		},
		{
			// ... and what --cap-add names, it holds.
			name: "uid 1000 granted net_bind_service after exec",
			env:  []string{defaults, envGranted + "=CAP_NET_BIND_SERVICE", envAmbient + "=1", envUID + "=1000", envKeep + "=1", envExec + "=1"},
			want: map[string]uint64{"CapEff": netBind, "CapPrm": netBind, "CapInh": netBind, "CapBnd": defaultMask, "CapAmb": netBind},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := runChild(t, tc.env...)
			if got.err != "" {
				t.Fatalf("Apply: %s", got.err)
			}
			for _, k := range []string{"CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"} {
				if got.caps[k] != tc.want[k] {
					t.Errorf("%s = %#016x (%v), want %#016x (%v)", k, got.caps[k], Names(got.caps[k]), tc.want[k], Names(tc.want[k]))
				}
			}
		})
	}
}

func TestApplyErrors(t *testing.T) {
	testutil.RequireRoot(t)
	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{
			// Permitted still holds CHOWN, but without CAP_SETPCAP the
			// bounding set cannot shrink.
			name: "bounding without setpcap",
			env:  []string{envLimit + "=CAP_CHOWN", envNames + "=CAP_CHOWN"},
			want: "capabilities: bounding: operation not permitted",
		},
		{
			// Without KEEPCAPS the switch away from uid 0 empties
			// permitted, and nothing can raise it again.
			name: "uid 1000 without keepcaps",
			env:  []string{envNames + "=CAP_KILL,CAP_CHOWN", envAmbient + "=1", envUID + "=1000"},
			want: "capabilities: permitted: CAP_CHOWN, CAP_KILL not held: operation not permitted",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := runChild(t, tc.env...)
			if got.err != tc.want {
				t.Fatalf("Apply error = %q, want %q", got.err, tc.want)
			}
			if !got.eperm {
				t.Errorf("errors.Is(%q, unix.EPERM) = false", got.err)
			}
		})
	}
}

// Bad names are refused before any set is touched, so this runs in the
// test process and without root.
func TestApplyBadNames(t *testing.T) {
	for _, tc := range []struct {
		names []string
		want  string
	}{
		{[]string{"CAP_CHOWN", "FOO"}, `capabilities: unknown capability "FOO"`},
		{[]string{"ALL"}, `capabilities: capability "ALL" is not a single capability: resolve it with Compute`},
	} {
		err := Apply(tc.names, tc.names, false)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Apply(%q) = %v, want %s", tc.names, err, tc.want)
		}
	}
	err := Apply([]string{"CAP_KILL"}, []string{"CAP_KILL", "CAP_SYS_ADMIN"}, true)
	if want := "capabilities: permitted: CAP_SYS_ADMIN: not in the bounding set: invalid argument"; err == nil || err.Error() != want {
		t.Errorf("Apply(granted beyond bounding) = %v, want %s", err, want)
	}
}
