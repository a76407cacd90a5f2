package mounts

import "golang.org/x/sys/unix"

// kernelFS are the filesystems of the kernel's own state, by type name
// and by magic number: proc and sysfs (sysctls, core_pattern, device
// attributes), cgroup hierarchies (a task that writes cgroup.procs leaves
// its cgroup and its device control), and the like. A task gets them
// only as berth mounts them for it (its own /proc, a read-only /sys) or
// bound read-only: writable, they reach the whole host.
var kernelFS = map[string]int64{
	"proc":        unix.PROC_SUPER_MAGIC,
	"sysfs":       unix.SYSFS_MAGIC,
	"cgroup":      unix.CGROUP_SUPER_MAGIC,
	"cgroup2":     unix.CGROUP2_SUPER_MAGIC,
	"debugfs":     unix.DEBUGFS_MAGIC,
	"tracefs":     unix.TRACEFS_MAGIC,
	"securityfs":  unix.SECURITYFS_MAGIC,
	"bpf":         unix.BPF_FS_MAGIC,
	"configfs":    0x62656570,
	"efivarfs":    unix.EFIVARFS_MAGIC,
	"pstore":      unix.PSTOREFS_MAGIC,
	"binfmt_misc": unix.BINFMTFS_MAGIC,
	"fusectl":     0x65735543,
}

// KernelFSType reports whether a filesystem type (as mountinfo names it)
// is one of the kernel's own state.
func KernelFSType(fstype string) bool {
	_, ok := kernelFS[fstype]
	return ok
}

// kernelFSMagic names the kernel filesystem with statfs magic m, or "".
func kernelFSMagic(m int64) string {
	for name, magic := range kernelFS {
		if magic == m {
			return name
		}
	}
	return ""
}
