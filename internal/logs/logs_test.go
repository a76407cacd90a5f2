package logs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestTrim: a log under twice the limit is left alone; past it, all but
// its last bytes are freed by a hole, the size stays (a writer's O_APPEND
// and a reader's offset go on), and readers find the data after the hole.
func TestTrim(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, Stdout)
	w, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	page := os.Getpagesize()
	chunk := strings.Repeat("a", page-1) + "\n"
	for i := 0; i < 3; i++ {
		w.WriteString(chunk)
	}
	if trimmed, err := Trim(path, int64(2*page)); trimmed || err != nil {
		t.Fatalf("Trim under twice the limit = %v, %v", trimmed, err)
	}
	for i := 0; i < 5; i++ {
		w.WriteString(chunk)
	}
	if trimmed, err := Trim(path, int64(2*page)); !trimmed || err != nil {
		t.Fatalf("Trim past twice the limit = %v, %v", trimmed, err)
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != int64(8*page) || st.Blocks*512 > int64(2*page) {
		t.Errorf("after the trim: size %d (want %d), %d bytes allocated (want at most %d)", st.Size, 8*page, st.Blocks*512, 2*page)
	}
	w.WriteString("next\n")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	start := DataStart(f, 0)
	if start != int64(6*page) {
		t.Errorf("DataStart = %d, want %d: past the hole", start, 6*page)
	}
	b := make([]byte, 8*page)
	n, _ := f.ReadAt(b, start)
	if got := string(b[:n]); got != chunk+chunk+"next\n" {
		t.Errorf("after the hole: %d bytes, want the last two chunks and the new write", n)
	}
	if trimmed, err := Trim(filepath.Join(dir, "missing"), 10); trimmed || err != nil {
		t.Errorf("Trim of a missing log = %v, %v", trimmed, err)
	}
}

// TestWatch: writes past MaxSize are rotated without anyone asking, and
// Watch ends when stopped.
func TestWatch(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, Dir), 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, Dir, Stderr)
	w, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- Watch(dir, stop) }()
	time.Sleep(50 * time.Millisecond) // the watch is set up
	line := strings.Repeat("x", 1023) + "\n"
	for written := 0; written <= MaxSize; written += len(line) {
		w.WriteString(line)
	}
	for written := 0; written <= MaxSize; written += len(line) {
		w.WriteString(line) // past twice MaxSize
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var st unix.Stat_t
		if err := unix.Stat(path, &st); err == nil && st.Blocks*512 <= MaxSize+int64(os.Getpagesize()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the log was not trimmed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Watch: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not end when stopped")
	}
}

// TestTrimSparse: a task that made its log huge and sparse (ftruncate)
// costs nothing: there is nothing to free, and a reader finds no data.
func TestTrimSparse(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, Stdout)
	w, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Truncate(1 << 40); err != nil {
		t.Fatal(err)
	}
	if trimmed, err := Trim(path, 1<<20); trimmed || err != nil {
		t.Fatalf("Trim of a sparse log = %v, %v", trimmed, err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := DataStart(f, 1<<40-1<<21); got != 1<<40 {
		t.Errorf("DataStart in a hole to the end = %d, want the size", got)
	}
}

// TestMountBounds: the logs' tmpfs refuses writes past FSSize (ENOSPC), so
// a task cannot fill the state dir's filesystem through its log; Unmount
// removes it.
func TestMountBounds(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatalf("mounting a tmpfs needs root (running as euid %d)", os.Geteuid())
	}
	dir := t.TempDir()
	mnt, err := Mount(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer Unmount(dir)
	f, err := os.OpenFile(filepath.Join(mnt, Stdout), os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fallocate(int(f.Fd()), 0, 0, 2*FSSize); err == nil {
		t.Errorf("fallocate of %d bytes in the logs' tmpfs succeeded", 2*FSSize)
	}
	if err := Unmount(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(mnt); !os.IsNotExist(err) {
		t.Errorf("mount point still there: %v", err)
	}
}
