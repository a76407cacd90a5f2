// Package logs keeps a detached task's output in its state dir, bounded:
// stdout.log and stderr.log, which the task writes directly (no process
// between the task and its output, so none whose death breaks the task's
// writes), each copied to NAME.1 and truncated once it exceeds MaxSize
// ("copytruncate": the task's O_APPEND writes go on at the new end). On
// disk a stream takes at most 2 × MaxSize plus what the task writes while
// its reaper notices (inotify, at most every MinGap). Lines written
// between the copy and the truncation are lost, as with logrotate's
// copytruncate. It links nothing but the standard library's os and x/sys:
// the lean reaper (berth-init) runs it.
package logs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// MaxSize is how large a log file grows before it is rotated.
const MaxSize = 10 << 20

// MinGap is the least time between two checks of the files' sizes.
const MinGap = 10 * time.Millisecond

// Names of a task's log files in its state dir.
const (
	Stdout = "stdout.log"
	Stderr = "stderr.log"
)

// Rotated is the name a log's previous generation has.
func Rotated(name string) string { return name + ".1" }

// Rotate copies path to path.1 and truncates path when it holds more than
// max bytes. It reports whether it rotated.
func Rotate(path string, max int64) (bool, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() <= max {
		return false, err
	}
	tmp := Rotated(path) + ".tmp"
	dst, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return false, err
	}
	// Copy what was there when looked at, not what the task writes
	// meanwhile (a fast writer would be chased for ever): that part is
	// lost with the truncation.
	_, err = io.CopyN(dst, f, fi.Size())
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, Rotated(path))
	}
	if err != nil {
		os.Remove(tmp)
		return false, fmt.Errorf("rotate %s: %w", path, err)
	}
	if err := f.Truncate(0); err != nil {
		return false, fmt.Errorf("rotate %s: %w", path, err)
	}
	return true, nil
}

// Watch rotates the logs in dir whenever one grows past MaxSize, until
// stop is closed. It wakes on inotify's IN_MODIFY, at most every MinGap; a
// file that does not exist (the stream went elsewhere) is not watched.
func Watch(dir string, stop <-chan struct{}) error {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return fmt.Errorf("inotify: %w", err)
	}
	in := os.NewFile(uintptr(fd), "inotify")
	defer in.Close()
	var paths []string
	for _, name := range []string{Stdout, Stderr} {
		p := filepath.Join(dir, name)
		if _, err := unix.InotifyAddWatch(fd, p, unix.IN_MODIFY); err == nil {
			paths = append(paths, p)
		}
	}
	if len(paths) == 0 {
		<-stop
		return nil
	}
	go func() {
		<-stop
		in.Close() // ends the read below
	}()
	buf := make([]byte, 4096)
	for {
		if _, err := in.Read(buf); err != nil {
			select {
			case <-stop:
				return nil
			default:
				return fmt.Errorf("inotify: %w", err)
			}
		}
		for _, p := range paths {
			_, _ = Rotate(p, MaxSize)
		}
		// Let events gather: one check covers every write meanwhile.
		time.Sleep(MinGap)
	}
}
