package executor

import (
	"fmt"

	"github.com/berthrun/berth/cgroup"
	"golang.org/x/sys/unix"
)

// boundDevices is a device rule for each mount whose source is a device
// node: a task may open the host devices bound into it on purpose, and no
// others (cgroup.DefaultDevices aside). The access is "rw", "r" for a
// read-only mount: a read-only mount does not stop writes to a device
// node, the device cgroup does. Never "m": a task allowed to mknod a bound
// device could make a node for it in a writable bind, on the host's disk,
// where any host user could open the device through it.
//
// The mount step decides a bind's nodev from the tree it cloned, not from
// this lookup: a source swapped after it gets nodev, and a rule for a
// device it no longer binds opens nothing without a node to open.
func boundDevices(ms []Mount) ([]cgroup.DeviceRule, error) {
	var out []cgroup.DeviceRule
	for i, m := range ms {
		var st unix.Stat_t
		if err := unix.Stat(m.Source, &st); err != nil {
			return nil, fmt.Errorf("mount %s:%s: source: %w", ms[i].Source, ms[i].Destination, err)
		}
		var typ string
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFCHR:
			typ = "c"
		case unix.S_IFBLK:
			typ = "b"
		default:
			continue
		}
		access := "rw"
		if m.ReadOnly {
			access = "r"
		}
		out = append(out, cgroup.DeviceRule{Type: typ, Major: int64(unix.Major(st.Rdev)), Minor: int64(unix.Minor(st.Rdev)), Access: access})
	}
	return out, nil
}
