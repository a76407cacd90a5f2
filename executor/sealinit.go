package executor

import (
	"fmt"
	"os"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"
)

// The init stage and the exec helper are berth-init, and non-dumpable
// until their execve: no process without CAP_SYS_PTRACE reaches their
// /proc/PID/exe. A task that holds CAP_SYS_PTRACE does: from a process
// exec'd into it, it opens the init stage's exe (pid 1 of an OCI container
// held before its start; an exec helper during its setup) and, once no
// process runs the binary any more, writes it through that fd, the host's
// berth-init that the next launch runs as root. For such a task berth-init
// is started from a read-only mount of itself, cloned for the launch and
// detached: its exe lies on a mount no write can go through (EROFS). It
// costs a launch a few hundred microseconds, so only tasks that could use
// it pay.

// sealFD is where the sealed binary's fd goes: above any fd a child gets
// in its Files, which are dup'ed to 0, 1, 2, ... before the execve that
// resolves the /proc/self/fd path.
const sealFD = 100

// needsSeal reports whether a task with this capability set could reach
// berth-init's exe.
func needsSeal(caps []string) bool {
	return slices.Contains(caps, "CAP_SYS_PTRACE")
}

// sealedInit clones berth-init's file as a detached read-only mount and
// returns it, with the path to exec it by.
func sealedInit(path string) (*os.File, string, error) {
	tfd, err := unix.OpenTree(unix.AT_FDCWD, path, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return nil, "", fmt.Errorf("init binary %s: %w", path, err)
	}
	if err := unix.MountSetattr(tfd, "", unix.AT_EMPTY_PATH, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}); err != nil {
		unix.Close(tfd)
		return nil, "", fmt.Errorf("init binary %s: read-only: %w", path, err)
	}
	fd, err := unix.FcntlInt(uintptr(tfd), unix.F_DUPFD_CLOEXEC, sealFD)
	unix.Close(tfd)
	if err != nil {
		return nil, "", fmt.Errorf("init binary %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	return f, "/proc/self/fd/" + strconv.Itoa(fd), nil
}
