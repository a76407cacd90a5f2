// Command execforge is a static helper an exec attack test runs as a
// container's command: it lies in wait for the next process of its pid
// namespace (a command an exec helper forks into the container), stops
// it, and takes the fd the helper's sync socket has there (fd 3) while the
// command has not reached its execve yet. On that socket it forges the
// helper's report of a failed fork naming VICTIM as the forked command's
// pid, which berth then kills as its own.
//
//	execforge VICTIM OUT
//	execforge hold OUT
//
// With "hold" it only stops the next process that has not reached its
// execve yet (its comm is not the exec'd command's, "true") and leaves it
// stopped for good. Each attempt is appended to OUT, one line; "forged" ends the run. It
// gives up when OUT's directory holds a file named "stop".
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

func lastPid() int {
	b, _ := os.ReadFile("/proc/sys/kernel/ns_last_pid")
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

func logf(out, format string, a ...any) {
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	fmt.Fprintf(f, format+"\n", a...)
	f.Close()
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: execforge VICTIM OUT")
		os.Exit(2)
	}
	victim, out := os.Args[1], os.Args[2]
	stop := filepath.Join(filepath.Dir(out), "stop")
	self := os.Getpid()
	cand := lastPid() + 1
	logf(out, "armed pid %d", self)
	for i := 1; ; i++ {
		if i%(1<<16) == 0 {
			if _, err := os.Stat(stop); err == nil {
				logf(out, "gave up")
				return
			}
			if last := lastPid(); last > cand+16 {
				cand = last + 1
			}
		}
		if cand == self {
			cand++
		}
		switch err := unix.Kill(cand, unix.SIGSTOP); err {
		case unix.ESRCH:
			if i%64 == 0 {
				if last := lastPid(); last >= cand && unix.Kill(cand, 0) == unix.ESRCH {
					cand++
				}
			}
			continue
		case nil:
		default:
			logf(out, "pid %d: %v", cand, err)
			cand++
			continue
		}
		if victim == "hold" {
			if hold(out, cand) {
				for {
					time.Sleep(time.Hour)
				}
			}
		} else if forge(out, cand, victim) {
			return
		}
		unix.Kill(cand, unix.SIGCONT)
		cand = lastPid() + 1
	}
}

// forge takes pid's fd 3 and, if it is a socket, writes the forged report
// on it.
func forge(out string, pid int, victim string) bool {
	pfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		logf(out, "pid %d: pidfd_open: %v", pid, err)
		return false
	}
	defer unix.Close(pfd)
	fd, err := unix.PidfdGetfd(pfd, 3, 0)
	if err != nil {
		logf(out, "pid %d: missed (%v)", pid, err)
		return false
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		logf(out, "pid %d: fd 3 is not a socket", pid)
		return false
	}
	msg := `{"type":"error","step":"exec","pid":` + victim + `,"text":"forged"}`
	if _, err := unix.Write(fd, []byte(msg)); err != nil {
		logf(out, "pid %d: write: %v", pid, err)
		return false
	}
	logf(out, "forged on pid %d's sync socket", pid)
	unix.Kill(pid, unix.SIGKILL)
	return true
}

// hold keeps pid stopped if it is not past its execve yet.
func hold(out string, pid int) bool {
	var comm string
	for i := 0; i < 1000; i++ {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		f := strings.Fields(string(b))
		if len(f) > 2 && f[2] == "T" {
			comm = f[1]
			break
		}
	}
	if comm == "" || comm == "(true)" {
		return false
	}
	logf(out, "held pid %d comm %s", pid, comm)
	return true
}
