package nsinit

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ptmxPath is the task's own pty multiplexer: the ptmx node of the devpts
// instance mounted at /dev/pts.
const ptmxPath = "/dev/pts/ptmx"

// openTerminal gives the command a terminal of its own: a pty of the task's
// devpts, owned by the task's user, as its controlling terminal and fds 0,
// 1 and 2. The master goes back to the parent, which relays it. It runs in
// the child, after pivot_root (or, for an exec, after joining the task's
// mount namespace) and in a new session, so the pty can become the
// session's controlling terminal.
func openTerminal(c *child) error {
	if !c.plan.Terminal {
		return nil
	}
	master, err := openPtmx()
	if err != nil {
		return err
	}
	defer unix.Close(master)
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		return &os.PathError{Op: "unlock pty", Path: ptmxPath, Err: err}
	}
	// TIOCGPTPEER opens the slave from the master, with no path lookup in
	// a file system the task may have changed (an exec joins a running
	// task's /dev).
	r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(master), unix.TIOCGPTPEER, uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if e != 0 {
		return &os.PathError{Op: "open pty slave", Path: ptmxPath, Err: e}
	}
	slave := int(r)
	defer unix.Close(slave)
	if err := unix.Fchown(slave, c.user.UID, -1); err != nil {
		return fmt.Errorf("chown pty: %w", err)
	}
	if err := unix.Fchmod(slave, 0o620); err != nil {
		return fmt.Errorf("chmod pty: %w", err)
	}
	if s := c.plan.Size; s != nil && s.Rows > 0 && s.Cols > 0 {
		if err := unix.IoctlSetWinsize(slave, unix.TIOCSWINSZ, &unix.Winsize{Row: s.Rows, Col: s.Cols}); err != nil {
			return fmt.Errorf("set pty size: %w", err)
		}
	}
	// The parent started this process in a new session with no
	// controlling terminal: the pty becomes it. An exec helper's command
	// is its forked child, which takes it itself (forkCommand).
	if c.plan.Mode != ModeExec {
		if err := unix.IoctlSetInt(slave, unix.TIOCSCTTY, 0); err != nil {
			return fmt.Errorf("make pty the controlling terminal: %w", err)
		}
	}
	for fd := 0; fd <= 2; fd++ {
		if err := unix.Dup3(slave, fd, 0); err != nil {
			return fmt.Errorf("pty as fd %d: %w", fd, err)
		}
	}
	b := appendMessage(nil, &Message{Type: MsgConsole})
	if err := unix.Sendmsg(SyncFD, b, unix.UnixRights(master), nil, 0); err != nil {
		return fmt.Errorf("send pty master: %w", err)
	}
	return nil
}

// openPtmx opens the task's ptmx without following any link and checks it
// is a pty multiplexer on devpts: a task that replaced /dev/pts/ptmx with a
// link or a file gets an error, not a file opened for it as root.
func openPtmx() (int, error) {
	fd, err := unix.Openat2(unix.AT_FDCWD, ptmxPath, &unix.OpenHow{
		Flags:   unix.O_RDWR | unix.O_NOCTTY | unix.O_CLOEXEC | unix.O_NONBLOCK,
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: ptmxPath, Err: err}
	}
	var fs unix.Statfs_t
	var st unix.Stat_t
	if err := unix.Fstatfs(fd, &fs); err != nil || fs.Type != unix.DEVPTS_SUPER_MAGIC ||
		unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 5 || unix.Minor(st.Rdev) != 2 {
		unix.Close(fd)
		return -1, &os.PathError{Op: "open", Path: ptmxPath, Err: fmt.Errorf("not the ptmx of a devpts instance")}
	}
	// Blocking again: the parent relays it with ordinary reads and writes.
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}
