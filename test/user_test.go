package test

import (
	"slices"
	"testing"
)

// TestUser: --user resolves names against the task root's /etc/passwd and
// /etc/group (not the host's), takes numeric ids as they are, and sets the
// supplementary groups from the group file, never keeping root's.
func TestUser(t *testing.T) {
	t.Parallel()
	cases := []struct {
		user     string
		uid, gid int
		// groups are the supplementary groups wanted other than the
		// primary gid, which may or may not be among them.
		groups []int
	}{
		{"", 0, 0, nil},
		{"alice", 1000, 1000, []int{10, 50}},
		{"alice:wheel", 1000, 10, []int{50}},
		{"alice:4242", 1000, 4242, []int{10, 50}},
		{"nobody", 65534, 65534, nil},
		{"1000", 1000, 1000, []int{10, 50}},
		{"1234:5678", 1234, 5678, nil},
	}
	for _, c := range cases {
		name := c.user
		if name == "" {
			name = "default"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var flags []string
			if c.user != "" {
				flags = []string{"--user", c.user}
			}
			r := newTask(t).report(rootfsFlags(t, flags...), rootfsProbe...)
			if r.UID != c.uid || r.EUID != c.uid || r.GID != c.gid || r.EGID != c.gid {
				t.Errorf("uid %d euid %d gid %d egid %d, want uid %d gid %d", r.UID, r.EUID, r.GID, r.EGID, c.uid, c.gid)
			}
			got := slices.DeleteFunc(slices.Clone(r.Groups), func(g int) bool { return g == c.gid })
			slices.Sort(got)
			if !slices.Equal(got, c.groups) && !(len(got) == 0 && len(c.groups) == 0) {
				t.Errorf("supplementary groups %v, want %v (plus at most the primary gid %d)", r.Groups, c.groups, c.gid)
			}
		})
	}
}
