package mounts

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSpecOp(t *testing.T) {
	for _, c := range []struct {
		m    FSMount
		want Op
	}{
		{FSMount{Type: "proc", Source: "proc", Destination: "/proc"},
			Op{Kind: KindMount, FSType: "proc", Source: "proc", Dest: "/proc"}},
		{FSMount{Type: "tmpfs", Source: "tmpfs", Destination: "/dev", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			Op{Kind: KindMount, FSType: "tmpfs", Source: "tmpfs", Dest: "/dev", Flags: unix.MS_NOSUID | unix.MS_STRICTATIME, Data: "mode=755,size=65536k"}},
		{FSMount{Type: "bind", Source: "/src", Destination: "/dst", Options: []string{"rbind", "ro", "nosuid", "noexec", "rprivate"}},
			Op{Kind: KindBind, Source: "/src", Dest: "/dst", ReadOnly: true, Recursive: true,
				Attr: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC, Propagation: unix.MS_PRIVATE | unix.MS_REC}},
		// Options that clear what an earlier one set.
		{FSMount{Type: "tmpfs", Destination: "/t", Options: []string{"ro", "rw", "noexec", "exec", "rshared"}},
			Op{Kind: KindMount, FSType: "tmpfs", Source: "tmpfs", Dest: "/t", Propagation: unix.MS_SHARED | unix.MS_REC}},
		// The host's cgroup hierarchy only ever read-only.
		{FSMount{Type: "cgroup", Source: "cgroup", Destination: "/sys/fs/cgroup", Options: []string{"rw", "nosuid"}},
			Op{Kind: KindMount, FSType: "cgroup2", Source: "cgroup", Dest: "/sys/fs/cgroup", Flags: unix.MS_RDONLY | unix.MS_NOSUID}},
		{FSMount{Type: "cgroup2", Source: "cgroup2", Destination: "/sys/fs/cgroup"},
			Op{Kind: KindMount, FSType: "cgroup2", Source: "cgroup2", Dest: "/sys/fs/cgroup", Flags: unix.MS_RDONLY}},
		{FSMount{Type: "debugfs", Source: "debugfs", Destination: "/d", Options: []string{"ro"}},
			Op{Kind: KindMount, FSType: "debugfs", Source: "debugfs", Dest: "/d", Flags: unix.MS_RDONLY}},
	} {
		got, err := SpecOp(c.m)
		if err != nil || got != c.want {
			t.Errorf("SpecOp(%+v) =\n %+v, %v\nwant\n %+v", c.m, got, err, c.want)
		}
	}
	for _, c := range []struct {
		m    FSMount
		want string
	}{
		{FSMount{Type: "debugfs", Destination: "/d"}, "a writable debugfs reaches the host's kernel"},
		{FSMount{Type: "binfmt_misc", Destination: "/b", Options: []string{"rw"}}, "a writable binfmt_misc"},
		{FSMount{Type: "bind", Source: "rel", Destination: "/x"}, "must be an absolute path"},
		{FSMount{Type: "tmpfs", Destination: "x"}, "must be an absolute path"},
		{FSMount{Type: "tmpfs", Destination: "/a/../b"}, `must not contain ".."`},
		{FSMount{Destination: "/x"}, "no type"},
		{FSMount{Type: "tmpfs", Destination: "/x", Options: []string{"tmpcopyup"}}, "tmpcopyup: not supported"},
		{FSMount{Type: "bind", Source: "/s", Destination: "/x", Options: []string{"idmap"}}, "idmap: not supported"},
	} {
		if _, err := SpecOp(c.m); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("SpecOp(%+v) = %v, want %q", c.m, err, c.want)
		}
	}
}
