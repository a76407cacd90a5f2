// Package lcbench runs tasks through runc's libcontainer, configured the
// way Nomad's exec-driver executor configures it
// (drivers/shared/executor/executor_linux.go: newLibcontainerConfig), so
// that berth can be measured against it in the same process and run.
//
// A program that imports lcbench must call Init first thing: libcontainer
// re-executes the program's own binary as "PROG init" inside the new
// namespaces (after the cgo nsenter constructor imported here has joined
// them), and Init turns that process into libcontainer's init.
package lcbench

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/berthrun/berth/bench/internal/benchutil"
	"github.com/berthrun/berth/caps"
	"github.com/berthrun/berth/mounts"
	"github.com/opencontainers/cgroups"
	devices "github.com/opencontainers/cgroups/devices/config"
	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	"golang.org/x/sys/unix"

	// The cgroup managers write device rules only with this imported; Nomad
	// sets the default allow-list, so the rules are written here too.
	_ "github.com/opencontainers/cgroups/devices"
	// The C constructor that sets up namespaces before the Go runtime of
	// the "init" child starts (runc's main.go imports it the same way).
	_ "github.com/opencontainers/runc/libcontainer/nsenter"
)

// CgroupParent is the cgroup below which every container's cgroup is made,
// in every v1 hierarchy libcontainer's fs manager uses.
var CgroupParent = filepath.Join(benchutil.CgroupParent, "libcontainer")

// Init is libcontainer's init stage. It never returns when this process is
// "PROG init" started by libcontainer; otherwise it returns at once. It
// runs in the child, as runc's own init.go does it.
func Init() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		libcontainer.Init()
	}
}

// Config returns the container configuration of one task in rootfs, as
// Nomad's executor builds it, with these changes, which give libcontainer the
// same work as berth's default isolation:
//
//   - namespaces: mount, pid and ipc as Nomad, plus uts (berth's default);
//   - masked and read-only paths: berth's lists (a superset of Nomad's
//     /proc/kcore, /sys/firmware and /proc/{sys,sysrq-trigger,irq,bus});
//   - capabilities: berth's default set in bounding, effective, permitted
//     and inheritable (Nomad gives root every capability);
//   - no_new_privs on, as berth does.
//
// The mounts, devices and device cgroup rules are Nomad's: tmpfs /dev,
// proc, devpts, /dev/shm, mqueue and a read-only sysfs, and
// specconv.AllowedDevices. The cgroup is a cgroupfs one at
// /CgroupParent/id.
func Config(rootfs, id string) *configs.Config {
	const defaultMountFlags = unix.MS_NOEXEC | unix.MS_NOSUID | unix.MS_NODEV
	var rules []*devices.Rule
	for _, d := range specconv.AllowedDevices {
		rules = append(rules, &d.Rule)
	}
	set := append([]string(nil), caps.Default...)
	return &configs.Config{
		Rootfs: rootfs,
		Capabilities: &configs.Capabilities{
			Bounding:    set,
			Effective:   set,
			Permitted:   set,
			Inheritable: set,
		},
		Namespaces: configs.Namespaces{
			{Type: configs.NEWNS},
			{Type: configs.NEWPID},
			{Type: configs.NEWIPC},
			{Type: configs.NEWUTS},
		},
		MaskPaths:       append([]string(nil), mounts.MaskedPaths...),
		ReadonlyPaths:   append([]string(nil), mounts.ReadOnlyPaths...),
		NoNewPrivileges: true,
		Devices:         specconv.AllowedDevices,
		Mounts: []*configs.Mount{
			{Source: "tmpfs", Destination: "/dev", Device: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_STRICTATIME, Data: "mode=755"},
			{Source: "proc", Destination: "/proc", Device: "proc", Flags: defaultMountFlags},
			{Source: "devpts", Destination: "/dev/pts", Device: "devpts", Flags: unix.MS_NOSUID | unix.MS_NOEXEC, Data: "newinstance,ptmxmode=0666,mode=0620,gid=5"},
			{Source: "shm", Destination: "/dev/shm", Device: "tmpfs", Flags: defaultMountFlags, Data: "mode=1777,size=65536k"},
			{Source: "mqueue", Destination: "/dev/mqueue", Device: "mqueue", Flags: defaultMountFlags},
			{Source: "sysfs", Destination: "/sys", Device: "sysfs", Flags: defaultMountFlags | unix.MS_RDONLY},
		},
		Cgroups: &cgroups.Cgroup{
			Path:      "/" + filepath.Join(CgroupParent, id),
			Resources: &cgroups.Resources{Devices: rules},
		},
		Version: "1.0.0",
	}
}

// Container is one started libcontainer task.
type Container struct {
	c *libcontainer.Container
	p *libcontainer.Process
}

// Start creates the container (state in stateRoot/id, cgroup, exec fifo)
// and runs args in it, returning once the task's command runs: the same
// point berth's Launch returns at.
func Start(stateRoot, rootfs, id string, args []string) (*Container, error) {
	c, err := libcontainer.Create(stateRoot, id, Config(rootfs, id))
	if err != nil {
		return nil, fmt.Errorf("libcontainer create %s: %w", id, err)
	}
	p := &libcontainer.Process{
		Args: args,
		Env:  []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Cwd:  "/",
		Init: true,
	}
	if err := c.Run(p); err != nil {
		_ = c.Destroy()
		return nil, fmt.Errorf("libcontainer run %s: %w", id, err)
	}
	return &Container{c: c, p: p}, nil
}

// Pid is the task's pid on the host.
func (c *Container) Pid() int {
	pid, _ := c.p.Pid()
	return pid
}

// Wait waits for the task's main process, then destroys the container
// (kills what is left, removes its cgroups and state), and returns the
// exit code.
func (c *Container) Wait() (int, error) {
	ps, werr := c.p.Wait()
	derr := c.c.Destroy()
	code := -1
	if ps != nil {
		code = ps.ExitCode()
	}
	if derr != nil {
		return code, fmt.Errorf("libcontainer destroy: %w", derr)
	}
	if werr != nil && ps == nil {
		return code, fmt.Errorf("libcontainer wait: %w", werr)
	}
	return code, nil
}

// Kill sends SIGKILL to the task's main process; with pid namespace the
// kernel then kills everything else in it.
func (c *Container) Kill() error {
	return c.c.Signal(unix.SIGKILL)
}

// Run starts args in a new container and waits for it: the launch-to-exit
// path of one task.
func Run(stateRoot, rootfs, id string, args []string) error {
	c, err := Start(stateRoot, rootfs, id, args)
	if err != nil {
		return err
	}
	code, err := c.Wait()
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("libcontainer: task exited with %d", code)
	}
	return nil
}
