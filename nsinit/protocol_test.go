package nsinit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/berthrun/berth/mounts"
	"golang.org/x/sys/unix"
)

// protocolTestPlan fills every field of Plan, so that a field dropped by
// the JSON tags shows up in the round trip.
func protocolTestPlan() *Plan {
	return &Plan{
		Root: "/run/berth/tasks/t1/root",
		Mounts: []mounts.Op{
			{Kind: mounts.KindBind, Source: "/usr", Dest: "/usr", ReadOnly: true, Recursive: true},
			{Kind: mounts.KindMount, FSType: "tmpfs", Source: "tmpfs", Dest: "/dev",
				Flags: unix.MS_NOSUID | unix.MS_STRICTATIME, Data: "mode=755,size=65536k"},
			{Kind: mounts.KindBind, Source: "/dev/null", Dest: "/dev/null"},
			{Kind: mounts.KindSymlink, Source: "pts/ptmx", Dest: "/dev/ptmx"},
			{Kind: mounts.KindBind, Source: "/srv/data", Dest: "/data", Optional: true},
			{Kind: mounts.KindMask, Dest: "/proc/kcore"},
			{Kind: mounts.KindReadOnly, Dest: "/proc/sys"},
		},
		Hostname:       "task-1",
		LoopbackUp:     true,
		KillWithParent: true,
		User:           "bob:staff",
		Caps:           []string{"CAP_CHOWN", "CAP_KILL"},
		Args:           []string{"/bin/sh", "-c", "echo \"hi\"\n\x01 ünïcode"},
		Env:            []string{"PATH=/usr/bin:/bin", "EMPTY=", "EQ=a=b"},
		Cwd:            "/work dir",
	}
}

func TestSendPlanRoundTrip(t *testing.T) {
	want := protocolTestPlan()
	var buf bytes.Buffer
	if err := SendPlan(&buf, want); err != nil {
		t.Fatalf("SendPlan: %v", err)
	}
	// One JSON value per message, newline-terminated: the decoder on the
	// other side needs no framing beyond that.
	if n := strings.Count(buf.String(), "\n"); n != 1 || !strings.HasSuffix(buf.String(), "\n") {
		t.Errorf("SendPlan wrote %d newlines, want exactly one at the end: %q", n, buf.String())
	}
	var got Plan
	dec := json.NewDecoder(&buf)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("decode plan: %v", err)
	}
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("plan round trip differs:\n got  %+v\n want %+v", got, *want)
	}
	if err := dec.Decode(&got); err != io.EOF {
		t.Errorf("after the plan: got %v, want io.EOF (nothing else written)", err)
	}
}

func TestSendPlanOverSocket(t *testing.T) {
	parent, child := protocolSocketPair(t)
	want := protocolTestPlan()
	if err := SendPlan(parent, want); err != nil {
		t.Fatalf("SendPlan: %v", err)
	}
	parent.Close()
	var got Plan
	if err := json.NewDecoder(child).Decode(&got); err != nil {
		t.Fatalf("decode plan from socket: %v", err)
	}
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("plan over socket differs:\n got  %+v\n want %+v", got, *want)
	}
}

type protocolFailWriter struct{}

func (protocolFailWriter) Write([]byte) (int, error) { return 0, unix.EPIPE }

func TestSendPlanWriteError(t *testing.T) {
	err := SendPlan(protocolFailWriter{}, protocolTestPlan())
	if err == nil {
		t.Fatal("SendPlan to a broken writer: no error")
	}
	if !errors.Is(err, unix.EPIPE) {
		t.Errorf("SendPlan error %v does not unwrap to EPIPE", err)
	}
	if !strings.HasPrefix(err.Error(), "send plan: ") {
		t.Errorf("SendPlan error %q does not name the operation", err)
	}
}

// protocolSocketPair returns the parent's and the child's ends of a
// SOCK_STREAM socketpair, as the executor creates it.
func protocolSocketPair(t *testing.T) (parent, child *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	// The parent's end polled by the runtime, as the executor's is.
	if err := unix.SetNonblock(fds[0], true); err != nil {
		t.Fatal(err)
	}
	parent = os.NewFile(uintptr(fds[0]), "sync-parent")
	child = os.NewFile(uintptr(fds[1]), "sync-child")
	t.Cleanup(func() {
		parent.Close()
		child.Close()
	})
	return parent, child
}

// protocolTransports give the parent's reading end after the child's end
// has written payload (in one write) and closed.
var protocolTransports = []struct {
	name string
	open func(t *testing.T, payload string) io.Reader
}{
	{"socketpair", func(t *testing.T, payload string) io.Reader {
		parent, child := protocolSocketPair(t)
		if _, err := io.WriteString(child, payload); err != nil {
			t.Fatalf("write: %v", err)
		}
		child.Close()
		return parent
	}},
	{"net.Pipe", func(t *testing.T, payload string) io.Reader {
		// net.Pipe has no buffer: the write completes only as the
		// receiver reads, so it runs in its own goroutine; closing the
		// reading end at cleanup releases it if the receiver stopped early.
		r, w := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = io.WriteString(w, payload)
			w.Close()
		}()
		t.Cleanup(func() {
			r.Close()
			<-done
		})
		return r
	}},
}

func TestReceiverExpect(t *testing.T) {
	childErr := Message{Type: MsgError, Step: "pivot_root", Path: "/run/berth/x/root", Errno: int(unix.EINVAL), Text: "pivot_root: invalid argument"}
	childErrJSON, err := json.Marshal(childErr)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range protocolTransports {
		t.Run(tr.name, func(t *testing.T) {
			t.Run("ready then end of file", func(t *testing.T) {
				r := NewReceiver(tr.open(t, `{"type":"ready"}`+"\n"))
				m, err := r.Expect(MsgReady)
				if err != nil {
					t.Fatalf("Expect(ready): %v", err)
				}
				if m.Type != MsgReady {
					t.Errorf("Expect(ready) = %+v", m)
				}
				// End of file after ready is the successful exec.
				if m, err := r.Next(); err != io.EOF {
					t.Errorf("Next after ready = %+v, %v; want io.EOF", m, err)
				}
			})
			t.Run("ready then exec error", func(t *testing.T) {
				// Both messages in one write: the decoder must not lose
				// the second one in its buffer.
				r := NewReceiver(tr.open(t, `{"type":"ready"}`+"\n"+string(childErrJSON)+"\n"))
				if _, err := r.Expect(MsgReady); err != nil {
					t.Fatalf("Expect(ready): %v", err)
				}
				m, err := r.Next()
				if err != nil {
					t.Fatalf("Next after ready: %v", err)
				}
				if !reflect.DeepEqual(*m, childErr) {
					t.Errorf("Next after ready = %+v, want %+v", *m, childErr)
				}
			})
			t.Run("error returned as is", func(t *testing.T) {
				r := NewReceiver(tr.open(t, string(childErrJSON)))
				m, err := r.Expect(MsgReady)
				if err != nil {
					t.Fatalf("Expect(ready) on a child error: %v; want the message itself", err)
				}
				if !reflect.DeepEqual(*m, childErr) {
					t.Errorf("Expect(ready) = %+v, want %+v", *m, childErr)
				}
			})
			t.Run("unexpected type", func(t *testing.T) {
				r := NewReceiver(tr.open(t, `{"type":"X"}`))
				m, err := r.Expect(MsgReady)
				if err == nil {
					t.Fatalf("Expect(ready) on type X = %+v, want an error", m)
				}
				if want := `expected ready, got "X"`; err.Error() != want {
					t.Errorf("Expect(ready) error = %q, want %q", err, want)
				}
			})
			t.Run("missing type", func(t *testing.T) {
				r := NewReceiver(tr.open(t, `{"step":"mounts"}`))
				_, err := r.Expect(MsgReady)
				if err == nil || err.Error() != `expected ready, got ""` {
					t.Errorf("Expect(ready) on a message without type: %v", err)
				}
			})
			t.Run("end of file before ready", func(t *testing.T) {
				r := NewReceiver(tr.open(t, ""))
				m, err := r.Expect(MsgReady)
				if err == nil {
					t.Fatalf("Expect(ready) at end of file = %+v, want an error", m)
				}
				if !strings.Contains(err.Error(), "end of file") || !strings.HasPrefix(err.Error(), "expected ready") {
					t.Errorf("Expect(ready) error = %q, want it to name the wait and end of file", err)
				}
			})
			t.Run("truncated message", func(t *testing.T) {
				r := NewReceiver(tr.open(t, `{"type":"rea`))
				m, err := r.Expect(MsgReady)
				if err == nil {
					t.Fatalf("Expect(ready) on a truncated message = %+v, want an error", m)
				}
				if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "truncated") {
					t.Errorf("Expect(ready) error = %q, want a truncated-message error wrapping io.ErrUnexpectedEOF", err)
				}
				if strings.Contains(err.Error(), "got end of file") {
					t.Errorf("truncated message reported as a clean end of file: %q", err)
				}
			})
			t.Run("garbage", func(t *testing.T) {
				r := NewReceiver(tr.open(t, "not json\n"))
				m, err := r.Expect(MsgReady)
				if err == nil {
					t.Fatalf("Expect(ready) on garbage = %+v, want an error", m)
				}
				if !strings.HasPrefix(err.Error(), "expected ready: ") {
					t.Errorf("Expect(ready) error = %q, want it to name the wait", err)
				}
			})
		})
	}
}

func TestReceiverNextTruncated(t *testing.T) {
	parent, child := protocolSocketPair(t)
	if _, err := io.WriteString(child, `{"type":"error","step":"mounts","te`); err != nil {
		t.Fatal(err)
	}
	child.Close()
	m, err := NewReceiver(parent).Next()
	if err == nil {
		t.Fatalf("Next on a truncated message = %+v, want an error", m)
	}
	if err == io.EOF {
		t.Fatalf("Next on a truncated message = io.EOF: indistinguishable from a successful exec")
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Next error %q does not wrap io.ErrUnexpectedEOF", err)
	}
}

// lookPathFile creates dir/name with mode perm (chmod after creation, so
// the umask does not interfere).
func lookPathFile(t *testing.T, dir, name string, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, perm); err != nil {
		t.Fatal(err)
	}
	return p
}

func lookPathEnv(dirs ...string) []string {
	return []string{"HOME=/root", "PATH=" + strings.Join(dirs, ":"), "TERM=dumb"}
}

func TestLookPathFound(t *testing.T) {
	empty, d1, d2 := t.TempDir(), t.TempDir(), t.TempDir()
	want := lookPathFile(t, d1, "prog", 0o755)
	lookPathFile(t, d2, "prog", 0o755)
	got, err := lookPath("prog", lookPathEnv("/nonexistent", empty, d1, d2))
	if err != nil {
		t.Fatalf("lookPath: %v", err)
	}
	if got != want {
		t.Errorf("lookPath = %q, want the first match %q", got, want)
	}
}

func TestLookPathNotExecutable(t *testing.T) {
	// Mode 0644 has no execute bit at all: even root is refused (root
	// bypasses the permission bits only when at least one x bit is set).
	d := t.TempDir()
	p := lookPathFile(t, d, "prog", 0o644)
	got, err := lookPath("prog", lookPathEnv(d))
	if err == nil {
		t.Fatalf("lookPath of a 0644 file = %q, want EACCES", got)
	}
	if !errors.Is(err, unix.EACCES) {
		t.Errorf("lookPath error %v, want EACCES", err)
	}
	if errors.Is(err, unix.ENOENT) {
		t.Errorf("lookPath error %v is ENOENT: the command exists (126, not 127)", err)
	}
	if pathOf(err) != p {
		t.Errorf("lookPath error names %q, want %q", pathOf(err), p)
	}
}

func TestLookPathSkipsNotExecutable(t *testing.T) {
	// Like execvp: a non-executable match is remembered, the search goes
	// on, and a later executable match wins.
	d1, d2 := t.TempDir(), t.TempDir()
	lookPathFile(t, d1, "prog", 0o644)
	want := lookPathFile(t, d2, "prog", 0o755)
	got, err := lookPath("prog", lookPathEnv(d1, d2))
	if err != nil || got != want {
		t.Errorf("lookPath = %q, %v; want %q", got, err, want)
	}
}

func TestLookPathMissing(t *testing.T) {
	d := t.TempDir()
	lookPathFile(t, d, "other", 0o755)
	got, err := lookPath("prog", lookPathEnv(d, "/nonexistent"))
	if err == nil {
		t.Fatalf("lookPath of a missing command = %q, want an error", got)
	}
	if !errors.Is(err, unix.ENOENT) {
		t.Errorf("lookPath error %v does not unwrap to ENOENT", err)
	}
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("lookPath error %v is not ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), "executable file not found in $PATH") {
		t.Errorf("lookPath error %q, want the shell's text", err)
	}
	if !strings.Contains(err.Error(), "prog") {
		t.Errorf("lookPath error %q does not name the command", err)
	}
}

func TestLookPathSkipsDirectory(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	if err := os.Mkdir(filepath.Join(d1, "prog"), 0o755); err != nil {
		t.Fatal(err)
	}
	want := lookPathFile(t, d2, "prog", 0o755)
	got, err := lookPath("prog", lookPathEnv(d1, d2))
	if err != nil || got != want {
		t.Errorf("lookPath = %q, %v; want %q (a directory is not a command)", got, err, want)
	}

	// A directory as the only match is never returned as the command;
	// like execvp, which gets EACCES from execve on it, it is a
	// "found but not executable".
	got, err = lookPath("prog", lookPathEnv(d1))
	if err == nil {
		t.Fatalf("lookPath with only a directory named prog = %q, want an error", got)
	}
	if !errors.Is(err, unix.EACCES) {
		t.Errorf("lookPath with only a directory: %v, want EACCES", err)
	}
}

func TestLookPathWithSlash(t *testing.T) {
	d := t.TempDir()
	exe := lookPathFile(t, d, "exe", 0o755)
	plain := lookPathFile(t, d, "plain", 0o644)

	// The task's PATH does not matter for a name with a slash.
	env := lookPathEnv("/nonexistent")
	if got, err := lookPath(exe, env); err != nil || got != exe {
		t.Errorf("lookPath(%q) = %q, %v; want it unchanged", exe, got, err)
	}
	if _, err := lookPath(plain, env); !errors.Is(err, unix.EACCES) {
		t.Errorf("lookPath(%q) error %v, want EACCES", plain, err)
	}
	missing := filepath.Join(d, "missing")
	if _, err := lookPath(missing, env); !errors.Is(err, unix.ENOENT) {
		t.Errorf("lookPath(%q) error %v, want ENOENT", missing, err)
	}
	if _, err := lookPath(d, env); !errors.Is(err, unix.EACCES) {
		t.Errorf("lookPath(%q) of a directory: error %v, want EACCES", d, err)
	}
}

func TestLookPathFirstPATHWins(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	want := lookPathFile(t, d1, "prog", 0o755)
	lookPathFile(t, d2, "prog", 0o755)
	got, err := lookPath("prog", []string{"PATH=" + d1, "PATH=" + d2})
	if err != nil || got != want {
		t.Errorf("lookPath = %q, %v; want %q", got, err, want)
	}
}

// TestReadPlanRefusesOtherBuilds: an init binary refuses a plan of another
// protocol version, one with a field it does not know (what a newer berth
// would send to an older binary that predates a version bump), and an
// unknown mode, naming the step.
func TestReadPlanRefusesOtherBuilds(t *testing.T) {
	good := fmt.Sprintf(`{"version":%d,"root":"/r","mounts":null,"caps":[],"args":["/bin/true"],"env":[],"cwd":""}`, Version)
	if p, err := readPlan(strings.NewReader(good)); err != nil || p.Root != "/r" {
		t.Fatalf("readPlan(good) = %+v, %v", p, err)
	}
	cases := []struct {
		plan, step, want string
	}{
		{fmt.Sprintf(`{"version":%d,"args":["/bin/true"]}`, Version+1), "protocol", fmt.Sprintf("berth speaks protocol %d, this init binary %d", Version+1, Version)},
		{`{"args":["/bin/true"]}`, "protocol", "berth speaks protocol 0"},
		{fmt.Sprintf(`{"version":%d,"args":["/bin/true"],"landlock":{"default":"deny"}}`, Version), "read plan", `unknown field "landlock"`},
		{fmt.Sprintf(`{"version":%d,"mode":"attach"}`, Version), "read plan", `unknown mode "attach"`},
		{`{"version":`, "read plan", "unexpected EOF"},
	}
	for _, c := range cases {
		_, err := readPlan(strings.NewReader(c.plan))
		var pe *planError
		if !errors.As(err, &pe) || pe.step != c.step || !strings.Contains(err.Error(), c.want) {
			t.Errorf("readPlan(%s) = %v, want step %q and %q", c.plan, err, c.step, c.want)
		}
	}
}

// TestReceiverTakesFDs: an fd sent with a message (the console) is taken
// once, close-on-exec; the messages around it decode; end of file is
// io.EOF, not an endless read.
func TestReceiverTakesFDs(t *testing.T) {
	parent, child := protocolSocketPair(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	console, _ := json.Marshal(&Message{Type: MsgConsole})
	if err := unix.Sendmsg(int(child.Fd()), append(console, '\n'), unix.UnixRights(int(w.Fd())), nil, 0); err != nil {
		t.Fatal(err)
	}
	w.Close()
	ready, _ := json.Marshal(&Message{Type: MsgReady, User: &UserIDs{UID: 7, GID: 8}})
	if _, err := unix.Write(int(child.Fd()), append(ready, '\n')); err != nil {
		t.Fatal(err)
	}
	child.Close()

	rcv := NewReceiver(parent)
	defer rcv.Close()
	m, err := rcv.Next()
	if err != nil || m.Type != MsgConsole {
		t.Fatalf("first message %+v, %v; want console", m, err)
	}
	fd := rcv.TakeFD()
	if fd < 0 {
		t.Fatal("no fd came with the console message")
	}
	if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("received fd flags %#x, %v: want close-on-exec", flags, err)
	}
	// It is the pipe's write end: what goes in comes out of r.
	if _, err := unix.Write(fd, []byte("x")); err != nil {
		t.Fatalf("write to the received fd: %v", err)
	}
	unix.Close(fd)
	if b := make([]byte, 1); true {
		if n, err := r.Read(b); n != 1 || b[0] != 'x' || err != nil {
			t.Fatalf("read back %q, %v", b[:n], err)
		}
	}
	if rcv.TakeFD() != -1 {
		t.Error("a second fd was taken from one console message")
	}
	m, err = rcv.Next()
	if err != nil || m.Type != MsgReady || m.User == nil || m.User.UID != 7 || m.User.GID != 8 {
		t.Fatalf("second message %+v, %v; want ready from uid 7 gid 8", m, err)
	}
	done := make(chan error, 1)
	go func() { _, err := rcv.Next(); done <- err }()
	select {
	case err := <-done:
		if err != io.EOF {
			t.Fatalf("after the last message: %v, want io.EOF", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("read after the last message did not end at end of file")
	}
}

// TestReceiverPeerReset: a child that dies with the plan unread resets the
// socket; the receiver returns the error (the exec helper can be killed by
// the task it joins), never a negative count that panics the decoder.
func TestReceiverPeerReset(t *testing.T) {
	parent, child := protocolSocketPair(t)
	// The parent's plan sits unread in the child's queue when it dies.
	if _, err := parent.Write([]byte(`{"version":2}` + "\n")); err != nil {
		t.Fatal(err)
	}
	child.Close()
	rcv := NewReceiver(parent)
	defer rcv.Close()
	m, err := rcv.Next()
	if err == nil {
		t.Fatalf("Next after the peer reset = %+v, want an error", m)
	}
}

// TestExpectTakesConsole: a console before ready is taken by Expect, its
// pty master kept for TakeConsole (once); a console message without its
// fd is an error naming what was expected.
func TestExpectTakesConsole(t *testing.T) {
	parent, child := protocolSocketPair(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := unix.Sendmsg(int(child.Fd()), appendMessage(nil, &Message{Type: MsgConsole}), unix.UnixRights(int(w.Fd())), nil, 0); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := writeMessage(child, &Message{Type: MsgReady}); err != nil {
		t.Fatal(err)
	}
	child.Close()
	rcv := NewReceiver(parent)
	defer rcv.Close()
	m, err := rcv.Expect(MsgReady)
	if err != nil || m.Type != MsgReady {
		t.Fatalf("Expect(ready) = %+v, %v", m, err)
	}
	fd := rcv.TakeConsole()
	if fd < 0 {
		t.Fatal("no console taken")
	}
	unix.Close(fd)
	if rcv.TakeConsole() != -1 {
		t.Error("the console was taken twice")
	}

	// Without the fd (a plain stream): an error, not a silent skip.
	rcv = NewReceiver(strings.NewReader(`{"type":"console"}` + "\n" + `{"type":"ready"}` + "\n"))
	if _, err := rcv.Expect(MsgReady); err == nil || !strings.Contains(err.Error(), "expected ready") || !strings.Contains(err.Error(), "pty master") {
		t.Errorf("Expect(ready) after a console without fd: %v", err)
	}
}
