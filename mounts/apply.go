package mounts

import (
	"errors"
	"fmt"
	"path"

	"golang.org/x/sys/unix"
)

// Propagate makes every mount in the child's new mount namespace a slave
// of the host's. It runs in the child, before any mount: without it, a
// mount the task makes under a shared host mount would appear on the host.
// Slave rather than private so that host unmounts still reach the task and
// do not leave host devices busy.
func Propagate() error {
	return wrap("make rslave", "/", unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""))
}

// RootTmpfs mounts a fresh tmpfs at root to build the default task dir in.
// It runs in the child, in its own mount namespace, so the directory exists
// only there: nothing is created on the host's disk, and nothing is left
// behind however the task ends. The tmpfs only holds mount points and
// links, and goes read-only once they are made (ReadOnlyRoot).
func RootTmpfs(root string) error {
	return wrap("mount tmpfs", root, unix.Mount("tmpfs", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=755,size=1m"))
}

// ReadOnlyRoot makes the task's "/" mount read-only (not the mounts below
// it). It runs in the child after pivot_root.
func ReadOnlyRoot() error {
	return wrap("read-only", "/", unix.MountSetattr(unix.AT_FDCWD, "/", 0, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}))
}

// BindRoot binds the task root onto itself. It runs in the child:
// pivot_root needs the new root to be a mount point, and the bind gives the
// task a mount of its own to put the others under.
//
// The bind, and every mount below it, is made nodev: the task holds
// CAP_MKNOD by default, and a device node it makes on a filesystem that
// honours them would open the host's disks. Its devices come as bind mounts
// of the host's nodes (Devices), which stay usable.
func BindRoot(root string) error {
	if err := unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return wrap("bind", root, err)
	}
	err := unix.MountSetattr(unix.AT_FDCWD, root, unix.AT_RECURSIVE, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NODEV})
	return wrap("bind nodev", root, err)
}

// Apply carries out the ops that belong before pivot_root (binds, mounts,
// device nodes, links) inside root, in order. It runs in the child, after
// BindRoot. Every destination is resolved inside the root, never through a
// symlink out of it.
func Apply(root string, ops []Op) error {
	rootfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return wrap("open", root, err)
	}
	defer unix.Close(rootfd)
	others := startOthersOnly(ops)
	defer others.close()
	for _, op := range ops {
		var err error
		switch op.Kind {
		case KindBind:
			err = applyBind(rootfd, op, others)
		case KindMount:
			err = applyMount(rootfd, op)
		case KindSymlink:
			err = applySymlink(rootfd, op)
		case KindDevice:
			err = applyDevice(rootfd, op)
		default:
			continue // KindMask and KindReadOnly run after pivot_root
		}
		if err == nil && op.Propagation != 0 {
			err = setPropagation(rootfd, op)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// applyBind clones the source tree as a detached mount, makes it read-only
// while nobody can see it yet, then moves it onto the destination fd.
//
// Whether the bind is a device (kept without nodev) is read from the
// cloned tree itself, never from an earlier lookup of the source path: a
// source swapped between a device and a directory after such a lookup
// would otherwise be bound without nodev.
func applyBind(rootfd int, op Op, others *othersOnly) error {
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	if op.Recursive {
		flags |= unix.AT_RECURSIVE
	}
	tfd, err := unix.OpenTree(unix.AT_FDCWD, op.Source, flags)
	if err != nil {
		if op.Optional && errors.Is(err, unix.ENOENT) {
			return nil
		}
		return wrap("bind source", op.Source, err)
	}
	defer unix.Close(tfd)
	var st unix.Stat_t
	if err := unix.Fstat(tfd, &st); err != nil {
		return wrap("bind source", op.Source, err)
	}
	// A writable bind of a kernel filesystem reaches the host's kernel;
	// the parent refused such a source, and this is the tree that was
	// cloned, whatever the path names now.
	if !op.ReadOnly {
		var fs unix.Statfs_t
		if err := unix.Fstatfs(tfd, &fs); err != nil {
			return wrap("bind source", op.Source, err)
		}
		if name := kernelFSMagic(int64(fs.Type)); name != "" {
			return wrap("bind source", op.Source, fmt.Errorf("a writable bind of the host's %s filesystem: %w", name, unix.EPERM))
		}
	}
	dir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	// A bind of a device node is how a task gets a device; any other bind
	// is nodev, so that the task cannot make its own (see BindRoot).
	isDevice := st.Mode&unix.S_IFMT == unix.S_IFCHR || st.Mode&unix.S_IFMT == unix.S_IFBLK
	if n := op.Node; n != nil && !sameDevice(&st, n) {
		return wrap("bind device", op.Source, fmt.Errorf("not the %s device %d:%d the node asks for", n.Type, n.Major, n.Minor))
	}
	dfd, err := openDest(rootfd, op.Dest, !dir)
	if err != nil {
		return wrap("bind", op.Dest, err)
	}
	defer unix.Close(dfd)
	if err := others.idmap(tfd, op); err != nil {
		return wrap("bind idmap", op.Dest, err)
	}
	attr := op.Attr
	if op.ReadOnly {
		attr |= unix.MOUNT_ATTR_RDONLY
	}
	if !isDevice {
		attr |= unix.MOUNT_ATTR_NODEV
	}
	if attr != 0 {
		if err := setAttr(tfd, op.Recursive, attr); err != nil {
			return wrap("bind attributes", op.Dest, err)
		}
	}
	err = unix.MoveMount(tfd, "", dfd, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
	return wrap("bind", op.Dest, err)
}

// sameDevice reports whether st, a bind's cloned tree, is the device
// node n names.
func sameDevice(st *unix.Stat_t, n *Node) bool {
	typ := uint32(unix.S_IFCHR)
	if n.Type == "b" {
		typ = unix.S_IFBLK
	}
	return st.Mode&unix.S_IFMT == typ && int64(unix.Major(st.Rdev)) == n.Major && int64(unix.Minor(st.Rdev)) == n.Minor
}

// setAttr sets mount attributes (MOUNT_ATTR_*) on a mount fd and, when
// recursive, on every mount below it.
func setAttr(fd int, recursive bool, attr uint64) error {
	flags := uint(unix.AT_EMPTY_PATH)
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	ma := &unix.MountAttr{Attr_set: attr}
	if attr&unix.MOUNT_ATTR__ATIME != 0 {
		// The atime mode is one value, not bits: setting one takes
		// clearing the field, and noatime wins over strictatime.
		ma.Attr_clr = unix.MOUNT_ATTR__ATIME
		if attr&unix.MOUNT_ATTR_NOATIME != 0 {
			ma.Attr_set = attr&^unix.MOUNT_ATTR__ATIME | unix.MOUNT_ATTR_NOATIME
		}
	}
	return unix.MountSetattr(fd, "", flags, ma)
}

func applyMount(rootfd int, op Op) error {
	dfd, err := openDest(rootfd, op.Dest, false)
	if err != nil {
		return wrap("mount", op.Dest, err)
	}
	defer unix.Close(dfd)
	err = unix.Mount(op.Source, fdPath(dfd), op.FSType, op.Flags, op.Data)
	return wrap("mount "+op.FSType, op.Dest, err)
}

func applySymlink(rootfd int, op Op) error {
	dir, base := path.Split(op.Dest)
	dfd, err := openIn(rootfd, dir, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return wrap("symlink", op.Dest, err)
	}
	defer unix.Close(dfd)
	return wrap("symlink", op.Dest, unix.Symlinkat(op.Source, dfd, base))
}

// setPropagation sets a mount's propagation once it is in place, on the
// mount now at its destination.
func setPropagation(rootfd int, op Op) error {
	fd, err := openIn(rootfd, op.Dest, unix.O_PATH)
	if err != nil {
		return wrap("propagation", op.Dest, err)
	}
	defer unix.Close(fd)
	return wrap("propagation", op.Dest, unix.Mount("", fdPath(fd), "", op.Propagation, ""))
}

// applyDevice makes a device node in the task's root, through an fd of its
// directory (a symlink on the way cannot lead it out), and gives it its
// owner and mode.
func applyDevice(rootfd int, op Op) error {
	n := op.Node
	if n == nil {
		return wrap("device", op.Dest, unix.EINVAL)
	}
	dir, base := path.Split(op.Dest)
	if err := mkdirAllIn(rootfd, dir); err != nil {
		return wrap("device", op.Dest, err)
	}
	dfd, err := openIn(rootfd, dir, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return wrap("device", op.Dest, err)
	}
	defer unix.Close(dfd)
	mode := n.Mode & 0o7777
	switch n.Type {
	case "c":
		mode |= unix.S_IFCHR
	case "b":
		mode |= unix.S_IFBLK
	case "p":
		mode |= unix.S_IFIFO
	}
	// A node already there (the rootfs's own) gives way.
	_ = unix.Unlinkat(dfd, base, 0)
	if err := unix.Mknodat(dfd, base, mode, int(unix.Mkdev(uint32(n.Major), uint32(n.Minor)))); err != nil {
		return wrap("device", op.Dest, err)
	}
	if err := unix.Fchownat(dfd, base, int(n.UID), int(n.GID), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return wrap("device", op.Dest, err)
	}
	// mknod's mode passed the umask: set it whole.
	fd, err := unix.Openat(dfd, base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return wrap("device", op.Dest, err)
	}
	defer unix.Close(fd)
	return wrap("device", op.Dest, unix.Fchmodat(unix.AT_FDCWD, fdPath(fd), n.Mode&0o7777, 0))
}
