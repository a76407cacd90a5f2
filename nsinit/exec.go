package nsinit

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// execSteps is the exec helper: a process started by berth from the host
// side (by a host path, never one looked up inside the task), already in
// the task's ipc, uts and network namespaces and its cgroup (and, in a
// task with a user namespace of its own, in that), but not in its pid
// namespace, where the task could see it. It joins the task's mount
// namespace itself, and its pid namespace for its children only, takes on
// the task's credentials as recorded at launch, and forks the command
// into the task (forkCommand). Everything here runs in the child.
var execSteps = append([]step{
	{"non-dumpable", nonDumpable},
	// The task's v1 cgroups (a hybrid host's), joined by the thread that
	// execs, before any path resolves inside the task.
	{"cgroup join", joinCgroups},
	{"oom_score_adj", setOOMScoreAdj},
	// Armed here, not at the fork: a helper born in another pid namespace
	// than its parent's sees its parent as pid 0, which the runtime's own
	// check at the fork takes for a dead parent. (The command it forks
	// arms its own.)
	{"parent death signal", func(c *child) error {
		return when(c.plan.KillWithParent, func() error { return unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0) })
	}},
	// From here every path resolves inside the task, where a hostile task
	// may have planted anything: the files read below with berth's
	// privileges (passwd, group, the ptmx) are opened without following
	// magic links and checked, and the only file executed is the command,
	// after the credential drop.
	{"join mount namespace", joinMountNamespace},
}, credentialSteps...)

// joinMountNamespace enters the task's mount namespace through the pidfd of
// its main process (TaskFD), which the parent verified. setns into a mount
// namespace refuses a thread that shares its fs_struct (root, cwd) with
// other threads, as every Go runtime thread does: this thread, the locked
// main thread that will execve, unshares it first. setns also moves root
// and cwd to the namespace's root, the task's "/".
func joinMountNamespace(c *child) error {
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare fs: %w", err)
	}
	if err := unix.Setns(TaskFD, unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("setns mount namespace: %w", err)
	}
	// The task's pid namespace, for the command this thread forks at the
	// end (forkCommand): the helper itself stays out of the task's sight.
	if err := unix.Setns(TaskFD, unix.CLONE_NEWPID); err != nil {
		return fmt.Errorf("setns pid namespace: %w", err)
	}
	// The preserved fds' copies above the numbers they take in the
	// command, made before the task's limits, which need not allow them
	// (a command with fds 3 to N+2 needs N+3; the copies take N more).
	high, err := preservedAbove(c.plan.PreserveFDs)
	if err != nil {
		return err
	}
	c.forkPreserved = high
	// forkCommand's report pipe, made before the task's filter, which may
	// refuse pipe2. Above the preserved fds' numbers too: the fds the
	// helper closed (its v1 cgroups') leave low numbers free, where the
	// fork's dup3 of a preserved fd would replace the pipe's written end
	// and a failed execve would be reported into the caller's file.
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return fmt.Errorf("pipe: %w", err)
	}
	for i, fd := range p {
		h, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 3+len(c.plan.PreserveFDs))
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("pipe: %w", err)
		}
		c.forkReport[i] = h
	}
	if c.plan.ExecChroot {
		// The task shares the host's mount namespace, whose "/" setns
		// moved us to: its root is the directory it was chrooted into.
		if err := unix.Fchdir(ChrootFD); err != nil {
			return fmt.Errorf("the task's root: %w", err)
		}
		if err := unix.Chroot("."); err != nil {
			return fmt.Errorf("chroot into the task's root: %w", err)
		}
		unix.Close(ChrootFD)
	}
	return unix.Close(TaskFD)
}
