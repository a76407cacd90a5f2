package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/berthrun/berth/internal/logs"
	"golang.org/x/sys/unix"
)

// reaperArg0 is argv[0] of a detached task's supervisor once it exec'd
// itself into this lean image to wait for the task.
const reaperArg0 = "berth-reaper"

// reaper is the resident part of a detached task's supervisor: it waits for
// the task, its child, and nothing more, so a long-running task costs the
// host as little memory as can be. When there is more to do (the task
// exited, or SIGTERM asks to stop it) it execs the full berth binary, which
// it holds as berthFD, as the reaper image "berth-reaper ... exited:STATUS"
// or "... stop"; the task stays a child of the process across the exec.
//
// argv: berthFD reportFD stateDir cgroupParent logLevel id pid stopSignal
// grace. Once it handles SIGTERM it sends the launch report on reportFD,
// which the supervisor kept open for it: `run -d` prints the id only then.
//
// It execs from the main thread: an execve from another thread of a
// process shows the process as a zombie for a moment (the kernel ends the
// old leader thread), and the verbs would take the supervisor for dead.
func reaper(args []string) int {
	if len(args) != 9 {
		fmt.Fprintf(os.Stderr, "berth: reaper: want 9 arguments, got %d\n", len(args))
		return 125
	}
	berthFD, err1 := strconv.Atoi(args[0])
	reportFD, err2 := strconv.Atoi(args[1])
	pid, err3 := strconv.Atoi(args[6])
	if err1 != nil || err2 != nil || err3 != nil || berthFD < 3 || reportFD < 3 || pid <= 0 {
		fmt.Fprintf(os.Stderr, "berth: reaper: bad fds %q, %q or pid %q\n", args[0], args[1], args[6])
		return 125
	}
	id := args[5]
	args = append([]string{args[0]}, args[2:]...)
	// Its /proc entries, the fd of berth's binary among them, stay closed
	// to a task that sees the host's processes (--pid host).
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	// SIGINT and SIGHUP are caught, not ignored: an ignored signal would
	// stay ignored in the full image too.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGINT, syscall.SIGHUP)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	_ = os.WriteFile(fmt.Sprintf("/proc/self/task/%d/comm", os.Getpid()), []byte(reaperArg0), 0)
	// The id is a task id (letters, digits, '_', '.', '-'): nothing in it
	// needs escaping in JSON.
	// Only ever into a pipe: were the fd not passed on, the number could
	// be a file this process opened itself.
	var st unix.Stat_t
	if err := unix.Fstat(reportFD, &st); err == nil && st.Mode&unix.S_IFMT == unix.S_IFIFO {
		rep := os.NewFile(uintptr(reportFD), "report")
		fmt.Fprintf(rep, "{\"id\":%q,\"pid\":%d}\n", id, pid)
		rep.Close()
	}

	// Wait without reaping (WNOWAIT) in a goroutine, and hand over from
	// this one, the main thread's (see init): the task is reaped in the
	// hand-over, by whichever image it goes to, never twice.
	// The task's output in its state dir stays bounded while it runs.
	go func() { _ = logs.Watch(filepath.Join(args[1], id), make(chan struct{})) }()
	exited := make(chan error, 1)
	go func() {
		for {
			var info unix.Siginfo
			err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
			if err != unix.EINTR {
				exited <- err
				return
			}
		}
	}()
	mode := "stop"
	select {
	case <-sigs:
	case err := <-exited:
		if err == nil {
			var ws syscall.WaitStatus
			for {
				_, err := syscall.Wait4(pid, &ws, 0, nil)
				if err != syscall.EINTR {
					break
				}
			}
			mode = "exited:" + strconv.Itoa(int(ws))
		}
		// Else the full image, reaping, reports what is wrong.
	}
	argv := append([]string{reaperArg0}, args[1:]...)
	err := unix.Exec(fmt.Sprintf("/proc/self/fd/%d", berthFD), append(argv, mode), os.Environ())
	fmt.Fprintf(os.Stderr, "berth: reaper: exec berth: %v\n", err)
	return 125
}
