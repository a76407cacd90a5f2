package nsinit

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// kernelSigaction is struct sigaction as the rt_sigaction system call takes
// it on amd64 and arm64.
type kernelSigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

const sigIgn = 1 // SIG_IGN

// resetSignals gives the task default signal handling. It runs in the
// child just before execve, which resets handled signals but keeps ignored
// ones ignored and keeps the calling thread's blocked mask: a berth started
// with SIGINT ignored (a shell's background job, nohup) would otherwise
// hand the task a SIGINT it can neither act on nor trap, and a stop with
// the stop signal would always run out the grace.
func resetSignals(c *child) error {
	for sig := 1; sig <= 64; sig++ {
		if sig == int(unix.SIGKILL) || sig == int(unix.SIGSTOP) {
			continue
		}
		var old kernelSigaction
		if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), 0, uintptr(unsafe.Pointer(&old)), 8, 0, 0); e != 0 {
			continue // a number the kernel does not have
		}
		if old.handler != sigIgn {
			continue // the Go runtime's handlers: execve resets them
		}
		def := kernelSigaction{}
		if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&def)), 0, 8, 0, 0); e != 0 {
			return fmt.Errorf("reset signal %d: %w", sig, e)
		}
	}
	var none uint64
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&none)), 0, 8, 0, 0); e != 0 {
		return fmt.Errorf("unblock signals: %w", e)
	}
	return nil
}
