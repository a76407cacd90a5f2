package main

import (
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/berthrun/berth/executor"
	"golang.org/x/term"
)

// terminal is the caller's terminal while a -t task or exec runs: in raw
// mode, so every key goes to the task's own pty, and its size followed.
type terminal struct {
	fd     int // the terminal in raw mode; -1 when stdin is none
	old    *term.State
	size   *executor.WindowSize
	resize chan executor.WindowSize
	winch  chan os.Signal
	once   sync.Once
}

// openTerminal puts stdin in raw mode when it is a terminal and starts
// following the size of whichever of stdin and stdout is one.
func openTerminal() (*terminal, error) {
	t := &terminal{fd: -1, resize: make(chan executor.WindowSize, 1), winch: make(chan os.Signal, 1)}
	sizeFD := -1
	for _, fd := range []int{0, 1} {
		if term.IsTerminal(fd) {
			sizeFD = fd
			break
		}
	}
	if term.IsTerminal(0) {
		old, err := term.MakeRaw(0)
		if err != nil {
			return nil, err
		}
		t.fd, t.old = 0, old
	}
	if sizeFD >= 0 {
		t.size = sizeOf(sizeFD)
		signal.Notify(t.winch, syscall.SIGWINCH)
		go func() {
			for range t.winch {
				if ws := sizeOf(sizeFD); ws != nil {
					// Keep only the newest size.
					select {
					case <-t.resize:
					default:
					}
					t.resize <- *ws
				}
			}
		}()
	}
	return t, nil
}

func sizeOf(fd int) *executor.WindowSize {
	cols, rows, err := term.GetSize(fd)
	if err != nil || cols <= 0 || rows <= 0 || cols > 0xffff || rows > 0xffff {
		return nil
	}
	return &executor.WindowSize{Rows: uint16(rows), Cols: uint16(cols)}
}

// restore gives the caller's terminal back as it was. It is safe on a nil
// terminal and more than once.
func (t *terminal) restore() {
	if t == nil {
		return
	}
	t.once.Do(func() {
		signal.Stop(t.winch)
		close(t.winch)
		if t.old != nil {
			_ = term.Restore(t.fd, t.old)
		}
	})
}
