package caps

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/sys/capability"
)

// supported returns the sorted names of every capability the running kernel
// supports, minus drop.
func supported(t *testing.T, drop ...string) []string {
	t.Helper()
	list, err := capability.ListSupported()
	if err != nil {
		t.Fatalf("list supported capabilities: %v", err)
	}
	bnd := ownBounding(t)
	var out []string
	for _, c := range list {
		if bnd&(1<<uint(c)) == 0 {
			continue
		}
		if n := capName(c); !slices.Contains(drop, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// ownBounding reads this process's bounding set from /proc/self/status: ALL
// can only mean what the init stage could still hold.
func ownBounding(t *testing.T) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
	}
	t.Fatal("no CapBnd in /proc/self/status")
	return 0
}

func TestCompute(t *testing.T) {
	withDefault := func(extra ...string) []string {
		out := append(slices.Clone(Default), extra...)
		slices.Sort(out)
		return out
	}
	without := func(drop ...string) []string {
		return slices.DeleteFunc(slices.Clone(Default), func(n string) bool {
			return slices.Contains(drop, n)
		})
	}
	for _, tc := range []struct {
		name      string
		add, drop []string
		want      []string
	}{
		{"default", nil, nil, Default},
		{"empty slices", []string{}, []string{}, Default},
		{"add", []string{"NET_RAW"}, nil, withDefault("CAP_NET_RAW")},
		{"add present", []string{"chown"}, nil, Default},
		{"add duplicates", []string{"net_raw", "CAP_NET_RAW", " NET_RAW "}, nil, withDefault("CAP_NET_RAW")},
		{"drop", nil, []string{"chown", "CAP_KILL"}, without("CAP_CHOWN", "CAP_KILL")},
		{"drop absent", nil, []string{"SYS_ADMIN"}, Default},
		{"drop duplicates", nil, []string{"mknod", "MKNOD"}, without("CAP_MKNOD")},
		{"add and drop", []string{"NET_RAW", "sys_ptrace"}, []string{"SETFCAP"},
			func() []string {
				out := append(without("CAP_SETFCAP"), "CAP_NET_RAW", "CAP_SYS_PTRACE")
				slices.Sort(out)
				return out
			}()},
		{"same in add and drop", []string{"NET_RAW"}, []string{"net_raw"}, Default},
		{"drop all", nil, []string{"ALL"}, []string{}},
		{"drop all add", []string{"net_raw", "CHOWN", "chown"}, []string{"all"}, []string{"CAP_CHOWN", "CAP_NET_RAW"}},
		{"drop all and more", []string{"KILL"}, []string{"SETUID", "ALL"}, []string{"CAP_KILL"}},
		{"add all", []string{"ALL"}, nil, supported(t)},
		{"add all drop", []string{"all", "NET_RAW"}, []string{"sys_admin", "CAP_NET_RAW"}, supported(t, "CAP_SYS_ADMIN", "CAP_NET_RAW")},
		{"add all drop all", []string{"ALL", "NET_RAW", "kill"}, []string{"ALL", "KILL"}, []string{"CAP_KILL", "CAP_NET_RAW"}},
		{"add all drop all only", []string{"ALL"}, []string{"all"}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Compute(tc.add, tc.drop)
			if err != nil {
				t.Fatalf("Compute(%q, %q): %v", tc.add, tc.drop, err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Compute(%q, %q)\n got %q\nwant %q", tc.add, tc.drop, got, tc.want)
			}
		})
	}
}

func TestComputeAddAllHasEverySupported(t *testing.T) {
	got, err := Compute([]string{"ALL"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	last, err := capability.LastCap()
	if err != nil {
		t.Fatal(err)
	}
	m, err := Mask(got)
	if err != nil {
		t.Fatal(err)
	}
	if want := upTo(last) & ownBounding(t); m != want {
		t.Errorf("Mask(Compute(ALL)) = %#x, want %#x (capabilities 0..%d in our bounding set)", m, want, int(last))
	}
	if !slices.Contains(got, "CAP_SYS_ADMIN") {
		t.Errorf("Compute(ALL) lacks CAP_SYS_ADMIN: %q", got)
	}
}

func TestComputeDoesNotChangeDefault(t *testing.T) {
	before := slices.Clone(Default)
	got, err := Compute([]string{"NET_RAW"}, []string{"CHOWN"})
	if err != nil {
		t.Fatal(err)
	}
	got[0] = "CHANGED"
	if !slices.Equal(Default, before) {
		t.Errorf("Default changed to %q", Default)
	}
	again, err := Compute(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	again[0] = "CHANGED"
	if !slices.Equal(Default, before) {
		t.Errorf("Default aliased by Compute's result: %q", Default)
	}
}

func TestComputeErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		add, drop []string
		want      string
	}{
		{"add unknown", []string{"NET_RAW", "FOO"}, nil, `cap_add: unknown capability "FOO"`},
		{"drop unknown", nil, []string{"chown", "bar"}, `cap_drop: unknown capability "bar"`},
		{"add empty", []string{""}, nil, `cap_add: unknown capability ""`},
		{"drop CAP_ALL", nil, []string{"CAP_ALL"}, `cap_drop: unknown capability "CAP_ALL"`},
		{"add first", []string{"FOO"}, []string{"BAR"}, `cap_add: unknown capability "FOO"`},
		{"with all", []string{"ALL"}, []string{"BAR"}, `cap_drop: unknown capability "BAR"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Compute(tc.add, tc.drop)
			if err == nil {
				t.Fatalf("Compute(%q, %q) = %q, want error %s", tc.add, tc.drop, got, tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("Compute(%q, %q) error = %q, want %q", tc.add, tc.drop, err, tc.want)
			}
		})
	}
}

func TestMask(t *testing.T) {
	for _, tc := range []struct {
		name  string
		names []string
		want  uint64
	}{
		{"none", nil, 0},
		{"chown", []string{"CAP_CHOWN"}, 1 << 0},
		{"net_raw", []string{"net_raw"}, 1 << 13},
		{"sys_admin", []string{"SYS_ADMIN"}, 1 << 21},
		{"setfcap", []string{"CAP_SETFCAP"}, 1 << 31},
		{"high word", []string{"CAP_MAC_OVERRIDE"}, 1 << 32},
		{"checkpoint_restore", []string{"CAP_CHECKPOINT_RESTORE"}, 1 << 40},
		{"duplicates", []string{"chown", "CAP_CHOWN", "NET_RAW"}, 1<<0 | 1<<13},
		// Bits 0,1,3-8,10,18,27,29,31; kernel-side this is what CapEff of a
		// task with the default set shows.
		{"default", Default, 0xa80405fb},
		// docker's default set is berth's plus CAP_NET_RAW.
		{"docker default", append(slices.Clone(Default), "CAP_NET_RAW"), 0xa80425fb},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Mask(tc.names)
			if err != nil {
				t.Fatalf("Mask(%q): %v", tc.names, err)
			}
			if got != tc.want {
				t.Errorf("Mask(%q) = %#x, want %#x", tc.names, got, tc.want)
			}
		})
	}
}

func TestMaskErrors(t *testing.T) {
	for _, tc := range []struct {
		names []string
		want  string
	}{
		{[]string{"CAP_CHOWN", "FOO"}, `unknown capability "FOO"`},
		{[]string{"ALL"}, `capability "ALL" is not a single capability: resolve it with Compute`},
	} {
		got, err := Mask(tc.names)
		if err == nil {
			t.Errorf("Mask(%q) = %#x, want error %s", tc.names, got, tc.want)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("Mask(%q) error = %q, want %q", tc.names, err, tc.want)
		}
	}
}

func TestNames(t *testing.T) {
	if got := Names(0xa80405fb); !slices.Equal(got, Default) {
		t.Errorf("Names(0xa80405fb) = %q, want %q", got, Default)
	}
	if got := Names(1<<13 | 1<<40 | 1<<63); !slices.Equal(got, []string{"CAP_CHECKPOINT_RESTORE", "CAP_NET_RAW"}) {
		t.Errorf("Names(bits 13, 40, 63) = %q", got)
	}
	if got := Names(0); len(got) != 0 {
		t.Errorf("Names(0) = %q, want none", got)
	}
}
