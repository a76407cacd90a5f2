package mounts

import (
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
func BindRoot(root string) error {
	return wrap("bind", root, unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""))
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
	for _, op := range ops {
		var err error
		switch op.Kind {
		case KindBind:
			err = applyBind(rootfd, op)
		case KindMount:
			err = applyMount(rootfd, op)
		case KindMknod:
			err = applyMknod(rootfd, op)
		case KindSymlink:
			err = applySymlink(rootfd, op)
		default:
			continue // KindMask and KindReadOnly run after pivot_root
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// applyBind clones the source tree as a detached mount, makes it read-only
// while nobody can see it yet, then moves it onto the destination fd.
func applyBind(rootfd int, op Op) error {
	dir, err := isDir(op.Source)
	if err != nil {
		if op.Optional {
			return nil
		}
		return wrap("bind source", op.Source, err)
	}
	dfd, err := openDest(rootfd, op.Dest, !dir)
	if err != nil {
		return wrap("bind", op.Dest, err)
	}
	defer unix.Close(dfd)
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	if op.Recursive {
		flags |= unix.AT_RECURSIVE
	}
	tfd, err := unix.OpenTree(unix.AT_FDCWD, op.Source, flags)
	if err != nil {
		return wrap("bind", op.Dest, err)
	}
	defer unix.Close(tfd)
	if op.ReadOnly {
		if err := setReadOnly(tfd, op.Recursive); err != nil {
			return wrap("bind read-only", op.Dest, err)
		}
	}
	err = unix.MoveMount(tfd, "", dfd, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
	return wrap("bind", op.Dest, err)
}

// setReadOnly marks a mount fd (and, when recursive, every mount below it)
// read-only.
func setReadOnly(fd int, recursive bool) error {
	flags := uint(unix.AT_EMPTY_PATH)
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	return unix.MountSetattr(fd, "", flags, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY})
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

// applyMknod creates a device node in the task's fresh /dev tmpfs.
func applyMknod(rootfd int, op Op) error {
	dir, base := path.Split(op.Dest)
	dfd, err := openIn(rootfd, dir, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return wrap("mknod", op.Dest, err)
	}
	defer unix.Close(dfd)
	dev := int(unix.Mkdev(op.Major, op.Minor))
	if err := unix.Mknodat(dfd, base, unix.S_IFCHR|op.Mode, dev); err != nil {
		return wrap("mknod", op.Dest, err)
	}
	// mknod applies the umask; set the mode the plan asked for.
	return wrap("chmod", op.Dest, unix.Fchmodat(dfd, base, op.Mode, 0))
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
