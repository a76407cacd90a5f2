package nsinit

import (
	"encoding/binary"
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// An exec helper is born in the host's pid namespace, not the task's: a
// process of the task holding CAP_SYS_PTRACE could otherwise attach to it
// while it is still the host's root with every capability, in the host's
// mount namespace (non-dumpable does not stop CAP_SYS_PTRACE). It joins
// the task's pid namespace for its children only (pid_for_children), takes
// on the task's credentials, capabilities and filter on the thread that
// execs, and then forks that thread: the child, the command, is the first
// process of the exec the task can see, and it has nothing but what the
// task has. It is made the helper's parent's child (CLONE_PARENT), so the
// caller reaps it as it would have reaped the helper.

// forkExecArgs is what the forked child needs, prepared before the fork:
// it may not allocate.
type forkExecArgs struct {
	path       *byte
	argv, envp **byte
	terminal   bool
	pdeath     bool
	// preserved[i] becomes the command's fd 3+i.
	preserved []int32
	errw      uintptr
	report    [8]byte
	dfl       kernelSigaction
	none      uint64
}

// Steps of the forked child, as reported on failure.
const (
	childStepSetsid = iota + 1
	childStepTerminal
	childStepPdeath
	childStepPreserve
	childStepExec
)

var childStepNames = map[uint32]string{childStepSetsid: "setsid", childStepTerminal: "make pty the controlling terminal",
	childStepPdeath: "parent death signal", childStepPreserve: "preserved fds", childStepExec: "execve"}

// preservedAbove copies the plan's preserved fds above the numbers they
// are to take in the command (3, 4, ...), close-on-exec, so that moving
// one into place never overwrites another still to move.
func preservedAbove(fds []int) ([]int, error) {
	above := 3 + len(fds)
	out := make([]int, 0, len(fds))
	for _, fd := range fds {
		h, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, above)
		if err != nil {
			return nil, fmt.Errorf("preserved fd %d: %w", fd, err)
		}
		out = append(out, h)
	}
	return out, nil
}

// handOverFDs gives the init stage's command the preserved fds as its 3,
// 4, ... right before its execve. The init stage's own fds on those
// numbers move above them first: the sync socket, on which a failed
// execve is still reported, and the start gate's written end, which must
// stay open until the execve.
func (c *child) handOverFDs(gate int) error {
	n := len(c.plan.PreserveFDs)
	if n == 0 {
		return nil
	}
	high, err := preservedAbove(c.plan.PreserveFDs)
	if err != nil {
		return err
	}
	above := 3 + n
	sock, err := unix.FcntlInt(c.sock.Fd(), unix.F_DUPFD_CLOEXEC, above)
	if err != nil {
		return fmt.Errorf("move the sync socket: %w", err)
	}
	// The old *os.File stays referenced: collected, it would close fd 3,
	// the command's then.
	c.oldSock, c.sock = c.sock, os.NewFile(uintptr(sock), "sync")
	if gate >= 0 && gate < above {
		if _, err := unix.FcntlInt(uintptr(gate), unix.F_DUPFD_CLOEXEC, above); err != nil {
			return fmt.Errorf("move the start gate: %w", err)
		}
	}
	for i, fd := range high {
		if err := unix.Dup3(fd, 3+i, 0); err != nil {
			return fmt.Errorf("preserved fd %d as %d: %w", c.plan.PreserveFDs[i], 3+i, err)
		}
	}
	return nil
}

// forkCommand forks the command off this thread into the task's pid
// namespace (joined for children already) and returns its pid once its
// execve succeeded. Its failure before that is returned with its pid, as
// the parent reaps it.
func forkCommand(c *child, argv0 string) (int, error) {
	a := &forkExecArgs{terminal: c.plan.Terminal, pdeath: c.plan.KillWithParent}
	var err error
	if a.path, err = unix.BytePtrFromString(argv0); err != nil {
		return 0, err
	}
	argv, err := syscall.SlicePtrFromStrings(c.plan.Args)
	if err != nil {
		return 0, err
	}
	envp, err := syscall.SlicePtrFromStrings(c.plan.Env)
	if err != nil {
		return 0, err
	}
	a.argv, a.envp = &argv[0], &envp[0]
	for _, fd := range c.forkPreserved {
		a.preserved = append(a.preserved, int32(fd))
	}
	p := c.forkReport
	errr := os.NewFile(uintptr(p[0]), "fork-report")
	defer errr.Close()
	a.errw = uintptr(p[1])
	// No signal may reach the copy before it resets the handlers: they
	// are the Go runtime's, which does not run there.
	var all, old unix.Sigset_t
	for i := range all.Val {
		all.Val[i] = ^uint64(0)
	}
	unix.PthreadSigmask(unix.SIG_SETMASK, &all, &old)
	pid, errno := forkCommandThread(a)
	unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	unix.Close(p[1])
	if errno != 0 {
		return 0, fmt.Errorf("fork the command: %w", errno)
	}
	var rep [8]byte
	if n, _ := errr.Read(rep[:]); n > 0 {
		step := binary.LittleEndian.Uint32(rep[0:4])
		e := syscall.Errno(binary.LittleEndian.Uint32(rep[4:8]))
		if step == childStepExec {
			return int(pid), &os.PathError{Op: "execve", Path: argv0, Err: e}
		}
		return int(pid), fmt.Errorf("%s: %w", childStepNames[step], e)
	}
	return int(pid), nil
}

// forkCommandThread is clone(CLONE_PARENT) of the calling thread; the
// child resets its signals, takes a session of its own (and the pty as
// its controlling terminal), arms the parent-death signal, and execs. In
// the parent it returns the child's pid. Legacy clone, not clone3: the
// task's filter is loaded already, and Docker's profile refuses clone3.
//
// The child is a copy of one thread of a Go process whose other threads
// may hold runtime locks: it runs only raw system calls, on the stack it
// has, without allocating (go:nosplit keeps stack growth out, go:norace
// the race detector).
//
//go:nosplit
//go:norace
func forkCommandThread(a *forkExecArgs) (uintptr, unix.Errno) {
	pid, _, errno := unix.RawSyscall6(unix.SYS_CLONE, uintptr(unix.CLONE_PARENT|unix.SIGCHLD), 0, 0, 0, 0, 0)
	if errno != 0 || pid != 0 {
		return pid, errno
	}
	for sig := uintptr(1); sig <= 64; sig++ {
		if sig != uintptr(unix.SIGKILL) && sig != uintptr(unix.SIGSTOP) {
			unix.RawSyscall6(unix.SYS_RT_SIGACTION, sig, uintptr(unsafe.Pointer(&a.dfl)), 0, 8, 0, 0)
		}
	}
	step := uint32(childStepSetsid)
	_, _, errno = unix.RawSyscall(unix.SYS_SETSID, 0, 0, 0)
	if errno == 0 && a.terminal {
		step = childStepTerminal
		_, _, errno = unix.RawSyscall(unix.SYS_IOCTL, 0, unix.TIOCSCTTY, 0)
	}
	if errno == 0 && a.pdeath {
		step = childStepPdeath
		_, _, errno = unix.RawSyscall(unix.SYS_PRCTL, unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0)
	}
	if errno == 0 && len(a.preserved) > 0 {
		step = childStepPreserve
		for i := 0; i < len(a.preserved) && errno == 0; i++ {
			_, _, errno = unix.RawSyscall(unix.SYS_DUP3, uintptr(a.preserved[i]), uintptr(3+i), 0)
		}
	}
	if errno == 0 {
		step = childStepExec
		unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&a.none)), 0, 8, 0, 0)
		_, _, errno = unix.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(a.path)),
			uintptr(unsafe.Pointer(a.argv)), uintptr(unsafe.Pointer(a.envp)))
	}
	for i := 0; i < 4; i++ {
		a.report[i] = byte(step >> (8 * i))
		a.report[4+i] = byte(uint32(errno) >> (8 * i))
	}
	unix.RawSyscall(unix.SYS_WRITE, a.errw, uintptr(unsafe.Pointer(&a.report[0])), 8)
	for {
		unix.RawSyscall(unix.SYS_EXIT_GROUP, 127, 0, 0)
	}
}
