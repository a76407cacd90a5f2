package mounts

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ownerlessID is the one user and group id the ownerless idmapping maps
// (to 0: the only target a process may map for itself). A mapping cannot
// be empty (mount_setattr refuses a user namespace without one), so it
// holds an id no distribution gives a user or group: (uid_t)-3. Files the
// host owns by that id would be the only ones the task keeps its owner's
// rights and capabilities on.
const ownerlessID = 1<<32 - 3

// pidfdGetUserNamespace is PIDFD_GET_USER_NAMESPACE, _IO(0xFF, 9)
// (Linux 6.11): the user namespace of the process behind a pidfd.
const pidfdGetUserNamespace = 0xFF09

// atFDCWD is AT_FDCWD as the raw openat system call takes it.
const atFDCWD = ^uintptr(99)

// cloneArgs is struct clone_args of clone3(2), up to tls.
type cloneArgs struct {
	flags, pidfd, childTID, parentTID, exitSignal, stack, stackSize, tls uint64
}

// usernsScript is what the helper does between clone3 and its stop, as
// NUL-terminated paths and contents prepared before the fork: the helper
// may not allocate.
type usernsScript struct {
	setgroups, uidMap, gidMap *byte
	deny, mapping             []byte
}

// usernsHelper is a process made to hold the user namespace of
// OthersOnly binds until its fd is taken.
type usernsHelper struct {
	pid   int
	pidfd int
}

// startUsernsHelper starts the helper of a new user namespace whose only
// mapping is ownerlessID to 0: the idmapping of OthersOnly binds. It runs
// in the child, in the task's pid namespace, where neither a Go exec (it
// writes the maps through /proc/PID of the host's /proc, naming another
// process) nor unshare (the process has threads) can make one.
//
// The helper is clone3(CLONE_NEWUSER) of the calling thread alone: it
// writes its own maps (a process may map one id to its own for itself) and
// stops. userns takes the namespace from its pidfd and kills it; reap
// collects it. A fork and no exec: about 0.15 ms for clone3 and as much
// again until the namespace is ready, which the caller can spend on work
// of its own.
func startUsernsHelper() (*usernsHelper, error) {
	script := &usernsScript{
		setgroups: cString("/proc/self/setgroups"),
		uidMap:    cString("/proc/self/uid_map"),
		gidMap:    cString("/proc/self/gid_map"),
		deny:      []byte("deny"),
		mapping:   fmt.Appendf(nil, "%d 0 1", ownerlessID),
	}
	pidfd := int32(-1)
	args := &cloneArgs{
		flags:      unix.CLONE_NEWUSER | unix.CLONE_PIDFD,
		pidfd:      uint64(uintptr(unsafe.Pointer(&pidfd))),
		exitSignal: uint64(unix.SIGCHLD),
	}
	pid, errno := forkUsernsHelper(args, script)
	if errno != 0 {
		return nil, fmt.Errorf("clone3: %w", errno)
	}
	unix.CloseOnExec(int(pidfd))
	return &usernsHelper{pid: int(pid), pidfd: int(pidfd)}, nil
}

// userns waits for the helper to stop, returns an fd (close-on-exec) of
// its user namespace, and kills it.
func (h *usernsHelper) userns() (int, error) {
	var ws unix.WaitStatus
	if _, err := unix.Wait4(h.pid, &ws, unix.WUNTRACED|unix.WALL, nil); err != nil {
		unix.PidfdSendSignal(h.pidfd, unix.SIGKILL, nil, 0)
		return -1, fmt.Errorf("wait for the user namespace helper: %w", err)
	}
	if !ws.Stopped() {
		// It exited, and wait4 reaped it: a map write failed.
		h.pid = 0
		return -1, fmt.Errorf("user namespace helper: %s", helperFailure(ws))
	}
	nsfd, err := unix.IoctlRetInt(h.pidfd, pidfdGetUserNamespace)
	unix.PidfdSendSignal(h.pidfd, unix.SIGKILL, nil, 0)
	if err != nil {
		return -1, fmt.Errorf("user namespace of the helper: %w", err)
	}
	unix.CloseOnExec(nsfd)
	return nsfd, nil
}

// reap kills the helper if it still runs and collects it. Left for last,
// its exit overlaps the caller's work.
func (h *usernsHelper) reap() {
	if h.pid > 0 {
		unix.PidfdSendSignal(h.pidfd, unix.SIGKILL, nil, 0)
		unix.Wait4(h.pid, nil, unix.WALL, nil)
		h.pid = 0
	}
	unix.Close(h.pidfd)
}

// helperFailure says which step of the helper failed from its exit status.
func helperFailure(ws unix.WaitStatus) string {
	switch {
	case ws.Signaled():
		return "killed by " + ws.Signal().String()
	case ws.ExitStatus() == 1:
		return "write /proc/self/setgroups failed"
	case ws.ExitStatus() == 2:
		return "write /proc/self/uid_map failed"
	case ws.ExitStatus() == 3:
		return "write /proc/self/gid_map failed"
	}
	return fmt.Sprintf("exit status %d", ws.ExitStatus())
}

// forkUsernsHelper forks the calling thread into a new user namespace. In
// the parent it returns the helper's pid. The helper writes its maps, then
// stops itself (exit status 1-3 name the write that failed) and never
// returns.
//
// The helper is a copy of one thread of a Go process whose other threads
// may hold runtime locks: like the child half of syscall.forkExec it runs
// only raw system calls, on the stack it has, without allocating
// (go:nosplit keeps stack growth out, go:norace the race detector).
//
//go:nosplit
//go:norace
func forkUsernsHelper(args *cloneArgs, s *usernsScript) (uintptr, unix.Errno) {
	pid, _, errno := unix.RawSyscall(unix.SYS_CLONE3, uintptr(unsafe.Pointer(args)), unsafe.Sizeof(*args), 0)
	if errno != 0 || pid != 0 {
		return pid, errno
	}
	code := uintptr(0)
	// setgroups is denied first: without it the kernel refuses a gid map
	// written by the process itself.
	switch {
	case !rawWrite(s.setgroups, s.deny):
		code = 1
	case !rawWrite(s.uidMap, s.mapping):
		code = 2
	case !rawWrite(s.gidMap, s.mapping):
		code = 3
	default:
		self, _, _ := unix.RawSyscall(unix.SYS_GETPID, 0, 0, 0)
		unix.RawSyscall(unix.SYS_KILL, self, uintptr(unix.SIGSTOP), 0)
	}
	for {
		unix.RawSyscall(unix.SYS_EXIT_GROUP, code, 0, 0)
	}
}

// rawWrite writes b to the file at path with raw system calls only; see
// forkUsernsHelper.
//
//go:nosplit
//go:norace
func rawWrite(path *byte, b []byte) bool {
	fd, _, errno := unix.RawSyscall6(unix.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(path)), unix.O_WRONLY|unix.O_CLOEXEC, 0, 0, 0)
	if errno != 0 {
		return false
	}
	n, _, errno := unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	unix.RawSyscall(unix.SYS_CLOSE, fd, 0, 0)
	return errno == 0 && n == uintptr(len(b))
}

func cString(s string) *byte {
	p, err := unix.BytePtrFromString(s)
	if err != nil {
		panic(err) // a constant path with no NUL
	}
	return p
}
