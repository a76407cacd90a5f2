package nsinit

// The protocol between the parent (executor) and the init stage.
//
// One socketpair, SOCK_STREAM, both ends close-on-exec. The child finds its
// end as fd 3 (SyncFD) and marks it close-on-exec again first thing: the
// exec of the init stage itself cleared the flag.
//
// Messages are JSON objects, one after the other:
//
//	parent -> child   Plan                  once, after the parent placed the
//	                                        child in its cgroup (v1); reading
//	                                        it is the child's release
//	child  -> parent  {"type":"ready"}      setup done, about to execve
//	child  -> parent  {"type":"error",...}  a step failed; the child exits
//
// After "ready" the parent reads on: end-of-file means execve succeeded (the
// socket closed with the exec), an "error" message means execve failed.
// End-of-file before "ready" means the child died during setup.

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/berthrun/berth/mounts"
)

// SyncFD is the fd number of the sync socket in the init stage.
const SyncFD = 3

// Message types sent by the child.
const (
	MsgReady = "ready"
	MsgError = "error"
)

// Plan is everything the init stage needs. The parent builds and checks it;
// the child only carries it out.
type Plan struct {
	// Root is the task dir, an absolute host path.
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
	User string `json:"user,omitempty"`
	// Caps is the exact capability set ("CAP_X" names).
	Caps []string `json:"caps"`

	// Args is the command and its arguments; Args[0] is resolved on the
	// task's PATH inside the root when it has no slash.
	// Timings asks the child to report when each step ended.
	Timings bool `json:"timings,omitempty"`

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
	// Steps, on "ready", are when the child started and finished each
	// setup step (Unix nanoseconds, "start" first), for the parent's
	// trace log; only sent when the plan asks for them.
	Steps []StepTime `json:"steps,omitempty"`
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
	dec *json.Decoder
}

// NewReceiver reads messages from r.
func NewReceiver(r io.Reader) *Receiver { return &Receiver{dec: json.NewDecoder(r)} }

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
// itself (the caller turns it into a typed error); anything else is
// "expected want, got X".
func (r *Receiver) Expect(want string) (*Message, error) {
	m, err := r.Next()
	if err == io.EOF {
		return nil, fmt.Errorf("expected %s, got end of file (init stage exited during setup)", want)
	}
	if err != nil {
		return nil, fmt.Errorf("expected %s: %w", want, err)
	}
	if m.Type != want && m.Type != MsgError {
		return nil, fmt.Errorf("expected %s, got %q", want, m.Type)
	}
	return m, nil
}
