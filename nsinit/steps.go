package nsinit

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
	"unsafe"

	"github.com/berthrun/berth/caps"
	"github.com/berthrun/berth/mounts"
	"golang.org/x/sys/unix"
)

// child is the init stage's state while it runs the steps.
type child struct {
	sock  *os.File
	plan  Plan
	user  User
	times []StepTime
}

// steps is the init stage, in order. Everything here runs in the child.
var steps = []struct {
	name string
	run  func(*child) error
}{
	// Before any mount: nothing mounted from here on may reach the host.
	{"propagation", func(c *child) error { return mounts.Propagate() }},
	{"root tmpfs", func(c *child) error {
		return when(c.plan.RootTmpfs, func() error { return mounts.RootTmpfs(c.plan.Root) })
	}},
	{"bind root", func(c *child) error { return mounts.BindRoot(c.plan.Root) }},
	// Binds read host paths, so they come before pivot_root.
	{"mounts", func(c *child) error { return mounts.Apply(c.plan.Root, c.plan.Mounts) }},
	{"pivot_root", func(c *child) error { return mounts.Pivot(c.plan.Root) }},
	// After pivot_root: /proc and /sys are the task's own and /dev/null is
	// the node we made, so masks cannot be redirected by the task root.
	{"masks", func(c *child) error { return mounts.Mask(c.plan.Mounts) }},
	{"read-only paths", func(c *child) error { return mounts.ReadOnly(c.plan.Mounts) }},
	{"read-only root", func(c *child) error { return when(c.plan.RootTmpfs, mounts.ReadOnlyRoot) }},
	{"hostname", setHostname},
	{"loopback", loopbackUp},
	// The user is looked up after pivot_root: its /etc/passwd is the task's.
	{"user", switchUser},
	// no_new_privs before the capability sets: from here no execve can gain
	// privileges through setuid bits or file capabilities.
	{"no_new_privs", func(c *child) error { return unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) }},
	// Capabilities after the user switch: the switch needed CAP_SETUID and
	// CAP_SETGID, which the task may not keep.
	{"capabilities", func(c *child) error { return caps.Apply(c.plan.Caps, c.user.UID != 0) }},
	{"cwd", enterCwd},
	{"close fds", closeFds},
	{"signals", resetSignals},
	{"exec", execTask},
}

// when runs f if cond holds.
func when(cond bool, f func() error) error {
	if !cond {
		return nil
	}
	return f()
}

func setHostname(c *child) error {
	if c.plan.Hostname == "" {
		return nil
	}
	return unix.Sethostname([]byte(c.plan.Hostname))
}

// loopbackUp brings up lo in the task's new network namespace: a fresh
// namespace starts with lo down, and many programs expect 127.0.0.1.
func loopbackUp(c *child) error {
	if !c.plan.LoopbackUp {
		return nil
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo: get flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo: set up: %w", err)
	}
	return nil
}

// switchUser resolves the task user inside the root and takes on its ids on
// this thread. KEEPCAPS keeps the permitted set across setuid so the
// capabilities step can still set the task's capabilities afterwards.
func switchUser(c *child) error {
	u, err := LookupUser(c.plan.User, "/etc/passwd", "/etc/group")
	if err != nil {
		return err
	}
	c.user = u
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("keepcaps: %w", err)
	}
	// Raw per-thread syscalls: Go's setuid wrappers change every thread of
	// the runtime, which is not needed here (only this thread calls execve)
	// and is not available in binaries that use cgo.
	gids := make([]uint32, len(u.Groups))
	for i, g := range u.Groups {
		gids[i] = uint32(g)
	}
	var p uintptr
	if len(gids) > 0 {
		p = uintptr(unsafe.Pointer(&gids[0]))
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(gids)), p, 0); e != 0 {
		return fmt.Errorf("setgroups: %w", e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(u.GID), uintptr(u.GID), uintptr(u.GID)); e != 0 {
		return fmt.Errorf("setresgid %d: %w", u.GID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(u.UID), uintptr(u.UID), uintptr(u.UID)); e != 0 {
		return fmt.Errorf("setresuid %d: %w", u.UID, e)
	}
	// Changing credentials clears PR_SET_PDEATHSIG; arm it again.
	if c.plan.KillWithParent {
		if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
			return fmt.Errorf("pdeathsig: %w", err)
		}
	}
	if !hasEnv(c.plan.Env, "HOME") {
		c.plan.Env = append(c.plan.Env, "HOME="+u.Home)
	}
	return nil
}

// enterCwd changes into the task's working directory and checks the kernel
// places it inside the new root: getcwd reports "(unreachable)" for a
// directory outside it.
func enterCwd(c *child) error {
	cwd := c.plan.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if err := unix.Chdir(cwd); err != nil {
		return &os.PathError{Op: "chdir", Path: cwd, Err: err}
	}
	wd, err := unix.Getwd()
	if err != nil {
		return &os.PathError{Op: "getcwd", Path: cwd, Err: err}
	}
	if !strings.HasPrefix(wd, "/") {
		return &os.PathError{Op: "chdir", Path: cwd, Err: errors.New("outside the task root")}
	}
	return nil
}

// closeFds marks every fd above stderr close-on-exec, whatever the runtime
// or an inherited descriptor left open: the task starts with 0, 1, 2 only.
func closeFds(c *child) error {
	return unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
}

// execTask finds the command, tells the parent setup is done, and execs.
// An execve that fails is reported after "ready".
func execTask(c *child) error {
	argv0, err := lookPath(c.plan.Args[0], c.plan.Env)
	if err != nil {
		return err
	}
	if c.plan.Timings {
		c.times = append(c.times, StepTime{"lookup command", time.Now().UnixNano()})
	}
	if err := json.NewEncoder(c.sock).Encode(&Message{Type: MsgReady, Steps: c.times}); err != nil {
		return fmt.Errorf("send ready: %w", err)
	}
	err = unix.Exec(argv0, c.plan.Args, c.plan.Env)
	return &os.PathError{Op: "execve", Path: argv0, Err: err}
}

func hasEnv(env []string, key string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, key+"=") {
			return true
		}
	}
	return false
}
