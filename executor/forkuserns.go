package executor

import (
	"encoding/binary"
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"github.com/berthrun/berth/nsinit"
	"golang.org/x/sys/unix"
)

// An exec into a task in a user namespace of its own must be born in that
// namespace: joined to the task's other namespaces from the host's, the
// helper would be the host's root with every capability over them, in the
// task's mount namespace. A process joins a user namespace only while it
// has a single thread, which no Go process has after its start, and
// os.StartProcess has no way to join one between its fork and its execve.
// So the exec helper is forked here by hand: clone3 without CLONE_VM (a
// copy of this one thread), non-dumpable, which joins the task's user
// namespace through the task's pidfd, becomes its root, and execs
// berth-init by an fd opened on the host. It is born outside the task's pid
// namespace, as every exec helper is (it joins it for the command it forks
// only): no process of the task can name it, let alone ptrace it, while it
// is in the host's mount namespace. (Born inside, it was taken over there:
// from its execve until its first step it is dumpable, its mm the task's
// user namespace's.)

// userNSFork is what the forked child needs, prepared before the fork: it
// may not allocate.
type userNSFork struct {
	// exe is berth-init opened O_PATH on the host, above every target
	// fd; empty is "" for execveat's AT_EMPTY_PATH.
	exe        uintptr
	empty      *byte
	argv, envp **byte
	// src[i] becomes the child's fd i; each is above len(src), so no
	// dup3 overwrites a source still to be moved.
	src   []int32
	pidfd uintptr
	errw  uintptr
	// report is the failed step and errno, little endian, written to
	// errw.
	report [8]byte
}

// Steps of the child, as reported on failure.
const (
	forkStepDumpable = iota + 1
	forkStepSetns
	forkStepGroups
	forkStepGID
	forkStepUID
	forkStepSetsid
	forkStepDup
	forkStepExec
)

var forkStepNames = map[uint32]string{
	forkStepDumpable: "non-dumpable", forkStepSetns: "join the task's user and mount namespaces", forkStepGroups: "setgroups", forkStepGID: "setresgid 0",
	forkStepUID: "setresuid 0", forkStepSetsid: "setsid", forkStepDup: "dup3", forkStepExec: "execveat",
}

// cloneArgsV2 is struct clone_args up to cgroup (CLONE_ARGS_SIZE_VER2).
type cloneArgsV2 struct {
	flags, pidfd, childTID, parentTID, exitSignal, stack, stackSize, tls, setTID, setTIDSize, cgroup uint64
}

// startInUserNS starts berth-init at path with files as its fds 0..n, in
// the user namespace of the process behind taskPidfd, as its root, in the
// calling thread's other namespaces, in a session of its own, and in the
// cgroup at cgroupFD unless it is negative. The calling thread must be
// locked.
func startInUserNS(path string, files []*os.File, taskPidfd, cgroupFD int) (*os.Process, error) {
	f := &userNSFork{pidfd: uintptr(taskPidfd)}
	var err error
	if f.empty, err = unix.BytePtrFromString(""); err != nil {
		return nil, err
	}
	exe, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("exec: start helper %s: %w", path, err)
	}
	// Above every target, as the sources are.
	high, err := unix.FcntlInt(uintptr(exe), unix.F_DUPFD_CLOEXEC, len(files))
	unix.Close(exe)
	if err != nil {
		return nil, fmt.Errorf("exec: dup: %w", err)
	}
	defer unix.Close(high)
	f.exe = uintptr(high)
	argv, err := syscall.SlicePtrFromStrings([]string{nsinit.InitArg0})
	if err != nil {
		return nil, err
	}
	envp, err := syscall.SlicePtrFromStrings([]string{"GOMAXPROCS=1"})
	if err != nil {
		return nil, err
	}
	f.argv, f.envp = &argv[0], &envp[0]
	// Copies of the fds above every target, closed on exec.
	for _, file := range files {
		fd, err := unix.FcntlInt(file.Fd(), unix.F_DUPFD_CLOEXEC, len(files))
		if err != nil {
			closeAll(f.src)
			return nil, fmt.Errorf("exec: dup: %w", err)
		}
		f.src = append(f.src, int32(fd))
	}
	defer closeAll(f.src)
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("exec: pipe: %w", err)
	}
	errr := os.NewFile(uintptr(p[0]), "fork-report")
	defer errr.Close()
	f.errw = uintptr(p[1])

	pidfd := int32(-1)
	args := &cloneArgsV2{
		flags:      unix.CLONE_PIDFD,
		pidfd:      uint64(uintptr(unsafe.Pointer(&pidfd))),
		exitSignal: uint64(unix.SIGCHLD),
	}
	if cgroupFD >= 0 {
		args.flags |= unix.CLONE_INTO_CGROUP
		args.cgroup = uint64(cgroupFD)
	}
	// No signal may reach the copy before its execve: the Go runtime's
	// handlers would run in a process without the runtime's other
	// threads. The mask stays blocked through the execve; the helper
	// clears it before the task's command (nsinit's signals step).
	var all, old unix.Sigset_t
	for i := range all.Val {
		all.Val[i] = ^uint64(0)
	}
	unix.PthreadSigmask(unix.SIG_SETMASK, &all, &old)
	pid, errno := forkIntoUserNS(args, f)
	unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	unix.Close(p[1])
	if errno != 0 {
		return nil, fmt.Errorf("exec: clone3: %w", errno)
	}
	unix.Close(int(pidfd))
	var rep [8]byte
	n, _ := errr.Read(rep[:])
	if n > 0 {
		// The child failed before its execve and exited: collect it.
		var ws unix.WaitStatus
		unix.Wait4(int(pid), &ws, 0, nil)
		step := binary.LittleEndian.Uint32(rep[0:4])
		return nil, fmt.Errorf("exec: start helper %s: %s: %w", path, forkStepNames[step], syscall.Errno(binary.LittleEndian.Uint32(rep[4:8])))
	}
	return os.FindProcess(int(pid))
}

func closeAll(fds []int32) {
	for _, fd := range fds {
		unix.Close(int(fd))
	}
}

// forkIntoUserNS forks the calling thread; the child carries out f and
// never returns. In the parent it returns the child's pid.
//
// The child is a copy of one thread of a Go process whose other threads
// may hold runtime locks: like the child half of syscall.forkExec, it runs
// only raw system calls, on the stack it has, without allocating
// (go:nosplit keeps stack growth out, go:norace the race detector).
//
//go:nosplit
//go:norace
func forkIntoUserNS(args *cloneArgsV2, f *userNSFork) (uintptr, unix.Errno) {
	pid, _, errno := unix.RawSyscall(unix.SYS_CLONE3, uintptr(unsafe.Pointer(args)), unsafe.Sizeof(*args), 0)
	if errno != 0 || pid != 0 {
		return pid, errno
	}
	// Not dumpable before the setns: from the setns to the setresgid the
	// copy is the host's uid 0 in the task's user namespace, where the
	// task's root holds CAP_SYS_PTRACE; dumpable (a copy of berth's mm),
	// it would be the task's to ptrace, in the host's mount namespace. Not
	// dumpable, it is reached only with CAP_SYS_PTRACE in the host's user
	// namespace (the mm's). The execve resets it.
	step := uint32(forkStepDumpable)
	_, _, errno = unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_DUMPABLE, 0, 0, 0, 0, 0)
	if errno == 0 {
		step = forkStepSetns
		_, _, errno = unix.RawSyscall(unix.SYS_SETNS, f.pidfd, unix.CLONE_NEWUSER, 0)
	}
	if errno == 0 {
		step = forkStepGroups
		_, _, errno = unix.RawSyscall(unix.SYS_SETGROUPS, 0, 0, 0)
	}
	if errno == 0 {
		step = forkStepGID
		_, _, errno = unix.RawSyscall(unix.SYS_SETRESGID, 0, 0, 0)
	}
	if errno == 0 {
		step = forkStepUID
		_, _, errno = unix.RawSyscall(unix.SYS_SETRESUID, 0, 0, 0)
	}
	if errno == 0 {
		step = forkStepSetsid
		_, _, errno = unix.RawSyscall(unix.SYS_SETSID, 0, 0, 0)
	}
	if errno == 0 {
		step = forkStepDup
		for i := 0; i < len(f.src) && errno == 0; i++ {
			_, _, errno = unix.RawSyscall(unix.SYS_DUP3, uintptr(f.src[i]), uintptr(i), 0)
		}
	}
	if errno == 0 {
		step = forkStepExec
		_, _, errno = unix.RawSyscall6(unix.SYS_EXECVEAT, f.exe, uintptr(unsafe.Pointer(f.empty)),
			uintptr(unsafe.Pointer(f.argv)), uintptr(unsafe.Pointer(f.envp)), unix.AT_EMPTY_PATH, 0)
	}
	for i := 0; i < 4; i++ {
		f.report[i] = byte(step >> (8 * i))
		f.report[4+i] = byte(uint32(errno) >> (8 * i))
	}
	unix.RawSyscall(unix.SYS_WRITE, f.errw, uintptr(unsafe.Pointer(&f.report[0])), 8)
	for {
		unix.RawSyscall(unix.SYS_EXIT_GROUP, 127, 0, 0)
	}
}
