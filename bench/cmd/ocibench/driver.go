package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A driver is a child of the benchmark that runs one runtime's cycles: it
// is its containers' subreaper (a runtime's create returns while the
// container's process lives on, reparented to the driver), so it can
// wait4 the pid the runtime wrote. Every runtime gets a driver of its own,
// the same code, so that all are timed from the same kind of parent; a
// driver with hideV2 lives in a private mount namespace with a tmpfs over
// the cgroup2 hierarchy (crun 1.8 refuses a hybrid host), which the
// runtime's calls inherit.
//
// Protocol, one JSON value a line: the benchmark writes a driverConfig,
// then "cycle" lines; the driver answers each with a cycleResult. EOF or
// SIGTERM ends it: it finishes the cycle in flight, force-deletes its
// container if one is left, reaps, and exits.

// driverArg as os.Args[1] makes the benchmark binary a driver.
const driverArg = "__ocibench-driver"

// hideV2Arg as os.Args[1] makes it hide the cgroup2 hierarchy and exec
// os.Args[2:] (containerd for crun).
const hideV2Arg = "__ocibench-hidev2-exec"

type driverConfig struct {
	Runtime []string `json:"runtime"` // binary and global flags (--root DIR ...)
	Bundle  string   `json:"bundle"`
	ID      string   `json:"id"`
	PidFile string   `json:"pid_file"`
	ErrFile string   `json:"err_file"` // runtime stderr, emptied before each call
	HideV2  bool     `json:"hide_v2"`
}

// cycleResult is one create, start, wait, delete, in nanoseconds.
type cycleResult struct {
	Create, Start, Wait, Delete, Total time.Duration
	// Extra counts children reaped besides the container's process
	// (intermediate processes a runtime left to the subreaper).
	Extra int
	Err   string `json:",omitempty"`
}

// hideCgroupV2 mounts a tmpfs over the cgroup2 hierarchy of a hybrid host
// in this process's mount namespace, which must be a private one (the
// caller started us with CLONE_NEWNS in Unshareflags: Go makes / private
// there before exec).
func hideCgroupV2() error {
	if err := unix.Mount("none", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	if err := unix.Mount("ocibench", "/sys/fs/cgroup/unified", "tmpfs", 0, ""); err != nil {
		return fmt.Errorf("tmpfs over /sys/fs/cgroup/unified: %w", err)
	}
	return nil
}

// hideV2Exec is the hideV2Arg mode: hide cgroup2, then become argv.
func hideV2Exec(argv []string) {
	if err := hideCgroupV2(); err != nil {
		fmt.Fprintln(os.Stderr, "ocibench:", err)
		os.Exit(1)
	}
	err := unix.Exec(argv[0], argv, os.Environ())
	fmt.Fprintln(os.Stderr, "ocibench: exec", argv[0], err)
	os.Exit(1)
}

func driverMain() {
	signal.Ignore(syscall.SIGINT) // the benchmark decides; it sends SIGTERM
	in := bufio.NewScanner(os.Stdin)
	out := json.NewEncoder(os.Stdout)
	var cfg driverConfig
	if !in.Scan() || json.Unmarshal(in.Bytes(), &cfg) != nil {
		fmt.Fprintln(os.Stderr, "ocibench driver: no config on stdin")
		os.Exit(2)
	}
	if cfg.HideV2 {
		if err := hideCgroupV2(); err != nil {
			fmt.Fprintln(os.Stderr, "ocibench driver:", err)
			os.Exit(2)
		}
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "ocibench driver: PR_SET_CHILD_SUBREAPER:", err)
		os.Exit(2)
	}
	errFile, err := os.Create(cfg.ErrFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ocibench driver:", err)
		os.Exit(2)
	}
	d := &driver{cfg: cfg, errFile: errFile}

	// A cycle in flight finishes before the driver cleans up and exits.
	var mu sync.Mutex
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	go func() {
		<-sigs
		mu.Lock()
		d.cleanup()
		os.Exit(0)
	}()
	for in.Scan() {
		if in.Text() != "cycle" {
			fmt.Fprintf(os.Stderr, "ocibench driver: unknown command %q\n", in.Text())
			break
		}
		mu.Lock()
		r := d.cycle()
		mu.Unlock()
		if err := out.Encode(r); err != nil {
			break
		}
	}
	mu.Lock()
	d.cleanup()
	os.Exit(0)
}

type driver struct {
	cfg     driverConfig
	errFile *os.File
	live    bool // a create succeeded and no delete did yet
}

// cycle is create, start, wait4 of the container's process, delete.
func (d *driver) cycle() cycleResult {
	var r cycleResult
	_ = os.Remove(d.cfg.PidFile)
	t0 := time.Now()
	if err := d.call("create", "--bundle", d.cfg.Bundle, "--pid-file", d.cfg.PidFile, d.cfg.ID); err != nil {
		r.Err = err.Error()
		return r
	}
	t1 := time.Now()
	d.live = true
	if err := d.call("start", d.cfg.ID); err != nil {
		r.Err = err.Error()
		return r
	}
	t2 := time.Now()
	pid, err := readPid(d.cfg.PidFile)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	var ws unix.WaitStatus
	for {
		_, err = unix.Wait4(pid, &ws, 0, nil)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	t3 := time.Now()
	if err != nil {
		r.Err = fmt.Sprintf("wait4 %d (the pid file's; is it our child?): %v", pid, err)
		return r
	}
	if !ws.Exited() || ws.ExitStatus() != 0 {
		r.Err = fmt.Sprintf("container process %d: not exit 0: status %#x", pid, uint32(ws))
		return r
	}
	if err := d.call("delete", d.cfg.ID); err != nil {
		r.Err = err.Error()
		return r
	}
	t4 := time.Now()
	d.live = false
	r.Extra = reapAll()
	r.Create, r.Start, r.Wait, r.Delete, r.Total = t1.Sub(t0), t2.Sub(t1), t3.Sub(t2), t4.Sub(t3), t4.Sub(t0)
	return r
}

// call runs the runtime with its global flags and args, stdin and stdout
// /dev/null, stderr the error file, and fails unless it exits 0.
func (d *driver) call(args ...string) error {
	if err := d.errFile.Truncate(0); err != nil {
		return err
	}
	if _, err := d.errFile.Seek(0, 0); err != nil {
		return err
	}
	argv := append(append([]string(nil), d.cfg.Runtime...), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = d.errFile
	if err := cmd.Run(); err != nil {
		msg, _ := os.ReadFile(d.errFile.Name())
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(msg)))
	}
	return nil
}

// cleanup force-deletes a container a cycle left and reaps what is left.
func (d *driver) cleanup() {
	if d.live {
		if err := d.call("delete", "--force", d.cfg.ID); err != nil {
			fmt.Fprintln(os.Stderr, "ocibench driver: cleanup:", err)
		}
		d.live = false
	}
	time.Sleep(50 * time.Millisecond)
	reapAll()
}

// reapAll reaps every child that has exited, without waiting.
func reapAll() int {
	n := 0
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err != nil || pid <= 0 {
			return n
		}
		n++
	}
}

func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s: %q", path, b)
	}
	return pid, nil
}

// driverProc is the benchmark's end of a driver.
type driverProc struct {
	name string
	cmd  *exec.Cmd
	in   *os.File
	out  *bufio.Scanner
	done chan struct{}
}

// startDriver starts the benchmark binary as a driver for cfg, in its own
// process group (Ctrl-C reaches only the benchmark, which then stops the
// drivers), in a private mount namespace when cfg.HideV2. Should the
// benchmark die, the driver reads EOF, cleans up and exits.
func startDriver(name string, cfg driverConfig) (*driverProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, driverArg)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if cfg.HideV2 {
		cmd.SysProcAttr.Unshareflags = syscall.CLONE_NEWNS
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &driverProc{name: name, cmd: cmd, in: stdin.(*os.File), out: bufio.NewScanner(stdout), done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	b, _ := json.Marshal(cfg)
	if _, err := p.in.Write(append(b, '\n')); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// cycle asks the driver for one cycle.
func (p *driverProc) cycle() (cycleResult, error) {
	var r cycleResult
	if _, err := p.in.Write([]byte("cycle\n")); err != nil {
		return r, fmt.Errorf("%s driver: %w", p.name, err)
	}
	if !p.out.Scan() {
		return r, fmt.Errorf("%s driver: exited", p.name)
	}
	if err := json.Unmarshal(p.out.Bytes(), &r); err != nil {
		return r, fmt.Errorf("%s driver: %w", p.name, err)
	}
	if r.Err != "" {
		return r, fmt.Errorf("%s: %s", p.name, r.Err)
	}
	return r, nil
}

// stop ends the driver: SIGTERM (it finishes its cycle and cleans up),
// SIGKILL after 30 s.
func (p *driverProc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		fmt.Fprintf(os.Stderr, "ocibench: %s driver did not exit in 30s: killing it\n", p.name)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}
