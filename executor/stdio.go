package executor

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/berthrun/berth/nsinit"
	"golang.org/x/sys/unix"
)

// WindowSize is a terminal's size in characters.
type WindowSize = nsinit.WindowSize

// streams are the parent's side of a process's standard streams: the child's
// ends to hand over and the goroutines feeding pipes.
type streams struct {
	// childFiles are the child's ends of pipes (and /dev/null), closed once
	// it runs.
	childFiles []*os.File
	// copies are the goroutines draining output; they end when every
	// writer in the task is gone.
	copies sync.WaitGroup
	// readers are the parent's ends the copies read (output pipes, a pty
	// master), for drain to close.
	mu      sync.Mutex
	readers []*os.File
}

// reading records a parent-side end a copy reads.
func (s *streams) reading(f *os.File) {
	s.mu.Lock()
	s.readers = append(s.readers, f)
	s.mu.Unlock()
}

// drain waits for the output copies to end, at most grace: a process that
// is not the one waited for (a task process that reopened an exec'd
// process's stdout through /proc, or opened its pty) can hold the other end
// open for ever. Past grace the parent's ends are closed, which ends the
// copies: what such a process writes later is not the exec's output.
func (s *streams) drain(grace time.Duration) {
	done := make(chan struct{})
	go func() {
		s.copies.Wait()
		close(done)
	}()
	select {
	case <-done:
		return
	case <-time.After(grace):
	}
	s.mu.Lock()
	for _, f := range s.readers {
		f.Close()
	}
	s.mu.Unlock()
	<-done
}

// stdio returns the child's fds 0, 1 and 2. Files are handed over as they
// are, except terminals; other readers and writers are fed through pipes.
func (s *streams) stdio(in io.Reader, out, errw io.Writer) ([]*os.File, error) {
	files := make([]*os.File, 3)
	var err error
	if files[0], err = s.input(in); err != nil {
		return nil, err
	}
	if files[1], err = s.output(out); err != nil {
		return nil, err
	}
	if files[2], err = s.output(errw); err != nil {
		return nil, err
	}
	return files, nil
}

// devNullStdio is fds 0, 1 and 2 of a process that gets a pty of its own.
func (s *streams) devNullStdio() ([]*os.File, error) {
	in, err := s.devNull(os.O_RDONLY)
	if err != nil {
		return nil, err
	}
	out, err := s.devNull(os.O_WRONLY)
	if err != nil {
		return nil, err
	}
	return []*os.File{in, out, out}, nil
}

func (s *streams) input(r io.Reader) (*os.File, error) {
	if f, ok := r.(*os.File); ok && !isTerminal(f) {
		return f, nil
	}
	if r == nil {
		return s.devNull(os.O_RDONLY)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("stdin pipe: %w", err)
	}
	s.childFiles = append(s.childFiles, pr)
	go func() {
		_, _ = io.Copy(pw, r)
		pw.Close()
	}()
	return pr, nil
}

// output hands a file to the child, or a pipe drained into w. A terminal
// is never handed over: a process holding an fd of the caller's terminal
// can push input into it (TIOCSTI, which CAP_SYS_ADMIN allows on any
// terminal, not only the controlling one) or change its settings.
func (s *streams) output(w io.Writer) (*os.File, error) {
	if f, ok := w.(*os.File); ok && !isTerminal(f) {
		return f, nil
	}
	if w == nil {
		return s.devNull(os.O_WRONLY)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("output pipe: %w", err)
	}
	s.childFiles = append(s.childFiles, pw)
	s.reading(pr)
	s.copies.Add(1)
	go func() {
		defer s.copies.Done()
		_, _ = io.Copy(w, pr)
		pr.Close()
	}()
	return pw, nil
}

func (s *streams) devNull(flag int) (*os.File, error) {
	f, err := os.OpenFile(os.DevNull, flag, 0)
	if err != nil {
		return nil, err
	}
	s.childFiles = append(s.childFiles, f)
	return f, nil
}

// closeChildFiles closes the child's ends once it holds them.
func (s *streams) closeChildFiles() {
	for _, f := range s.childFiles {
		f.Close()
	}
	s.childFiles = nil
}

// relayConsole copies between a pty master and the caller's streams: the
// master's output to out, in to the master, and each size from resize to
// the pty. Output ends when every process holding the pty's other side is
// gone (the master then reads EIO); the copy counts in s.copies. The input
// goroutine ends with in's end of file or at its first write after that.
func (s *streams) relayConsole(master *os.File, in io.Reader, out io.Writer, resize <-chan WindowSize) {
	s.reading(master)
	s.copies.Add(1)
	done := make(chan struct{})
	go func() {
		defer s.copies.Done()
		defer close(done)
		if out == nil {
			out = io.Discard
		}
		// The copy ends with EIO once the pty's other side is closed
		// everywhere: nothing more will come.
		_, _ = io.Copy(out, master)
		master.Close()
	}()
	if in != nil {
		go func() { _, _ = io.Copy(master, in) }()
	}
	if resize != nil {
		go func() {
			for {
				select {
				case <-done:
					return
				case ws, ok := <-resize:
					if !ok {
						return
					}
					setSize(master, ws)
				}
			}
		}()
	}
}

// setSize sets a pty's window size; the kernel sends SIGWINCH to its
// foreground process group.
func setSize(master *os.File, ws WindowSize) {
	if ws.Rows == 0 || ws.Cols == 0 {
		return
	}
	rc, err := master.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: ws.Rows, Col: ws.Cols})
	})
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	var terr error = unix.ENOTTY
	_ = rc.Control(func(fd uintptr) { _, terr = unix.IoctlGetTermios(int(fd), unix.TCGETS) })
	return terr == nil
}

// consoleFile wraps a received pty master for the runtime's poller, so a
// Close ends the reads and writes blocked on it.
func consoleFile(fd int) (*os.File, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("pty master: %w", err)
	}
	return os.NewFile(uintptr(fd), "pty-master"), nil
}
