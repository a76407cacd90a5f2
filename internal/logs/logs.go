// Package logs keeps a detached task's output in its state dir, bounded:
// stdout.log and stderr.log in a tmpfs of their own (Dir, FSSize), which
// the task writes directly (no process between the task and its output, so
// none whose death breaks the task's writes, and nothing that buffers).
// Once a log holds more than 2 × MaxSize, everything but its last MaxSize
// bytes is freed by punching a hole over it (FALLOC_FL_PUNCH_HOLE): the
// file keeps its size, so the task's O_APPEND writes and a follower's
// offset go on undisturbed, nothing is copied and nothing recent is lost.
// Readers start at the data (SEEK_DATA), never in the hole.
//
// The tmpfs is what bounds them: a task holds a writable fd of each file,
// so it could otherwise grow them at will (fallocate, one huge write) on
// the state dir's filesystem, and reach that filesystem through the fd
// (open_by_handle_at). A task that outruns the trimming by FSSize gets
// ENOSPC on its writes until the next trim. The package links nothing but
// the standard library and x/sys: the lean reaper (berth-init) runs it.
package logs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// MaxSize is how much of a log is kept: its last MaxSize bytes, once it
// holds more than twice that.
const MaxSize = 10 << 20

// MinGap is the least time between two checks of the files' sizes.
const MinGap = 10 * time.Millisecond

// Names of a task's log files in Dir.
const (
	Stdout = "stdout.log"
	Stderr = "stderr.log"
)

// Dir is the directory in a task's state dir that holds its logs: the
// mount point of their tmpfs.
const Dir = "logs"

// FSSize bounds the tmpfs: both streams at their most before a trim, with
// room for a task to outrun the trimming for a while.
const FSSize = 6*MaxSize + 2<<20

// Trim frees all but the last max bytes of the log at path when it holds
// more than 2 × max, and reports whether it did.
func Trim(path string, max int64) (bool, error) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return false, err
	}
	if st.Blocks*512 <= 2*max {
		return false, nil
	}
	page := int64(os.Getpagesize())
	end := (st.Size - max) &^ (page - 1)
	if end <= 0 {
		return false, nil
	}
	if err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, end); err != nil {
		return false, fmt.Errorf("trim %s: %w", path, err)
	}
	return true, nil
}

// DataStart is where a reader of f from offset on finds data: offset, or
// past the hole a trim punched there; the file's size when there is none.
func DataStart(f *os.File, offset int64) int64 {
	off, err := unix.Seek(int(f.Fd()), offset, unix.SEEK_DATA)
	if err != nil {
		if fi, serr := f.Stat(); serr == nil && err == unix.ENXIO {
			return fi.Size()
		}
		return offset
	}
	return off
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

// Watch trims the logs of the task whose state dir is dir whenever one
// grows past 2 × MaxSize, until stop is closed. It wakes on inotify's
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
		_, _ = Trim(p, MaxSize)
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
			_, _ = Trim(p, MaxSize)
		}
		// Let events gather: one check covers every write meanwhile.
		time.Sleep(MinGap)
	}
}
