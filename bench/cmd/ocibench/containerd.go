package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ctrNamespace is the containerd namespace of every container here.
const ctrNamespace = "berth-bench"

// daemon is one containerd, set up as test/containerd's harness sets up
// its own: root, state, temp and both sockets under a directory of ours,
// CRI, NRI and opt off; the runc shim found on PATH from the same build.
// Each runtime gets a daemon of its own, all alike, except that crun's
// runs in a private mount namespace with the cgroup2 hierarchy hidden
// (crun 1.8 refuses a hybrid host), which its shims and crun inherit.
type daemon struct {
	name    string   // the runtime's side name
	runtime string   // --runc-binary
	env     []string // added to the daemon's (and so its shims' and runtime's)
	bin     string   // directory of containerd, ctr, containerd-shim-runc-v2
	dir     string
	sock    string
	cmd     *exec.Cmd
	done    chan struct{}
}

func (d *daemon) ctrArgv(args ...string) []string {
	return append([]string{filepath.Join(d.bin, "ctr"), "--address", d.sock, "--namespace", ctrNamespace}, args...)
}

// start writes the daemon's config and starts it in its own process
// group, waiting until ctr gets an answer.
func (d *daemon) start(hideV2 bool) error {
	for _, sub := range []string{"root", "state", "tmp", "runtime-root", "fifo"} {
		if err := os.MkdirAll(filepath.Join(d.dir, sub), 0o700); err != nil {
			return err
		}
	}
	d.sock = filepath.Join(d.dir, "containerd.sock")
	q := strconv.Quote
	config := `version = 3
root = ` + q(filepath.Join(d.dir, "root")) + `
state = ` + q(filepath.Join(d.dir, "state")) + `
temp = ` + q(filepath.Join(d.dir, "tmp")) + `
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.cri.v1.images",
  "io.containerd.cri.v1.runtime",
  "io.containerd.podsandbox.controller.v1.podsandbox",
  "io.containerd.nri.v1.nri",
  "io.containerd.internal.v1.opt",
]

[grpc]
  address = ` + q(d.sock) + `

[ttrpc]
  address = ` + q(d.sock+".ttrpc") + `
`
	cfg := filepath.Join(d.dir, "config.toml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(d.dir, "containerd.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	argv := []string{filepath.Join(d.bin, "containerd"), "--config", cfg}
	d.cmd = exec.Command(argv[0], argv[1:]...)
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if hideV2 {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		d.cmd = exec.Command(self, append([]string{hideV2Arg}, argv...)...)
		d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Unshareflags: syscall.CLONE_NEWNS}
	}
	d.cmd.Env = append(append(os.Environ(), d.env...), "PATH="+d.bin+":"+os.Getenv("PATH"))
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	if err := d.cmd.Start(); err != nil {
		return err
	}
	d.done = make(chan struct{})
	go func() {
		_ = d.cmd.Wait()
		close(d.done)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v := d.ctrArgv("version")
		if exec.Command(v[0], v[1:]...).Run() == nil {
			return nil
		}
		select {
		case <-d.done:
			log, _ := os.ReadFile(filepath.Join(d.dir, "containerd.log"))
			return fmt.Errorf("containerd (%s) exited at start: %s\n%s", d.name, d.cmd.ProcessState, tail(string(log), 20))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("containerd (%s) did not answer on %s in 30s", d.name, d.sock)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runArgv is `ctr run --rm` of /bin/true in rootfs with the side's
// runtime, its own runtime root, fifo dir and a cgroup below ours.
func (d *daemon) runArgv(rootfs, id string) []string {
	return d.ctrArgv("run", "--rm", "--rootfs",
		"--runc-binary", d.runtime,
		"--runc-root", filepath.Join(d.dir, "runtime-root"),
		"--cgroup", "/"+cgroupParent+"/"+id,
		"--fifo-dir", filepath.Join(d.dir, "fifo"),
		"--env", "PATH=/bin",
		rootfs, id, "/bin/true")
}

// stop removes what containers are left through the daemon, stops it
// (SIGTERM, SIGKILL after 15 s) and kills the shims that outlived it,
// removing their sockets in /run/containerd/s.
func (d *daemon) stop() error {
	if d.cmd == nil || d.done == nil {
		return nil
	}
	var errs []error
	select {
	case <-d.done:
	default:
		ls := d.ctrArgv("container", "ls", "-q")
		if out, err := exec.Command(ls[0], ls[1:]...).Output(); err == nil {
			for _, id := range strings.Fields(string(out)) {
				for _, args := range [][]string{
					{"task", "kill", "--all", "--signal", "SIGKILL", id},
					{"task", "delete", "--force", id},
					{"container", "rm", id},
				} {
					a := d.ctrArgv(args...)
					_ = exec.Command(a[0], a[1:]...).Run()
				}
			}
		}
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(15 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.done
		}
	}
	shims := procsMatching(func(argv []string) bool {
		return filepath.Base(argv[0]) == "containerd-shim-runc-v2" && slices.Contains(argv, d.sock)
	})
	var sockets []string
	for _, pid := range shims {
		sockets = append(sockets, listeningSockets(pid, "/run/containerd/s/")...)
		killPid(pid)
	}
	if len(shims) > 0 {
		time.Sleep(100 * time.Millisecond)
	}
	for _, s := range sockets {
		if err := os.Remove(s); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
