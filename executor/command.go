package executor

import (
	"io"
	"os"
	"syscall"
	"time"

	"github.com/berthrun/berth/cgroup"
	"github.com/berthrun/berth/mounts"
	"github.com/berthrun/berth/nsinit"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Namespace modes for Isolation.PID, Isolation.IPC and Isolation.UTS.
const (
	ModePrivate = "private"
	ModeHost    = "host"
	// ModeNone is only valid for Isolation.Net: a new network namespace with
	// only loopback, brought up.
	ModeNone = "none"
)

// Command is everything needed to launch one task.
type Command struct {
	// ID names the task; it must be unique in the state dir. Empty picks a
	// random one.
	ID string

	// TaskDir is the directory the task sees as "/". Empty builds the default
	// task dir: read-only binds of the host's /bin /sbin /lib /lib32 /lib64
	// /usr /etc with secrets hidden, and a writable tmpfs /tmp.
	TaskDir string

	// Cmd is the program to run, resolved inside the task dir: an absolute
	// path, or a name looked up on the task's PATH.
	Cmd  string
	Args []string
	// Env is the task's environment as KEY=VALUE. A PATH is added when none
	// is given.
	Env []string
	// Cwd is the working directory inside the task dir; "/" by default.
	Cwd string
	// User is "name", "uid", "name:group" or "uid:gid", resolved against the
	// task dir's /etc/passwd and /etc/group. Empty runs as root.
	User string
	// Credentials, when set, are the task's ids as they are (User must be
	// empty); HOME comes from Env, or is "/".
	Credentials *Credentials

	// Stdin, Stdout and Stderr are the task's standard streams. An *os.File
	// is handed to the task as is; any other reader or writer is fed
	// through a pipe by a goroutine. Wait returns once the output pipes are
	// drained; the stdin goroutine ends when Stdin returns EOF or an error,
	// or on its first write after the task is gone, so a reader that
	// blocks forever keeps it alive. Nil means /dev/null.
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer

	// Logs keeps a nil Stdout or Stderr in the task's state dir instead of
	// /dev/null: stdout.log and stderr.log, which the task writes directly
	// and which stay, with the state, until the task is deleted (detached
	// tasks: Config.KeepState). Whoever reaps the task keeps them bounded
	// (package internal/logs).
	Logs bool

	// Terminal gives the task a pty of its own, from its own devpts, as
	// its controlling terminal and stdio: berth relays the pty to Stdin and
	// Stdout (Stderr is unused). TerminalSize is its first size, Resize
	// brings later ones. Without Terminal, a Stdin, Stdout or Stderr that
	// is a terminal is relayed through a pipe rather than handed over, so
	// the task never holds an fd of the caller's terminal.
	Terminal     bool
	TerminalSize *WindowSize
	Resize       <-chan WindowSize
	// ConsoleSocket, with Terminal, is a unix socket the pty's master is
	// sent to (SCM_RIGHTS) instead of being relayed: OCI's
	// --console-socket.
	ConsoleSocket string

	// ExtraFiles are handed to the task's command as its fds 3, 4, ...
	// (OCI's --preserve-fds).
	ExtraFiles []*os.File

	Isolation Isolation
	Resources Resources

	// WaitForStart holds the task, set up, before its command: Launch
	// returns once it is ready to run it, Store.Start lets it run. Until
	// then its status is StatusCreated. It needs /proc mounted in the task
	// (the init stage reaches its start gate through /proc/self/fd) and an
	// executor that leaves the task to another reaper (Config.ExternalReaper:
	// OCI's create, whose caller reaps).
	WaitForStart bool

	// Hooks are programs run while the task is set up (OCI's hooks that
	// run before the task's command).
	Hooks Hooks

	// StopSignal and StopGrace are recorded in the task's state as the
	// defaults Store.Stop uses (the CLI's --stop-signal and --grace).
	StopSignal string
	StopGrace  time.Duration
}

// Isolation says which namespaces are private and what the task's root holds.
type Isolation struct {
	// PID, IPC and UTS are ModePrivate (the default when empty) or ModeHost.
	PID string
	IPC string
	UTS string
	// Net is ModeHost (the default when empty) or ModeNone.
	Net string
	// NetPath, IPCPath and UTSPath, when set, are namespaces to join by
	// path (/proc/PID/ns/net, a bind-mounted namespace file) instead of
	// making new ones or sharing the host's: a pod's tasks share its
	// network. Net, IPC and UTS must then be empty.
	NetPath, IPCPath, UTSPath string
	// PIDPath and MountPath join a pid or mount namespace by path (PID
	// must then be empty). Each path is opened by berth on the host and
	// must be a namespace of its kind. The init stage is born in the pid
	// namespace (it is not its pid 1), and sets the task up inside the
	// mount namespace: the task dir and bind sources are that
	// namespace's paths, its propagation becomes berth's, and its root
	// becomes the task dir for every process in it whose root was the
	// namespace's (pivot_root), as with runc. Whoever can mount in that
	// namespace decides what those paths hold: join only a namespace you
	// would launch from.
	PIDPath, MountPath string
	// Mount is ModePrivate (the default when empty: a mount namespace of
	// the task's own) or ModeHost: the task shares the host's mount
	// namespace (an OCI bundle without one). Its task dir, which must be
	// the caller's, is then bound onto itself and its mounts are made
	// below that bind on the host (as runc does; they are removed when
	// the task is cleaned up), and the task is chrooted there: a task that
	// holds CAP_SYS_CHROOT can leave a chroot, and sees the host's mounts
	// in its mountinfo. It takes no root propagation, no mount namespace
	// path and no user namespace.
	Mount string
	// Cgroup is ModeHost (the default when empty: the task sees the
	// host's cgroup paths) or ModePrivate (a cgroup namespace rooted at
	// its own cgroup).
	Cgroup string

	// UIDMappings and GIDMappings, when set (both, each mapping the
	// task's uid 0 and gid 0), run the task in a user namespace of its
	// own with these ids: its root is the host id uid 0 maps to, and its
	// capabilities reach only what its namespaces own. Every other
	// namespace it gets is new and owned by it; joining one by path is
	// refused, and so is the default task dir (its binds are idmapped,
	// which takes the host's CAP_SYS_ADMIN). The task dir and what is
	// bound in must be reachable by the mapped root; device nodes are
	// bound from the host's node at the same path (no mknod in a user
	// namespace).
	UIDMappings []IDMapping
	GIDMappings []IDMapping

	// Sysctl are kernel parameters set in the task's own namespaces
	// (net.* with a private network, kernel.msg*, kernel.sem, kernel.shm*
	// and fs.mqueue.* with a private ipc, kernel.hostname and
	// kernel.domainname with a private uts); any other is refused: it
	// would change the host's.
	Sysctl map[string]string
	// Umask is the task's file mode creation mask; nil is 022.
	Umask *uint32

	// Hostname is set in the task's private UTS namespace.
	Hostname string

	// Mounts are extra bind mounts, applied after the standard ones.
	Mounts []Mount

	// CapAdd and CapDrop adjust the default capability set by name
	// ("NET_RAW", "CAP_NET_RAW", "net_raw" or "ALL"). A task that runs as
	// a user other than root holds only the capabilities CapAdd names (as
	// Docker does); the set bounds it all the same.
	CapAdd  []string
	CapDrop []string

	// Seccomp is the task's system call filter in OCI's form. Nil gets
	// Docker's default profile for the task's capability set: keyrings,
	// mount, bpf, ptrace and the like fail with EPERM, system calls this
	// build does not know with ENOSYS. SeccompUnconfined loads no filter
	// (Seccomp must then be nil). An exec'd process gets the task's filter.
	Seccomp           *specs.LinuxSeccomp
	SeccompUnconfined bool

	// Ulimits are the task's resource limits (the others it inherits from
	// berth); an exec'd process gets them too. A hard limit above berth's
	// own needs CAP_SYS_RESOURCE.
	Ulimits []Ulimit

	// OOMScoreAdj is the task's oom_score_adj; nil is 0, not berth's own.
	OOMScoreAdj *int

	// TmpSize caps the default task dir's /tmp, in bytes; zero is
	// DefaultTmpSize. Its pages count against the task's memory limit too.
	TmpSize int64

	// Filesystem, when not nil, replaces berth's standard mounts (/proc,
	// /dev and what lives in it, /sys) and Mounts: the task gets exactly
	// these, in order, then the standard device nodes in its /dev, and
	// MaskedPaths and ReadOnlyPaths instead of berth's own lists (an OCI
	// bundle's mounts, masked and read-only paths). It needs a TaskDir.
	Filesystem    []FSMount
	MaskedPaths   []string
	ReadOnlyPaths []string
	// ReadOnlyRoot makes the task dir read-only once it is set up.
	ReadOnlyRoot bool
	// DeviceNodes, with Filesystem, are device nodes made in the task by
	// path (an OCI bundle's linux.devices); the task may use each.
	DeviceNodes map[string]DeviceNode
	// RootPropagation is the propagation of the task's root in its own
	// mount namespace ("rslave", berth's, when empty; "rprivate",
	// "rshared" and the like as mount(8) names them). A shared root has
	// peers in the task only: it stays a slave of the host's mounts.
	RootPropagation string

	// Capabilities, when set, are the task's five capability sets
	// exactly (an OCI bundle's), instead of the default set adjusted by
	// CapAdd and CapDrop (which must then be empty).
	Capabilities *CapabilitySets
	// NewPrivileges leaves no_new_privs off, so that setuid binaries and
	// file capabilities work in the task. The seccomp filter is then
	// loaded before the capabilities are dropped (loading it without
	// no_new_privs takes CAP_SYS_ADMIN), and the rest of the setup runs
	// under it.
	NewPrivileges bool

	// Devices are host devices the task may make and open besides the
	// default ones (null, zero, full, random, urandom, tty, ptmx, its
	// ptys) and the device nodes bound in with Mounts.
	Devices []cgroup.DeviceRule
}

// Hooks are run during a task's setup, in order: Runtime in the caller,
// then CreateContainer and StartContainer inside the task.
type Hooks struct {
	// Runtime is called in the caller's process once the task's
	// namespaces and mounts exist, before its pivot_root, with the pid of
	// its init stage (OCI's prestart and createRuntime hooks, run by the
	// runtime); the setup waits for it, and an error fails the launch.
	Runtime func(pid int) error
	// CreateContainer run right after Runtime, in the task's namespaces
	// and before its pivot_root: Path is a host path (the task's mount
	// namespace still holds the host's tree). StartContainer run inside
	// the task's root, as the task, right before its command: after
	// Store.Start with WaitForStart, where a failure fails the start and
	// ends the task, or as the last setup step otherwise.
	CreateContainer, StartContainer []Hook
	// State, when set, makes what each hook of the task reads on its
	// stdin (OCI's state) from the init stage's pid and the task's status
	// as of the hook: StatusCreating for CreateContainer, StatusCreated
	// for StartContainer.
	State func(pid int, status string) []byte
}

// Hook is a program of Hooks: Path run with Args (Args[0] its name; Path
// when empty) and Env, killed after Timeout seconds (0: none).
type Hook = nsinit.Hook

// DeviceNode is a device node of Isolation.DeviceNodes.
type DeviceNode = mounts.Node

// FSMount is a filesystem mount of Isolation.Filesystem: a type, a source
// and mount(8)-style options; type "bind" (or the bind and rbind options)
// binds a host path.
type FSMount = mounts.FSMount

// IDMapping maps Size ids from ContainerID in the task's user namespace
// to HostID on the host.
type IDMapping struct {
	ContainerID, HostID, Size uint32
}

// CapabilitySets are the five capability sets, by name.
type CapabilitySets struct {
	Bounding, Effective, Permitted, Inheritable, Ambient []string
}

// Credentials are the ids a task runs as, taken as they are rather than
// looked up in the task's /etc/passwd.
type Credentials struct {
	UID, GID uint32
	// Groups are the supplementary groups.
	Groups []uint32
}

// DefaultTmpSize caps the default task dir's /tmp unless Isolation.TmpSize
// says otherwise: without a cap a task can fill the host's memory there.
const DefaultTmpSize = 1 << 30

// Mount is a bind mount of a host path into the task.
type Mount struct {
	Source      string
	Destination string
	ReadOnly    bool
}

// Resources are the task's cgroup limits. Zero values mean "no limit".
type Resources = cgroup.Resources

// ProcessState is how a task ended.
type ProcessState struct {
	Pid int
	// ExitCode is the task's exit status, or 128+N when signal N killed it.
	ExitCode int
	// Signal is the signal that killed the task, 0 if it exited.
	Signal int
	// OOMKilled is true when the task's cgroup recorded an OOM kill.
	OOMKilled bool
	Time      time.Time
}

// setStatus records a wait status: the exit code, or 128+N and the signal.
func (p *ProcessState) setStatus(ws syscall.WaitStatus) {
	if ws.Signaled() {
		p.Signal = int(ws.Signal())
		p.ExitCode = 128 + p.Signal
	} else {
		p.ExitCode = ws.ExitStatus()
	}
}
