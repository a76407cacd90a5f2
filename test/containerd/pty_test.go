package containerd_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// terminal is ctr started on a pseudo-terminal of our own, as a person
// would run `ctr run -t` from a shell: ctr's stdin, stdout and stderr are
// the pty's slave, which is its controlling terminal.
type terminal struct {
	master *os.File
	cmd    *exec.Cmd
	done   chan struct{}

	mu  sync.Mutex
	out strings.Builder
}

func ioctl(fd uintptr, req uintptr, arg unsafe.Pointer) error {
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, req, uintptr(arg)); e != 0 {
		return e
	}
	return nil
}

// startOnTerminal opens a pty sized rows x cols and runs ctr with args on it.
func (x *harness) startOnTerminal(rows, cols uint16, args ...string) (*terminal, error) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	var unlock int32
	var n uint32
	if err := ioctl(master.Fd(), syscall.TIOCSPTLCK, unsafe.Pointer(&unlock)); err != nil {
		master.Close()
		return nil, fmt.Errorf("unlock pty: %w", err)
	}
	if err := ioctl(master.Fd(), syscall.TIOCGPTN, unsafe.Pointer(&n)); err != nil {
		master.Close()
		return nil, fmt.Errorf("pty number: %w", err)
	}
	ws := struct{ row, col, x, y uint16 }{rows, cols, 0, 0}
	if err := ioctl(master.Fd(), syscall.TIOCSWINSZ, unsafe.Pointer(&ws)); err != nil {
		master.Close()
		return nil, fmt.Errorf("pty size: %w", err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, err
	}
	defer slave.Close()
	cmd := exec.Command(filepath.Join(x.bin, "ctr"), append([]string{"--address", x.sock, "--namespace", namespace}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		master.Close()
		return nil, err
	}
	t := &terminal{master: master, cmd: cmd, done: make(chan struct{})}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			t.mu.Lock()
			t.out.Write(buf[:n])
			t.mu.Unlock()
			if err != nil { // EIO once the last slave fd is closed
				close(t.done)
				return
			}
		}
	}()
	return t, nil
}

func (t *terminal) output() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.out.String()
}

// waitFor waits until the screen shows s.
func (t *terminal) waitFor(s string, timeout time.Duration) bool {
	return eventually(timeout, func() bool { return strings.Contains(t.output(), s) })
}

func (t *terminal) write(s string) error {
	_, err := t.master.WriteString(s)
	return err
}

// wait waits for ctr to exit (killing it after timeout) and returns its
// exit code and everything it printed.
func (t *terminal) wait(timeout time.Duration) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	exited := make(chan error, 1)
	go func() { exited <- t.cmd.Wait() }()
	var err error
	select {
	case err = <-exited:
	case <-ctx.Done():
		_ = t.cmd.Process.Kill()
		<-exited
		err = fmt.Errorf("ctr still running after %s: killed", timeout)
	}
	select {
	case <-t.done:
	case <-time.After(5 * time.Second):
	}
	t.master.Close()
	code := t.cmd.ProcessState.ExitCode()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		err = nil
	}
	return code, dropDeprecation(t.output()), err
}
