package executor

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// A task that shares the host's mount namespace (Isolation.Mount host: an
// OCI bundle without a mount namespace) is set up in it: its task dir is
// bound onto itself and its mounts are made below that bind, on the host,
// and it is chrooted there rather than pivoted. berth records the mount
// that was on top of the task dir before, and removes what is above it
// when the task is cleaned up: its own bind, with every mount below it.
// The caller's own mounts at the task dir (containerd's overlay) stay.

// mountID is the id of the mount on top of path: the unique 64-bit id
// where the kernel has one (Linux 6.8), the reusable one otherwise. Both
// calls that compare ids get the same kind on one kernel.
func mountID(path string) (uint64, error) {
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_STATX_DONT_SYNC, unix.STATX_MNT_ID_UNIQUE|unix.STATX_MNT_ID, &stx); err != nil {
		return 0, &os.PathError{Op: "statx", Path: path, Err: err}
	}
	if stx.Mask&(unix.STATX_MNT_ID_UNIQUE|unix.STATX_MNT_ID) == 0 {
		return 0, fmt.Errorf("statx %s: no mount id from this kernel", path)
	}
	return stx.Mnt_id, nil
}

// hostMountsMax bounds how many mounts unmountHostRoot takes off the task
// dir: berth stacks one, a task that mounts over its own root a few more.
const hostMountsMax = 16

// unmountHostRoot detaches every mount stacked on root above the one whose
// id was base when the task started. A root that is gone has nothing left
// to remove.
func unmountHostRoot(root string, base uint64) error {
	for range hostMountsMax {
		id, err := mountID(root)
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		if err != nil {
			return err
		}
		if id == base {
			return nil
		}
		if err := unix.Unmount(root, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount the task's mounts at %s: %w", root, err)
		}
	}
	return fmt.Errorf("unmount the task's mounts at %s: still mounted over after %d unmounts", root, hostMountsMax)
}

// openTaskRoot opens the root directory of the task's process pid, whose
// pidfd the caller holds, for an exec to chroot into: the task was
// chrooted in the host's mount namespace, which an exec joins at its "/".
func openTaskRoot(pid, pidfd int) (*os.File, error) {
	p := "/proc/" + strconv.Itoa(pid) + "/root"
	fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("exec: the task's root: %w", &os.PathError{Op: "open", Path: p, Err: err})
	}
	// Opened by pid: the pidfd says it was still the task's afterwards.
	if err := unix.PidfdSendSignal(pidfd, 0, nil, 0); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("exec: %w", ErrNotRunning)
	}
	return os.NewFile(uintptr(fd), p), nil
}
