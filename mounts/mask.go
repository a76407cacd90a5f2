package mounts

import (
	"golang.org/x/sys/unix"
)

// Mask hides the KindMask paths of ops. It runs in the child after
// pivot_root, when /proc and /sys are the task's own. A file is covered by
// /dev/null, checked first to really be the null device (char 1:3) so a
// task root cannot slip its own file in; a directory by an empty read-only
// tmpfs. Paths that do not exist are skipped: there is nothing to hide.
func Mask(ops []Op) error {
	var nullOK bool
	for _, op := range ops {
		if op.Kind != KindMask {
			continue
		}
		fd, err := openIn(unix.AT_FDCWD, op.Dest, unix.O_PATH)
		if err == unix.ENOENT {
			continue
		}
		if err != nil {
			return wrap("mask", op.Dest, err)
		}
		var st unix.Stat_t
		err = unix.Fstat(fd, &st)
		if err == nil {
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFDIR:
				err = unix.Mount("tmpfs", fdPath(fd), "tmpfs", unix.MS_RDONLY|nosuidNodevNoexec, "size=0,mode=755")
			case unix.S_IFLNK:
				err = ErrSymlink
			default:
				if !nullOK {
					if err = checkNull(); err == nil {
						nullOK = true
					}
				}
				if err == nil {
					err = unix.Mount("/dev/null", fdPath(fd), "", unix.MS_BIND, "")
				}
			}
		}
		unix.Close(fd)
		if err != nil {
			return wrap("mask", op.Dest, err)
		}
	}
	return nil
}

// checkNull verifies /dev/null is the null character device.
func checkNull() error {
	var st unix.Stat_t
	if err := unix.Lstat("/dev/null", &st); err != nil {
		return wrap("stat", "/dev/null", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 1 || unix.Minor(st.Rdev) != 3 {
		return wrap("check", "/dev/null", errNotNull)
	}
	return nil
}
