package mounts

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Host secrets in the default task dir are hidden by a rule, not a list:
//
//	A task sees each file and directory of the host's system directories
//	with the permission bits the host gives to others, whatever its uid
//	and capabilities.
//
// So exactly what an unprivileged host user cannot read stays unreadable
// in the task: /etc/shadow (0640 root:shadow), /etc/sudoers and
// /etc/sudoers.d, /etc/ssl/private, /etc/security/opasswd, SSH host keys,
// keytabs, a service's 0600 key, whoever owns them, and whatever a host
// package adds later. Files others may read or run (/etc/passwd, ld.so,
// libc, /bin/sh) work as before.
//
// The kernel enforces it, with no walk of the trees: the binds are
// idmapped mounts (OthersOnly) whose idmapping maps no id a host file
// carries (see ownerlessID). An inode whose owner and group are unmapped
// in the mount is never the caller's own nor in its groups, so only the
// "other" bits (and ACL_OTHER) apply, and capable_wrt_inode_uidgid refuses
// CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH on it: root in the task reads
// only what any unprivileged host user can. (A task given CAP_SYS_ADMIN
// can mount, and so undo this as it can undo the rest of its isolation.)
//
// What a task sees differs from the host's in that every file shows the
// overflow owner and group (nobody, 65534), and setuid and setgid bits are
// ignored (no owner to take; the task has no_new_privs anyway). A program
// that insists its configuration in /etc be owned by root refuses it;
// such a task needs a root of its own.
//
// It needs idmapped mounts (Linux 5.12) on every filesystem under the
// bound directories (ext4, xfs, btrfs and tmpfs have them), and
// PIDFD_GET_USER_NAMESPACE (Linux 6.11). Where either is missing the
// launch fails: the default task dir is never built with the secrets
// readable.

// othersOnly makes the idmapping of OthersOnly binds. It runs in the
// child, within one Apply.
type othersOnly struct {
	helper *usernsHelper
	// err is why the helper could not be started, reported by the first
	// bind that needs it.
	err error
	// userns is the namespace's fd, -1 until taken from the helper.
	userns int
}

// startOthersOnly starts making the user namespace when some op is an
// OthersOnly bind, so that the kernel builds it while the caller opens
// the first bind's source and destination. It runs in the child; the
// caller must call close.
func startOthersOnly(ops []Op) *othersOnly {
	o := &othersOnly{userns: -1}
	for _, op := range ops {
		if op.Kind == KindBind && op.OthersOnly {
			o.helper, o.err = startUsernsHelper()
			break
		}
	}
	return o
}

// idmap gives the detached mount tree tfd the ownerless idmapping when op
// asks for it (OthersOnly), on every mount below it if op is recursive.
// It runs in the child, between open_tree and move_mount: the kernel sets
// an idmapping only on a mount nobody can see yet.
func (o *othersOnly) idmap(tfd int, op Op) error {
	if !op.OthersOnly {
		return nil
	}
	if o.userns < 0 {
		if o.err == nil && o.helper == nil {
			o.err = errors.New("no user namespace helper started for this plan")
		}
		if o.err != nil {
			return o.err
		}
		if o.userns, o.err = o.helper.userns(); o.err != nil {
			return o.err
		}
	}
	flags := uint(unix.AT_EMPTY_PATH)
	if op.Recursive {
		flags |= unix.AT_RECURSIVE
	}
	err := unix.MountSetattr(tfd, "", flags, &unix.MountAttr{
		Attr_set:  unix.MOUNT_ATTR_IDMAP,
		Userns_fd: uint64(o.userns),
	})
	if errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("a filesystem in it does not support idmapped mounts: %w", err)
	}
	return err
}

// close drops the user namespace (the mounts keep their idmapping) and
// reaps the helper.
func (o *othersOnly) close() {
	if o.userns >= 0 {
		unix.Close(o.userns)
		o.userns = -1
	}
	if o.helper != nil {
		o.helper.reap()
		o.helper = nil
	}
}
