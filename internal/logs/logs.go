// Package logs keeps a detached task's output in its state dir, bounded:
// stdout.log and stderr.log in a tmpfs of their own (Dir, FSSize), which
// the task writes directly (no process between the task and its output, so
// none whose death breaks the task's writes). Each is copied to NAME.1 (its
// last MaxSize bytes) and truncated once it exceeds MaxSize
// ("copytruncate": the task's O_APPEND writes go on at the new end). What
// the task writes between the copy and the truncation is lost, as with
// logrotate's copytruncate.
//
// The tmpfs is what bounds them: a task holds a writable fd of each file,
// so it could otherwise grow them at will (ftruncate, fallocate, one huge
// write) on the state dir's filesystem, and reach that filesystem through
// the fd (open_by_handle_at). Past FSSize its writes fail with ENOSPC until
// the next rotation. The package links nothing but the standard library
// and x/sys: the lean reaper (berth-init) runs it.
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

// Dir is the directory in a task's state dir that holds its logs: the
// mount point of their tmpfs.
const Dir = "logs"

// FSSize bounds the tmpfs: both streams, each with its older generation
// and a rotation's copy under way.
const FSSize = 5*MaxSize + 2<<20

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
	// The older generation goes first: its space is needed for the copy.
	os.Remove(Rotated(path))
	tmp := Rotated(path) + ".tmp"
	dst, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err == nil {
		// Only the last max bytes, of what was there when looked at: a
		// task that made its log huge (or sparse) costs no more, and a
		// fast writer is not chased for ever (what it writes meanwhile
		// is lost with the truncation).
		start := fi.Size() - max
		_, err = io.Copy(dst, io.NewSectionReader(f, start, max))
		if cerr := dst.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp, Rotated(path))
		}
		if err != nil {
			os.Remove(tmp)
		}
	}
	// Truncate whatever happened to the copy: the log must shrink.
	if terr := f.Truncate(0); terr != nil && err == nil {
		err = terr
	}
	if err != nil {
		return true, fmt.Errorf("rotate %s: %w", path, err)
	}
	return true, nil
}

// Mount puts a tmpfs of FSSize at dir/Dir for a task's logs.
func Mount(dir string) (string, error) {
	mnt := filepath.Join(dir, Dir)
	if err := os.Mkdir(mnt, 0o700); err != nil {
		return "", fmt.Errorf("logs: %w", err)
	}
	data := fmt.Sprintf("size=%d,mode=0700", FSSize)
	if err := unix.Mount("task-logs", mnt, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, data); err != nil {
		os.Remove(mnt)
		return "", fmt.Errorf("logs: mount tmpfs at %s: %w", mnt, err)
	}
	return mnt, nil
}

// Unmount removes the logs of the task whose state dir is dir, if any:
// their tmpfs (lazily: a reader may still hold a file) and its mount point.
func Unmount(dir string) error {
	mnt := filepath.Join(dir, Dir)
	if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
		return fmt.Errorf("logs: unmount %s: %w", mnt, err)
	}
	// A mount point never mounted (a failed Mount) may hold nothing.
	if err := os.RemoveAll(mnt); err != nil {
		return fmt.Errorf("logs: %w", err)
	}
	return nil
}

// Watch rotates the logs of the task whose state dir is dir whenever one
// grows past MaxSize, until stop is closed. It wakes on inotify's
// IN_MODIFY, at most every MinGap, and checks once when it starts (what
// was written before the watch); a file that does not exist (the stream
// went elsewhere) is not watched.
func Watch(dir string, stop <-chan struct{}) error {
	dir = filepath.Join(dir, Dir)
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
	for _, p := range paths {
		_, _ = Rotate(p, MaxSize)
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
