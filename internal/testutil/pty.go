package testutil

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// Pty is a pseudo-terminal pair on the host's devpts, allocated by a test
// to run berth on as an interactive shell would.
type Pty struct {
	// Master is non-blocking, so that Go's poller reads it and Close ends
	// a pending Read.
	Master *os.File
	// Slave stays blocking: it is handed to a child as its stdin, stdout,
	// stderr and controlling terminal, and the file status flags are
	// shared with the child.
	Slave *os.File
	// Name is the slave's path, /dev/pts/N.
	Name string
}

// OpenPty allocates a pseudo-terminal: /dev/ptmx opened without becoming
// the caller's controlling terminal, unlocked (TIOCSPTLCK 0), and its slave
// /dev/pts/N (TIOCGPTN) opened. Both ends are closed when t ends.
func OpenPty(t testing.TB) *Pty {
	t.Helper()
	p, err := openPty()
	if err != nil {
		t.Fatalf("allocate a pty: %v", err)
	}
	t.Cleanup(func() {
		p.Master.Close()
		p.Slave.Close()
	})
	return p
}

func openPty() (*Pty, error) {
	mfd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(mfd)
		return nil, fmt.Errorf("unlock pty (TIOCSPTLCK): %w", err)
	}
	n, err := unix.IoctlGetUint32(mfd, unix.TIOCGPTN)
	if err != nil {
		unix.Close(mfd)
		return nil, fmt.Errorf("pty number (TIOCGPTN): %w", err)
	}
	name := "/dev/pts/" + strconv.FormatUint(uint64(n), 10)
	sfd, err := unix.Open(name, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(mfd)
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	if err := unix.SetNonblock(mfd, true); err != nil {
		unix.Close(mfd)
		unix.Close(sfd)
		return nil, fmt.Errorf("pty master: set non-blocking: %w", err)
	}
	return &Pty{
		Master: os.NewFile(uintptr(mfd), "/dev/ptmx"),
		Slave:  os.NewFile(uintptr(sfd), name),
		Name:   name,
	}, nil
}

// SetSize sets the terminal's window size through the master. The kernel
// sends SIGWINCH to the terminal's foreground process group when the size
// changes.
func (p *Pty) SetSize(rows, cols uint16) error {
	// Not Master.Fd(): that would put the master back into blocking mode.
	rc, err := p.Master.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	if err := rc.Control(func(fd uintptr) {
		ioErr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
	}); err != nil {
		return err
	}
	return ioErr
}

// Size reads the terminal's window size.
func (p *Pty) Size() (rows, cols uint16, err error) {
	ws, err := unix.IoctlGetWinsize(int(p.Slave.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0, 0, err
	}
	return ws.Row, ws.Col, nil
}

// Termios reads the terminal's modes as its slave side sees them.
func (p *Pty) Termios() (unix.Termios, error) {
	tio, err := unix.IoctlGetTermios(int(p.Slave.Fd()), unix.TCGETS)
	if err != nil {
		return unix.Termios{}, err
	}
	return *tio, nil
}

// PendingInput reads what input is waiting on the slave side, waiting up
// to wait for some to arrive: what a shell reading the terminal would get
// next. In canonical mode only complete lines are readable.
func (p *Pty) PendingInput(wait int) ([]byte, error) {
	fd := int(p.Slave.Fd())
	var out []byte
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, wait)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return out, fmt.Errorf("poll %s: %w", p.Name, err)
		}
		if n == 0 || fds[0].Revents&unix.POLLIN == 0 {
			return out, nil
		}
		buf := make([]byte, 4096)
		m, err := unix.Read(fd, buf)
		if m > 0 {
			out = append(out, buf[:m]...)
		}
		if err != nil && err != unix.EINTR {
			return out, fmt.Errorf("read %s: %w", p.Name, err)
		}
		if m <= 0 {
			return out, nil
		}
		// Anything more is already queued: do not wait again.
		wait = 0
	}
}
