package mounts

import "golang.org/x/sys/unix"

// Pivot makes root the task's "/" and detaches the old root. It runs in the
// child. pivot_root(".", ".") stacks the old root on top of the new one;
// unmounting "." with MNT_DETACH then drops it, so no path leads back to the
// host's filesystem. Because every mount is a slave (Propagate), the detach
// does not reach the host.
func Pivot(root string) error {
	if err := unix.Chdir(root); err != nil {
		return wrap("chdir", root, err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return wrap("pivot_root", root, err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return wrap("detach old root", "/", err)
	}
	return wrap("chdir", "/", unix.Chdir("/"))
}

// Chroot makes root the task's "/" for a task that shares the host's mount
// namespace, where pivot_root would move every host process's root:
// chroot, as runc does for such a bundle. It runs in the child. A task
// that holds CAP_SYS_CHROOT can leave a chroot; sharing the host's mount
// namespace is the bundle's choice.
func Chroot(root string) error {
	if err := unix.Chdir(root); err != nil {
		return wrap("chdir", root, err)
	}
	if err := unix.Chroot("."); err != nil {
		return wrap("chroot", root, err)
	}
	return wrap("chdir", "/", unix.Chdir("/"))
}
