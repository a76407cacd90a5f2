package nsinit

// The protocol between the parent (executor) and the init stage.
//
// One socketpair, SOCK_STREAM, both ends close-on-exec. The child finds its
// end as fd 3 (SyncFD) and marks it close-on-exec again first thing: the
// exec of the init stage itself cleared the flag. An exec helper (Plan.Mode
// "exec") also finds a pidfd of the task's main process as fd 4 (TaskFD).
//
// Messages are JSON objects, one after the other:
//
//	parent -> child   Plan                  once, after the parent placed the
//	                                        child in its cgroup (v1; on a
//	                                        hybrid host the child moves its
//	                                        exec thread into the v1 ones,
//	                                        Plan.JoinCgroups); reading it is
//	                                        the child's release
//	child  -> parent  {"type":"console"}    with Plan.Terminal: the master of
//	                                        the pty the child opened inside
//	                                        the task, as SCM_RIGHTS on the
//	                                        message's bytes
//	child  -> parent  {"type":"hooks"}      with Plan.PauseForHooks, after the
//	                                        task's mounts, before pivot_root:
//	                                        the parent runs its hooks, then
//	parent -> child   {"type":"resume"}     lets the child go on (anything
//	                                        else, or end of file, stops it)
//	child  -> parent  {"type":"execd",...}  an exec helper's command runs:
//	                                        its pid (after "ready"; the
//	                                        helper then exits)
//	child  -> parent  {"type":"ready"}      setup done, about to execve; says
//	                                        which user the task runs as
//	child  -> parent  {"type":"error",...}  a step failed; the child exits
//
// After "ready" the parent reads on: end-of-file means execve succeeded (the
// socket closed with the exec), an "error" message means execve failed.
// End-of-file before "ready" means the child died during setup.
//
// The plan carries Version, and the child refuses any other than its own
// (Version): berth and an init binary built from another berth must never
// half-understand each other, for instance an older init binary silently
// dropping a field a newer berth sends. The plan is also decoded with
// unknown fields refused, which catches the same in older binaries that
// predate a version bump.

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/berthrun/berth/mounts"
	"golang.org/x/sys/unix"
)

// Version is the protocol version this build speaks. Bump it with every
// change to Plan or Message.
const Version = 8

// SyncFD is the fd number of the sync socket in the init stage.
const SyncFD = 3

// TaskFD is the fd number of the pidfd of the task's main process in an
// exec helper: it joins the task's mount namespace through it.
const TaskFD = 4

// StartFD is the fd number, in an init stage with Plan.StartGate, of an
// O_PATH fd of the fifo the task waits on: after "ready" the init stage
// opens it for writing, which blocks until a reader opens it (the OCI
// runtime's start), writes one byte, and execs.
const StartFD = 4

// ChrootFD is the fd number, in an exec helper with Plan.ExecChroot, of
// the task's root directory.
const ChrootFD = 5

// Message types sent by the child.
const (
	MsgReady   = "ready"
	MsgError   = "error"
	MsgConsole = "console"
	MsgHooks   = "hooks"
	MsgExecd   = "execd"
)

// ResumeLine is the parent's answer to MsgHooks, one line.
const ResumeLine = `{"type":"resume"}`

// Plan modes.
const (
	// ModeLaunch (the zero value) sets up a new task.
	ModeLaunch = ""
	// ModeExec joins a running task: its mount namespace through TaskFD
	// (the parent already placed the helper in the task's other namespaces
	// and its cgroup), then runs the exec-side steps.
	ModeExec = "exec"
)

// Plan is everything the init stage needs. The parent builds and checks it;
// the child only carries it out.
type Plan struct {
	// Version must equal the child's Version.
	Version int `json:"version"`
	// Mode is ModeLaunch or ModeExec.
	Mode string `json:"mode,omitempty"`

	// Root is the task dir, an absolute host path (launch only).
	Root string `json:"root"`
	// RootTmpfs builds the task dir on a fresh tmpfs mounted at Root (in
	// the child's mount namespace only), read-only once set up.
	RootTmpfs bool        `json:"root_tmpfs,omitempty"`
	Mounts    []mounts.Op `json:"mounts"`

	// Hostname is set when not empty (private UTS namespace only).
	Hostname string `json:"hostname,omitempty"`
	// LoopbackUp brings up lo in a new network namespace.
	LoopbackUp bool `json:"loopback_up,omitempty"`

	// KillWithParent re-arms the parent-death signal after the user switch,
	// which clears it.
	KillWithParent bool `json:"kill_with_parent,omitempty"`

	// User is resolved inside the root: "", "name", "uid", "name:group"...
	// An exec with IDs set and User empty takes IDs as they are: the ids
	// the task's user resolved to at launch, so that a task cannot change
	// who later execs run as by rewriting its own /etc/passwd.
	User string   `json:"user,omitempty"`
	IDs  *UserIDs `json:"ids,omitempty"`
	// Terminal opens a pty inside the task, makes it the controlling
	// terminal and stdio of the command, and sends its master back.
	Terminal bool        `json:"terminal,omitempty"`
	Size     *WindowSize `json:"size,omitempty"`
	// Caps is the task's capability set ("CAP_X" names): the bounding set
	// for every user, and all the sets of a task that runs as uid 0.
	Caps []string `json:"caps"`
	// UserCaps are the capabilities a task that runs as another uid holds
	// (effective, permitted, inheritable and ambient): the ones the caller
	// added by name, none by default, as Docker does. A subset of Caps.
	UserCaps []string `json:"user_caps,omitempty"`
	// CapSets, when set, are the five sets exactly (an OCI bundle's),
	// instead of Caps and UserCaps.
	CapSets *CapSets `json:"cap_sets,omitempty"`
	// NewPrivs leaves no_new_privs off (an OCI bundle that says so); the
	// parent never sends it with a seccomp program.
	NewPrivs bool `json:"new_privs,omitempty"`
	// ReadOnlyRoot makes the task's root read-only after setup.
	ReadOnlyRoot bool `json:"ro_root,omitempty"`
	// RootPropagation (MS_SHARED, MS_PRIVATE... with MS_REC) is set on
	// the task's root after pivot_root, in its own mount namespace.
	RootPropagation uintptr `json:"root_propagation,omitempty"`
	// Sysctl are written under /proc/sys after the masks (the parent
	// checked each is the task's namespaces' own).
	Sysctl []Sysctl `json:"sysctl,omitempty"`
	// Umask is set before execve; 022 when nil.
	Umask *int `json:"umask,omitempty"`
	// Rlimits are set before the user switch (a hard limit above the
	// caller's needs CAP_SYS_RESOURCE).
	Rlimits []Rlimit `json:"rlimits,omitempty"`
	// OOMScoreAdj is written to the process's oom_score_adj unless nil:
	// the task does not inherit berth's.
	OOMScoreAdj *int `json:"oom_score_adj,omitempty"`
	// Seccomp is a classic BPF program (8 bytes per instruction, little
	// endian), loaded with SeccompFlags as the last step before execve;
	// none when empty.
	Seccomp      []byte `json:"seccomp,omitempty"`
	SeccompFlags uint   `json:"seccomp_flags,omitempty"`

	// Args is the command and its arguments; Args[0] is resolved on the
	// task's PATH inside the root when it has no slash.
	// Timings asks the child to report when each step ended.
	Timings bool `json:"timings,omitempty"`
	// Join are namespaces the init stage enters first, by fds the parent
	// opened and checked: network, ipc, uts, and mount (every path of the
	// plan is then that namespace's).
	Join []JoinNS `json:"join,omitempty"`
	// JoinCgroups are v1 cgroups the init stage's exec thread moves
	// itself into, first thing (launch and exec; see joinCgroups).
	JoinCgroups []CgroupJoin `json:"join_cgroups,omitempty"`
	// StartGate holds the task, set up, between "ready" and execve until
	// someone opens the fifo at StartFD for reading (launch only).
	StartGate bool `json:"start_gate,omitempty"`
	// HostMountNS sets the task up in the host's mount namespace (no
	// namespace of its own): the host's propagation is left alone and the
	// task is chrooted into Root instead of pivoted (launch only).
	HostMountNS bool `json:"host_mount_ns,omitempty"`
	// ExecChroot makes an exec helper chroot into the directory at
	// ChrootFD after it joined the task's mount namespace: the task's
	// root, when the task shares the host's mount namespace.
	ExecChroot bool `json:"exec_chroot,omitempty"`
	// PreserveFDs are fds of this process the command gets as its fds 3,
	// 4, ... (OCI's --preserve-fds).
	PreserveFDs []int `json:"preserve_fds,omitempty"`
	// PauseForHooks stops the init stage after the task's mounts, before
	// pivot_root, until the parent ran its hooks (MsgHooks).
	PauseForHooks bool `json:"pause_for_hooks,omitempty"`
	// CreateHooks run after that pause, before pivot_root; StartHooks
	// inside the task's root right before its command (after the start
	// gate). createContainer hooks read HookState on their stdin,
	// startContainer hooks StartHookState (launch only).
	CreateHooks    []Hook `json:"create_hooks,omitempty"`
	StartHooks     []Hook `json:"start_hooks,omitempty"`
	HookState      string `json:"hook_state,omitempty"`
	StartHookState string `json:"start_hook_state,omitempty"`

	Args []string `json:"args"`
	Env  []string `json:"env"`
	Cwd  string   `json:"cwd"`
}

// Message is what the child reports.
type Message struct {
	Type string `json:"type"`
	// Step, Path, Errno and Text describe a failure.
	Step  string `json:"step,omitempty"`
	Path  string `json:"path,omitempty"`
	Errno int    `json:"errno,omitempty"`
	Text  string `json:"text,omitempty"`
	// Pid, on "execd" (an exec helper's command exec'd) and on an error
	// of an exec helper's fork, is the command's pid: the parent's child.
	Pid int `json:"pid,omitempty"`
	// User, on "ready", is who the command runs as.
	User *UserIDs `json:"user,omitempty"`
	// Steps, on "ready", are when the child started and finished each
	// setup step (Unix nanoseconds, "start" first), for the parent's
	// trace log; only sent when the plan asks for them.
	Steps []StepTime `json:"steps,omitempty"`
}

// Hook is a program the init stage runs inside the task: OCI's
// createContainer and startContainer hooks. Timeout is in seconds; zero is
// none.
type Hook struct {
	Path    string   `json:"path"`
	Args    []string `json:"args,omitempty"`
	Env     []string `json:"env,omitempty"`
	Timeout int      `json:"timeout,omitempty"`
}

// JoinNS is a namespace to enter: Fd, inherited, of type Type
// (CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS or CLONE_NEWNS).
type JoinNS struct {
	Fd   int `json:"fd"`
	Type int `json:"type"`
}

// Sysctl is one kernel parameter: Key as sysctl(8) names it.
type Sysctl struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// CapSets are a task's five capability sets, by name.
type CapSets struct {
	Bounding    []string `json:"bounding"`
	Effective   []string `json:"effective"`
	Permitted   []string `json:"permitted"`
	Inheritable []string `json:"inheritable"`
	Ambient     []string `json:"ambient"`
}

// Rlimit is one resource limit: Resource is its RLIMIT_* number; the
// kernel's RLIM_INFINITY is ^uint64(0).
type Rlimit struct {
	Resource int    `json:"resource"`
	Soft     uint64 `json:"soft"`
	Hard     uint64 `json:"hard"`
}

// UserIDs are resolved credentials.
type UserIDs struct {
	UID    int    `json:"uid"`
	GID    int    `json:"gid"`
	Groups []int  `json:"groups,omitempty"`
	Home   string `json:"home,omitempty"`
}

// WindowSize is a terminal's size in characters.
type WindowSize struct {
	Rows uint16 `json:"rows"`
	Cols uint16 `json:"cols"`
}

// StepTime is when a setup step ended.
type StepTime struct {
	Name string `json:"name"`
	At   int64  `json:"at"`
}

// SendPlan writes the plan to the child.
func SendPlan(w io.Writer, p *Plan) error {
	if err := json.NewEncoder(w).Encode(p); err != nil {
		return fmt.Errorf("send plan: %w", err)
	}
	return nil
}

// Receiver reads the child's messages in the parent.
type Receiver struct {
	dec     *json.Decoder
	fds     *fdReader
	console int // a pty master Expect took, or -1
}

// NewReceiver reads messages from r. From a socket file it also takes the
// fds that come with them (Console). (An *os.File, not a net.Conn: the
// init binary links this package and stays free of package net.)
func NewReceiver(r io.Reader) *Receiver {
	if f, ok := r.(*os.File); ok {
		fr := &fdReader{conn: f}
		return &Receiver{dec: json.NewDecoder(fr), fds: fr, console: -1}
	}
	return &Receiver{dec: json.NewDecoder(r), console: -1}
}

// TakeFD returns the oldest fd received with the messages read so far, or
// -1; the caller owns it.
func (r *Receiver) TakeFD() int {
	if r.fds == nil {
		return -1
	}
	return r.fds.take()
}

// Close closes every received fd nobody took.
func (r *Receiver) Close() {
	if fd := r.TakeConsole(); fd >= 0 {
		unix.Close(fd)
	}
	if r.fds == nil {
		return
	}
	for fd := r.fds.take(); fd >= 0; fd = r.fds.take() {
		unix.Close(fd)
	}
}

// fdReader reads a unix stream socket, keeping the fds that arrive with
// the bytes (SCM_RIGHTS).
type fdReader struct {
	conn *os.File
	mu   sync.Mutex
	fds  []int
}

func (f *fdReader) Read(p []byte) (int, error) {
	rc, err := f.conn.SyscallConn()
	if err != nil {
		return 0, err
	}
	oob := make([]byte, unix.CmsgSpace(4*4))
	for {
		var n, oobn int
		var rerr error
		err = rc.Read(func(fd uintptr) bool {
			// MSG_CMSG_CLOEXEC: a received fd must not leak into a
			// process another goroutine starts meanwhile.
			n, oobn, _, _, rerr = unix.Recvmsg(int(fd), p, oob, unix.MSG_CMSG_CLOEXEC)
			return rerr != unix.EAGAIN
		})
		if err == nil {
			err = rerr
		}
		// On error recvmsg's counts are -1: an io.Reader never returns
		// a negative count (json's decoder slices with it).
		n, oobn = max(n, 0), max(oobn, 0)
		if oobn > 0 {
			f.keep(oob[:oobn])
		}
		switch {
		case err != nil:
			return n, err
		case n > 0:
			return n, nil
		case oobn == 0:
			return 0, io.EOF
		}
		// Only fds came: read on for the bytes.
	}
}

// keep records the fds of a control message.
func (f *fdReader) keep(oob []byte) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return
	}
	for _, m := range msgs {
		if fds, err := unix.ParseUnixRights(&m); err == nil {
			f.mu.Lock()
			f.fds = append(f.fds, fds...)
			f.mu.Unlock()
		}
	}
}

func (f *fdReader) take() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.fds) == 0 {
		return -1
	}
	fd := f.fds[0]
	f.fds = f.fds[1:]
	return fd
}

// Next returns the next message, or io.EOF when the child closed its end.
func (r *Receiver) Next() (*Message, error) {
	var m Message
	if err := r.dec.Decode(&m); err != nil {
		if err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("read sync socket: truncated message: %w", err)
		}
		return nil, err
	}
	return &m, nil
}

// Expect waits for a message of type want. A child error comes back as
// itself (the caller turns it into a typed error), and so does a pause for
// hooks; a console before it is
// taken (TakeConsole gives its pty master); anything else is "expected
// want, got X".
func (r *Receiver) Expect(want string) (*Message, error) {
	for {
		m, err := r.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("expected %s, got end of file (init stage exited during setup)", want)
		}
		if err != nil {
			return nil, fmt.Errorf("expected %s: %w", want, err)
		}
		if m.Type == MsgConsole && want != MsgConsole && r.console < 0 {
			if r.console = r.TakeFD(); r.console < 0 {
				return nil, fmt.Errorf("expected %s: a console message came without its pty master", want)
			}
			continue
		}
		if m.Type != want && m.Type != MsgError && m.Type != MsgHooks {
			return nil, fmt.Errorf("expected %s, got %q", want, m.Type)
		}
		return m, nil
	}
}

// TakeConsole returns the pty master a console message brought, or -1;
// the caller owns it.
func (r *Receiver) TakeConsole() int {
	fd := r.console
	r.console = -1
	return fd
}
