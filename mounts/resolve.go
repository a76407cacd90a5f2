package mounts

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrSymlink is returned when a mount destination is a symlink. Mounting
// onto a symlink would follow it, possibly out of the task root, so berth
// refuses instead of guessing what the link meant.
var ErrSymlink = errors.New("is a symlink, refusing to mount over it")

// resolveHow makes openat2 treat rootfd as "/": absolute symlinks and ".."
// cannot leave it, and /proc magic links (which jump anywhere) are refused.
var resolveHow = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

// openIn opens p inside the root without following its last component.
// It runs in the child.
func openIn(rootfd int, p string, flags int) (int, error) {
	how := unix.OpenHow{
		Flags:   uint64(flags | unix.O_NOFOLLOW | unix.O_CLOEXEC),
		Resolve: uint64(resolveHow),
	}
	rel := strings.TrimLeft(p, "/")
	if rel == "" {
		rel = "."
	}
	for {
		fd, err := unix.Openat2(rootfd, rel, &how)
		if err == unix.EINTR || err == unix.EAGAIN {
			// EAGAIN: a rename raced the RESOLVE_IN_ROOT walk; retry.
			continue
		}
		return fd, err
	}
}

// openDest opens the mount destination p inside the root as an O_PATH fd,
// creating it (a directory, or an empty file when file is true) when it does
// not exist. A symlink at p is refused. It runs in the child.
func openDest(rootfd int, p string, file bool) (int, error) {
	fd, err := openIn(rootfd, p, unix.O_PATH)
	if err == unix.ENOENT {
		if err := createIn(rootfd, p, file); err != nil {
			return -1, err
		}
		fd, err = openIn(rootfd, p, unix.O_PATH)
	}
	if err != nil {
		return -1, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		unix.Close(fd)
		return -1, ErrSymlink
	}
	return fd, nil
}

// createIn creates p inside the root, making missing parent directories.
// Each parent is resolved from the root again, so a symlink among them
// still cannot lead outside.
func createIn(rootfd int, p string, file bool) error {
	dir, base := path.Split(path.Clean(p))
	if base == "" {
		return unix.EINVAL
	}
	if err := mkdirAllIn(rootfd, dir); err != nil {
		return err
	}
	dfd, err := openIn(rootfd, dir, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	if file {
		fd, err := unix.Openat(dfd, base, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
		if err == unix.EEXIST {
			return nil
		}
		if err != nil {
			return err
		}
		return unix.Close(fd)
	}
	if err := unix.Mkdirat(dfd, base, 0o755); err != nil && err != unix.EEXIST {
		return err
	}
	return nil
}

// mkdirAllIn makes every directory of p inside the root.
func mkdirAllIn(rootfd int, p string) error {
	cur := "/"
	for _, c := range strings.Split(p, "/") {
		if c == "" || c == "." {
			continue
		}
		next := path.Join(cur, c)
		fd, err := openIn(rootfd, next, unix.O_PATH|unix.O_DIRECTORY)
		switch {
		case err == nil:
			unix.Close(fd)
		case err == unix.ENOENT:
			pfd, err := openIn(rootfd, cur, unix.O_PATH|unix.O_DIRECTORY)
			if err != nil {
				return err
			}
			err = unix.Mkdirat(pfd, c, 0o755)
			unix.Close(pfd)
			if err != nil && err != unix.EEXIST {
				return err
			}
		case err == unix.ELOOP || err == unix.ENOTDIR:
			// O_NOFOLLOW on a symlinked parent: follow it, but inside the
			// root, by opening it as a directory without O_NOFOLLOW.
			how := unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: uint64(resolveHow)}
			fd, err := unix.Openat2(rootfd, strings.TrimLeft(next, "/"), &how)
			if err != nil {
				return err
			}
			unix.Close(fd)
		default:
			return err
		}
		cur = next
	}
	return nil
}

// fdPath names an open fd for syscalls that only take paths (mount(2)):
// the kernel resolves it to the very inode the fd pins, so a rename or a
// symlink swapped in after the check cannot redirect the mount.
func fdPath(fd int) string { return fmt.Sprintf("/proc/self/fd/%d", fd) }
