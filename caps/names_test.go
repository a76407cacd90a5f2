package caps

import (
	"slices"
	"testing"

	"github.com/moby/sys/capability"
)

func TestNormalize(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"NET_RAW", "CAP_NET_RAW"},
		{"CAP_NET_RAW", "CAP_NET_RAW"},
		{"net_raw", "CAP_NET_RAW"},
		{" cap_net_raw ", "CAP_NET_RAW"},
		{"Cap_Sys_Admin", "CAP_SYS_ADMIN"},
		{"\tchown\n", "CAP_CHOWN"},
		{"checkpoint_restore", "CAP_CHECKPOINT_RESTORE"},
		{"all", "ALL"},
		{"ALL", "ALL"},
		{" All ", "ALL"},
	} {
		got, err := Normalize(tc.in)
		if err != nil {
			t.Errorf("Normalize(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("Normalize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestNormalizeUnknown(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"FOO", `unknown capability "FOO"`},
		{"cap_foo", `unknown capability "cap_foo"`},
		{"", `unknown capability ""`},
		{"CAP_", `unknown capability "CAP_"`},
		// ALL is a keyword of cap_add/cap_drop, not a capability name.
		{"CAP_ALL", `unknown capability "CAP_ALL"`},
		{"NET RAW", `unknown capability "NET RAW"`},
		{"CAP_CAP_CHOWN", `unknown capability "CAP_CAP_CHOWN"`},
	} {
		got, err := Normalize(tc.in)
		if err == nil {
			t.Errorf("Normalize(%q) = %q, want error %s", tc.in, got, tc.want)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("Normalize(%q) error = %q, want %q", tc.in, err, tc.want)
		}
	}
}

// Every capability the library knows is reachable by its short lowercase
// name, which is the form the library prints.
func TestNormalizeKnown(t *testing.T) {
	for _, c := range capability.ListKnown() {
		got, err := Normalize(c.String())
		if err != nil {
			t.Errorf("Normalize(%q): %v", c.String(), err)
			continue
		}
		m, err := Mask([]string{got})
		if err != nil {
			t.Errorf("Mask(%q): %v", got, err)
			continue
		}
		if m != 1<<uint(c) {
			t.Errorf("Mask(%q) = %#x, want bit %d", got, m, int(c))
		}
	}
}

func TestDefaultIsCanonical(t *testing.T) {
	if !slices.IsSorted(Default) {
		t.Errorf("Default is not sorted: %v", Default)
	}
	if len(slices.Compact(slices.Clone(Default))) != len(Default) {
		t.Errorf("Default has duplicates: %v", Default)
	}
	for _, n := range Default {
		got, err := Normalize(n)
		if err != nil || got != n {
			t.Errorf("Normalize(%q) = %q, %v; want it unchanged", n, got, err)
		}
	}
	if slices.Contains(Default, "CAP_NET_RAW") {
		t.Errorf("Default contains CAP_NET_RAW")
	}
}
