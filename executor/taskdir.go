package executor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/berthrun/berth/mounts"
	"golang.org/x/sys/unix"
)

// makeDefaultTaskDir builds the skeleton of the default task dir: empty
// mount points for the host's system directories (the child binds them
// read-only in its own mount namespace, so nothing is copied and nothing
// is mounted on the host) and, for those that are symlinks on the host
// (/bin -> usr/bin on merged-/usr systems), the same symlink.
func makeDefaultTaskDir(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("task dir: %w", err)
	}
	for _, d := range mounts.HostSystemDirs {
		fi, err := os.Lstat(d)
		if err != nil {
			continue
		}
		dst := filepath.Join(dir, d)
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(d)
			if err != nil {
				return fmt.Errorf("task dir: %w", err)
			}
			if err := os.Symlink(target, dst); err != nil {
				return fmt.Errorf("task dir: %w", err)
			}
		case fi.IsDir():
			if err := os.Mkdir(dst, 0o755); err != nil {
				return fmt.Errorf("task dir: %w", err)
			}
		}
	}
	for _, d := range []string{"proc", "sys", "dev", "tmp"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			return fmt.Errorf("task dir: %w", err)
		}
	}
	return nil
}

// removeTree removes a task dir skeleton and whatever mount points the child
// created in it. It never follows a symlink and never crosses into another
// filesystem: if something is still mounted below dir (a leak), it stops
// with an error instead of deleting the files of whatever is mounted there.
func removeTree(dir string) error {
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, dir, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &stx); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("remove %q: %w", dir, err)
	}
	if stx.Mask&unix.STATX_MNT_ID == 0 {
		// Before Linux 5.8 there is no mount id: without it a mount left
		// below dir cannot be told apart, so remove nothing.
		return fmt.Errorf("remove %q: the kernel reports no mount ids (statx STATX_MNT_ID)", dir)
	}
	return removeIn(dir, stx.Mnt_id)
}

// removeIn compares mount ids, not st_dev: a bind mount from the same
// filesystem has the same device but is another mount.
func removeIn(dir string, mnt uint64) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("remove %q: %w", dir, err)
	}
	var stx unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &stx); err != nil || stx.Mnt_id != mnt {
		unix.Close(fd)
		if err == nil {
			err = errors.New("a filesystem is still mounted there")
		}
		return fmt.Errorf("remove %q: %w", dir, err)
	}
	f := os.NewFile(uintptr(fd), dir)
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return fmt.Errorf("remove %q: %w", dir, err)
	}
	for _, n := range names {
		p := filepath.Join(dir, n)
		var cst unix.Stat_t
		if err := unix.Lstat(p, &cst); err != nil {
			return fmt.Errorf("remove %q: %w", p, err)
		}
		if cst.Mode&unix.S_IFMT == unix.S_IFDIR {
			if err := removeIn(p, mnt); err != nil {
				return err
			}
			continue
		}
		if err := unix.Unlink(p); err != nil {
			return fmt.Errorf("remove %q: %w", p, err)
		}
	}
	if err := unix.Rmdir(dir); err != nil {
		return fmt.Errorf("remove %q: %w", dir, err)
	}
	return nil
}
