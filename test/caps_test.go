package test

import (
	"fmt"
	"testing"
)

// Capability numbers from linux/capability.h.
const (
	capChown          = 0
	capDacOverride    = 1
	capFowner         = 3
	capFsetid         = 4
	capKill           = 5
	capSetgid         = 6
	capSetuid         = 7
	capSetpcap        = 8
	capNetBindService = 10
	capNetRaw         = 13
	capSysChroot      = 18
	capSysAdmin       = 21
	capMknod          = 27
	capAuditWrite     = 29
	capSetfcap        = 31
)

// defaultCaps is DESIGN.md's default set: AUDIT_WRITE, CHOWN, DAC_OVERRIDE,
// FOWNER, FSETID, KILL, MKNOD, NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP,
// SETUID, SYS_CHROOT (docker's without NET_RAW) = 0xa80405fb.
const defaultCaps uint64 = 1<<capAuditWrite | 1<<capChown | 1<<capDacOverride |
	1<<capFowner | 1<<capFsetid | 1<<capKill | 1<<capMknod |
	1<<capNetBindService | 1<<capSetfcap | 1<<capSetgid | 1<<capSetpcap |
	1<<capSetuid | 1<<capSysChroot

func capHex(m uint64) string { return fmt.Sprintf("%016x", m) }

// TestCapabilities: the default set in every set but ambient for root,
// adjusted by --cap-add and --cap-drop in any name form. A non-root user
// holds only what --cap-add names (in every set but bounding, ambient
// included so it survives the execve), as Docker does; the whole set still
// bounds it. no_new_privs on.
func TestCapabilities(t *testing.T) {
	t.Parallel()
	if defaultCaps != 0xa80405fb {
		t.Fatalf("default mask computed as %x", defaultCaps)
	}
	cases := []struct {
		name  string
		flags []string
		// bounding is CapBnd; held is CapEff, CapPrm and CapInh.
		bounding, held uint64
		// ambient is CapAmb: 0 for root, what is held for other users.
		ambient bool
	}{
		{"default", nil, defaultCaps, defaultCaps, false},
		{"drop all add net_raw", []string{"--cap-drop", "ALL", "--cap-add", "NET_RAW"}, 1 << capNetRaw, 1 << capNetRaw, false},
		{"add sys_admin", []string{"--cap-add", "SYS_ADMIN"}, defaultCaps | 1<<capSysAdmin, defaultCaps | 1<<capSysAdmin, false},
		{"name forms", []string{"--cap-drop", "chown", "--cap-drop", "CAP_KILL", "--cap-add", "cap_net_raw"},
			defaultCaps&^(1<<capChown|1<<capKill) | 1<<capNetRaw, defaultCaps&^(1<<capChown|1<<capKill) | 1<<capNetRaw, false},
		{"drop all", []string{"--cap-drop", "ALL"}, 0, 0, false},
		{"user alice", []string{"--user", "alice"}, defaultCaps, 0, true},
		{"user alice add net_raw", []string{"--user", "alice", "--cap-add", "NET_RAW"}, defaultCaps | 1<<capNetRaw, 1 << capNetRaw, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := newTask(t).report(rootfsFlags(t, c.flags...), rootfsProbe...)
			want := map[string]string{
				"CapEff": capHex(c.held),
				"CapPrm": capHex(c.held),
				"CapBnd": capHex(c.bounding),
				"CapInh": capHex(c.held),
				"CapAmb": capHex(0),
			}
			if c.ambient {
				want["CapAmb"] = capHex(c.held)
			}
			for k, v := range want {
				if r.Status[k] != v {
					t.Errorf("%s = %s, want %s", k, r.Status[k], v)
				}
			}
			if r.Status["NoNewPrivs"] != "1" {
				t.Errorf("NoNewPrivs = %q, want 1", r.Status["NoNewPrivs"])
			}
		})
	}
}
