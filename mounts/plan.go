// Package mounts describes a task's filesystem as data and carries it out.
//
// The parent builds the plan ([]Op) with Plan; the re-exec'd child applies it
// with Apply (before pivot_root, relative to the task root), Pivot, then Mask
// and ReadOnly (after pivot_root, on the task's own /proc and /sys). Keeping
// the plan as data lets it be compared in unit tests without root.
package mounts

import (
	"fmt"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Kind says what an Op does.
type Kind string

const (
	// KindBind bind-mounts the host path Source onto Dest (before pivot_root).
	KindBind Kind = "bind"
	// KindMount mounts a new filesystem of type FSType at Dest.
	KindMount Kind = "mount"
	// KindSymlink creates a symlink at Dest pointing to Source.
	KindSymlink Kind = "symlink"
	// KindMask hides Dest: a file behind /dev/null, a directory behind an
	// empty read-only tmpfs. Applied after pivot_root; absent paths are skipped.
	KindMask Kind = "mask"
	// KindReadOnly re-binds Dest onto itself read-only. Applied after
	// pivot_root; absent paths are skipped.
	KindReadOnly Kind = "readonly"
	// KindDevice makes the device node Node at Dest (an OCI bundle's
	// linux.devices), in the order of the plan, after the mounts before it.
	KindDevice Kind = "device"
)

// Op is one step of a task's filesystem setup. Dest is always an absolute
// path inside the task root.
type Op struct {
	Kind   Kind    `json:"kind"`
	Source string  `json:"source,omitempty"`
	Dest   string  `json:"dest"`
	FSType string  `json:"fstype,omitempty"`
	Flags  uintptr `json:"flags,omitempty"`
	Data   string  `json:"data,omitempty"`
	// ReadOnly remounts a bind read-only after binding it.
	ReadOnly bool `json:"ro,omitempty"`
	// Recursive binds the whole tree below Source (MS_REC).
	Recursive bool `json:"rec,omitempty"`
	// Optional skips the op when Source (bind) does not exist.
	Optional bool `json:"optional,omitempty"`
	// OthersOnly idmaps a bind so that no file or directory in it is the
	// task's own, nor its group's, and its capabilities do not override
	// their permissions: the task gets the bits the host gives to others
	// (see the rule in secrets.go).
	OthersOnly bool `json:"others,omitempty"`
	// Attr are mount attributes (MOUNT_ATTR_*) a bind gets besides
	// read-only and nodev: nosuid, noexec and the atime ones.
	Attr uint64 `json:"attr,omitempty"`
	// Node is KindDevice's node.
	Node *Node `json:"node,omitempty"`
	// Propagation (MS_SHARED, MS_SLAVE, MS_PRIVATE or MS_UNBINDABLE,
	// with MS_REC) is set on the mount once it is in place, within the
	// task's mount namespace.
	Propagation uintptr `json:"propagation,omitempty"`
}

// Bind is a user-requested bind mount.
type Bind struct {
	Source   string
	Dest     string
	ReadOnly bool
}

// Node is a device node to make: Type "c", "b" or "p" (a fifo), its
// numbers, permission bits and owner.
type Node struct {
	Type  string `json:"type"`
	Major int64  `json:"major"`
	Minor int64  `json:"minor"`
	Mode  uint32 `json:"mode"`
	UID   uint32 `json:"uid"`
	GID   uint32 `json:"gid"`
}

// Config is what the plan depends on.
type Config struct {
	// HostDirs adds the default task dir's content: read-only binds of the
	// host's system directories, with what the host keeps from others
	// hidden (OthersOnly), and a tmpfs /tmp.
	HostDirs bool
	// HostRoot is where the host directories are read from ("/" unless a
	// test says otherwise).
	HostRoot string
	// Binds are extra bind mounts, applied after the standard mounts.
	Binds []Bind
	// ShmSize is the size of /dev/shm in bytes; 64 MiB when zero.
	ShmSize int64
	// TmpSize caps the default task dir's /tmp, in bytes; none when zero.
	TmpSize int64
	// Filesystem, when not nil, replaces the standard mounts and Binds:
	// the task gets exactly these (an OCI bundle's mounts), then the
	// standard device nodes and links in its /dev, then Masked and
	// ReadOnly instead of MaskedPaths and ReadOnlyPaths.
	Filesystem       []FSMount
	Masked, ReadOnly []string
	// Nodes are device nodes made after Filesystem, by path.
	Nodes map[string]Node
	// BindNodes binds the host's node at each character or block
	// device's path instead of making it (a task in a user namespace
	// cannot mknod): the host's node must be that device, and keeps its
	// owner and mode.
	BindNodes bool
}

// HostSystemDirs are bound read-only into the default task dir when they
// exist on the host.
var HostSystemDirs = []string{"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/usr", "/etc"}

// MaskedPaths are hidden from every task: they leak host kernel memory,
// keys, timers and hardware details.
var MaskedPaths = []string{
	"/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
	"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
	"/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
}

// ReadOnlyPaths stay visible but cannot be written: through them a task
// could change host-wide kernel settings or trigger sysrq.
var ReadOnlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}

// Devices are the host's device nodes a task gets in its /dev. They are
// bind mounts of the host's nodes, not nodes made with mknod. A node the
// task makes itself (it holds CAP_MKNOD by default) opens nothing: the
// device cgroup (cgroup.DefaultDevices) refuses to make one for any other
// device, here or in a bind on the host's disk, and every filesystem a
// task can write to is nodev besides.
var Devices = []string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"}

var devLinks = [][2]string{
	{"/dev/ptmx", "pts/ptmx"},
	{"/dev/fd", "/proc/self/fd"},
	{"/dev/stdin", "/proc/self/fd/0"},
	{"/dev/stdout", "/proc/self/fd/1"},
	{"/dev/stderr", "/proc/self/fd/2"},
}

const (
	nosuidNodev       = unix.MS_NOSUID | unix.MS_NODEV
	nosuidNodevNoexec = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	defaultShmSize    = 64 << 20
)

// Plan builds the ordered mount plan of a task. It runs in the parent and
// checks every bind: destinations are absolute and have no ".." (they could
// only mean climbing out of the root), sources exist on the host.
func Plan(cfg Config) ([]Op, error) {
	if cfg.Filesystem != nil {
		return specPlan(cfg)
	}
	var ops []Op
	if cfg.HostDirs {
		ops = append(ops, hostDirOps(cfg.HostRoot, cfg.TmpSize)...)
	}
	ops = append(ops, standardOps(cfg.ShmSize)...)
	for _, b := range cfg.Binds {
		op, err := bindOp(b)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	for _, p := range MaskedPaths {
		ops = append(ops, Op{Kind: KindMask, Dest: p})
	}
	for _, p := range ReadOnlyPaths {
		ops = append(ops, Op{Kind: KindReadOnly, Dest: p})
	}
	return ops, nil
}

// hostDirOps fills the default task dir (a fresh tmpfs, see RootTmpfs):
// read-only binds of the host's system directories, and the same symlink
// for those that are symlinks on the host (/bin -> usr/bin on merged-/usr
// systems). The binds are OthersOnly: the task shares the host's /etc for
// its libraries and users, but reads nothing there an unprivileged host
// user could not (password hashes, sudo rules, private keys).
func hostDirOps(hostRoot string, tmpSize int64) []Op {
	if hostRoot == "" {
		hostRoot = "/"
	}
	var ops []Op
	for _, d := range HostSystemDirs {
		src := path.Join(hostRoot, d)
		fi, err := os.Lstat(src)
		switch {
		case err != nil:
		case fi.Mode()&os.ModeSymlink != 0:
			if target, err := os.Readlink(src); err == nil {
				ops = append(ops, Op{Kind: KindSymlink, Dest: d, Source: target})
			}
		case fi.IsDir():
			ops = append(ops, Op{Kind: KindBind, Source: src, Dest: d, ReadOnly: true, Recursive: true, OthersOnly: true})
		}
	}
	ops = append(ops, Op{Kind: KindMount, FSType: "tmpfs", Source: "tmpfs", Dest: "/tmp",
		Flags: nosuidNodev, Data: tmpData(tmpSize)})
	return ops
}

// standardOps are the mounts every task gets, in order: /proc first (the
// /dev links point into it), then /dev and what lives in it, then /sys.
func standardOps(shmSize int64) []Op {
	if shmSize <= 0 {
		shmSize = defaultShmSize
	}
	ops := []Op{
		{Kind: KindMount, FSType: "proc", Source: "proc", Dest: "/proc", Flags: nosuidNodevNoexec},
		// /dev is a fresh tmpfs so the task sees only the devices listed
		// here, never the host's disks; nodev like every filesystem the
		// task can write to.
		{Kind: KindMount, FSType: "tmpfs", Source: "tmpfs", Dest: "/dev", Flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_STRICTATIME,
			Data: "mode=755,size=65536k"},
	}
	for _, d := range Devices {
		ops = append(ops, Op{Kind: KindBind, Source: d, Dest: d})
	}
	for _, l := range devLinks {
		ops = append(ops, Op{Kind: KindSymlink, Dest: l[0], Source: l[1]})
	}
	ops = append(ops,
		// newinstance gives the task its own pty namespace: it cannot
		// reach the host's terminals through /dev/pts.
		Op{Kind: KindMount, FSType: "devpts", Source: "devpts", Dest: "/dev/pts", Flags: unix.MS_NOSUID | unix.MS_NOEXEC,
			Data: "newinstance,ptmxmode=0666,mode=0620,gid=5"},
		Op{Kind: KindMount, FSType: "tmpfs", Source: "shm", Dest: "/dev/shm", Flags: nosuidNodevNoexec,
			Data: fmt.Sprintf("mode=1777,size=%dk", shmSize>>10)},
		Op{Kind: KindMount, FSType: "mqueue", Source: "mqueue", Dest: "/dev/mqueue", Flags: nosuidNodevNoexec},
		// sysfs is read-only: a writable /sys lets the task reconfigure
		// host devices and kernel parameters.
		Op{Kind: KindMount, FSType: "sysfs", Source: "sysfs", Dest: "/sys", Flags: nosuidNodevNoexec | unix.MS_RDONLY},
	)
	return ops
}

// bindOp checks a user bind and turns it into an Op.
func bindOp(b Bind) (Op, error) {
	if b.Source == "" || !path.IsAbs(b.Source) {
		return Op{}, fmt.Errorf("mount source %q: must be an absolute path", b.Source)
	}
	dest, err := CleanDest(b.Dest)
	if err != nil {
		return Op{}, err
	}
	if _, err := os.Stat(b.Source); err != nil {
		return Op{}, fmt.Errorf("mount source %q: %w", b.Source, unwrapPathError(err))
	}
	return Op{Kind: KindBind, Source: b.Source, Dest: dest, ReadOnly: b.ReadOnly, Recursive: true}, nil
}

// CleanDest checks a path meant inside the task root: absolute, no ".."
// component, not the root itself. It returns the cleaned path.
func CleanDest(dest string) (string, error) {
	if dest == "" || !path.IsAbs(dest) {
		return "", fmt.Errorf("mount destination %q: must be an absolute path", dest)
	}
	for _, c := range strings.Split(dest, "/") {
		if c == ".." {
			return "", fmt.Errorf("mount destination %q: must not contain \"..\"", dest)
		}
	}
	clean := path.Clean(dest)
	if clean == "/" {
		return "", fmt.Errorf("mount destination %q: cannot mount over the task root", dest)
	}
	return clean, nil
}

// unwrapPathError drops *os.PathError's own op and path so the caller's
// wrapping names the path once.
func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// tmpData is the mount data of the default task dir's /tmp.
func tmpData(size int64) string {
	if size > 0 {
		return "mode=1777,size=" + strconv.FormatInt(size, 10)
	}
	return "mode=1777"
}

// specPlan is Plan for Config.Filesystem.
func specPlan(cfg Config) ([]Op, error) {
	if cfg.HostDirs || len(cfg.Binds) > 0 {
		return nil, fmt.Errorf("mounts: a filesystem given whole takes no default task dir and no binds besides")
	}
	var ops []Op
	for _, m := range cfg.Filesystem {
		op, err := SpecOp(m)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	// The devices every task gets (the runtime spec's default devices),
	// bound from the host's, wherever the bundle put its /dev; a node the
	// bundle makes at the same path instead replaces the bind.
	for _, d := range Devices {
		if _, ok := cfg.Nodes[d]; !ok {
			ops = append(ops, Op{Kind: KindBind, Source: d, Dest: d})
		}
	}
	paths := make([]string, 0, len(cfg.Nodes))
	for p := range cfg.Nodes {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		n := cfg.Nodes[p]
		d, err := CleanDest(p)
		if err != nil {
			return nil, fmt.Errorf("device: %w", err)
		}
		switch n.Type {
		case "c", "b", "p":
		default:
			return nil, fmt.Errorf("device %s: type %q: want c, b or p", p, n.Type)
		}
		if cfg.BindNodes && n.Type != "p" {
			ops = append(ops, Op{Kind: KindBind, Source: d, Dest: d, Node: &n})
			continue
		}
		ops = append(ops, Op{Kind: KindDevice, Dest: d, Node: &n})
	}
	for _, l := range devLinks {
		ops = append(ops, Op{Kind: KindSymlink, Dest: l[0], Source: l[1]})
	}
	for _, p := range cfg.Masked {
		d, err := CleanDest(p)
		if err != nil {
			return nil, fmt.Errorf("masked path: %w", err)
		}
		ops = append(ops, Op{Kind: KindMask, Dest: d})
	}
	for _, p := range cfg.ReadOnly {
		d, err := CleanDest(p)
		if err != nil {
			return nil, fmt.Errorf("read-only path: %w", err)
		}
		ops = append(ops, Op{Kind: KindReadOnly, Dest: d})
	}
	return ops, nil
}
