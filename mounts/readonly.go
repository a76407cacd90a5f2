package mounts

import (
	"errors"

	"golang.org/x/sys/unix"
)

var errNotNull = errors.New("not the null device (char 1:3)")

// ReadOnly makes the KindReadOnly paths of ops read-only. It runs in the
// child after pivot_root. Each path is cloned as a detached mount, marked
// read-only (with everything below it), and moved back over itself.
func ReadOnly(ops []Op) error {
	for _, op := range ops {
		if op.Kind != KindReadOnly {
			continue
		}
		if err := readOnly(op.Dest); err != nil {
			return wrap("read-only", op.Dest, err)
		}
	}
	return nil
}

func readOnly(p string) error {
	fd, err := openIn(unix.AT_FDCWD, p, unix.O_PATH)
	if err == unix.ENOENT {
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	tfd, err := unix.OpenTree(fd, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE|unix.AT_EMPTY_PATH)
	if err != nil {
		return err
	}
	defer unix.Close(tfd)
	if err := setAttr(tfd, true, unix.MOUNT_ATTR_RDONLY); err != nil {
		return err
	}
	return unix.MoveMount(tfd, "", fd, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
}
