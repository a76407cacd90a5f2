// Command wrapper stands where containerd's runc shim expects runc: it
// appends one line per call to a log (time, shim pid, cwd, argv, the fds it
// was handed), keeps a copy of the runtime's --log file (the bundle holding
// it is removed by delete), then execs the runtime under test with the same
// argv, so the runtime sees exactly what the shim passed.
//
// Its settings are in the JSON file beside it, <its path>.json: written by
// the harness, since the shim gives the runtime no way to pass them.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type config struct {
	Runtime string `json:"runtime"`  // the runtime under test
	ArgvLog string `json:"argv_log"` // one line per call
	LogsDir string `json:"logs_dir"` // copies of --log files, <id>.log.json
}

func main() {
	self, err := os.Executable()
	if err != nil {
		fail(err)
	}
	b, err := os.ReadFile(self + ".json")
	if err != nil {
		fail(err)
	}
	var c config
	if err := json.Unmarshal(b, &c); err != nil {
		fail(err)
	}
	fds := inheritedFDs()
	cwd, _ := os.Getwd()
	args := os.Args[1:]
	var line strings.Builder
	fmt.Fprintf(&line, "%s ppid=%d cwd=%s argv:", time.Now().Format("15:04:05.000000"), os.Getppid(), cwd)
	for _, a := range args {
		fmt.Fprintf(&line, " %s", quote(a))
	}
	fmt.Fprintf(&line, " | fds: %s\n", strings.Join(fds, " "))
	if f, err := os.OpenFile(c.ArgvLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err == nil {
		_, _ = f.WriteString(line.String())
		f.Close()
	}
	if logFile := flagValue(args, "--log"); logFile != "" {
		if data, err := os.ReadFile(logFile); err == nil && len(data) > 0 {
			id := filepath.Base(filepath.Dir(logFile))
			_ = os.WriteFile(filepath.Join(c.LogsDir, id+".log.json"), data, 0o600)
		}
	}
	argv := append([]string{c.Runtime}, args...)
	fail(syscall.Exec(c.Runtime, argv, os.Environ()))
}

// inheritedFDs lists, as "N=target", the fds the runtime will get: those
// open without close-on-exec. (The Go runtime's own, such as its epoll fd
// and the cgroup files it reads for GOMAXPROCS, are close-on-exec.)
func inheritedFDs() []string {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	own := strconv.Itoa(int(d.Fd()))
	sort.Slice(names, func(i, j int) bool {
		a, _ := strconv.Atoi(names[i])
		b, _ := strconv.Atoi(names[j])
		return a < b
	})
	var out []string
	for _, n := range names {
		fd, err := strconv.Atoi(n)
		if err != nil || n == own {
			continue
		}
		flags, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0)
		if errno != 0 || flags&syscall.FD_CLOEXEC != 0 {
			continue
		}
		target, err := os.Readlink("/proc/self/fd/" + n)
		if err != nil {
			continue
		}
		out = append(out, n+"="+target)
	}
	return out
}

// flagValue is the value of a --name VALUE or --name=VALUE flag.
func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

func quote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$") {
		return s
	}
	return strconv.Quote(s)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "runtime wrapper:", err)
	os.Exit(125)
}
