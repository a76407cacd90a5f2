package executor

import (
	"bufio"
	"os"
	"strings"

	"github.com/berthrun/berth/mounts"
	"github.com/berthrun/berth/nsinit"
	"github.com/berthrun/berth/proc"
	"golang.org/x/sys/unix"
)

// bindHostCgroup2 turns the plan's fresh mounts of the cgroup2
// filesystem into read-only binds of the host's cgroup2 mount, for a task
// that stays in the host's cgroup namespace (no CLONE_NEWCGROUP), where
// both show the same tree: the whole hierarchy.
//
// Mounting cgroup2 in the host's cgroup namespace applies the new mount's
// options to the hierarchy, for every mount of it on the host
// (apply_cgroup_root_flags: nsdelegate, memory_recursiveprot and the
// like are set or cleared), and since Linux 6.18 doing so takes the
// kernel's global cgroup_threadgroup_rwsem for writing, which after an
// idle spell first waits for an RCU grace period (6-15 ms here, once per
// launch). A bind of the existing mount does neither. In a cgroup
// namespace of its own the task's fresh mount shows its namespace's root
// and touches no option of the host's: it is left as it is. So is a mount
// with options of its own, and every mount when the host has no cgroup2
// mount of the hierarchy's root.
func bindHostCgroup2(plan *nsinit.Plan, cloneFlags uintptr) {
	if cloneFlags&unix.CLONE_NEWCGROUP != 0 {
		return
	}
	host := ""
	for i, op := range plan.Mounts {
		if op.Kind != mounts.KindMount || op.FSType != "cgroup2" || op.Data != "" {
			continue
		}
		if host == "" {
			if host = hostCgroup2Mount(); host == "" {
				return
			}
		}
		b := mounts.Op{Kind: mounts.KindBind, Source: host, Dest: op.Dest, ReadOnly: op.Flags&unix.MS_RDONLY != 0,
			Propagation: op.Propagation}
		for flag, attr := range map[uintptr]uint64{unix.MS_NOSUID: unix.MOUNT_ATTR_NOSUID, unix.MS_NOEXEC: unix.MOUNT_ATTR_NOEXEC,
			unix.MS_NOATIME: unix.MOUNT_ATTR_NOATIME, unix.MS_NODIRATIME: unix.MOUNT_ATTR_NODIRATIME, unix.MS_STRICTATIME: unix.MOUNT_ATTR_STRICTATIME} {
			if op.Flags&flag != 0 {
				b.Attr |= attr
			}
		}
		plan.Mounts[i] = b
	}
}

// hostCgroup2Mount is where this process's mount namespace has the
// cgroup2 hierarchy's root mounted, or "".
func hostCgroup2Mount() string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		before, after, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		f, a := strings.Fields(before), strings.Fields(after)
		// id parent major:minor root mount-point ... - fstype source options
		if len(f) >= 5 && len(a) >= 1 && a[0] == "cgroup2" && f[3] == "/" {
			return proc.UnescapeMountinfo(f[4])
		}
	}
	return ""
}
