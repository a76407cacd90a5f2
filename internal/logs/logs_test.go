package logs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestRotate: a log under the limit is left alone; over it, it is copied
// to .1 (replacing the older generation) and truncated, and a writer that
// appends goes on at its new start.
func TestRotate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, Stdout)
	w, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.WriteString("12345")
	if rotated, err := Rotate(path, 10); rotated || err != nil {
		t.Fatalf("Rotate under the limit = %v, %v", rotated, err)
	}
	w.WriteString("67890abc\n")
	if err := os.WriteFile(Rotated(path), []byte("older"), 0o600); err != nil {
		t.Fatal(err)
	}
	if rotated, err := Rotate(path, 10); !rotated || err != nil {
		t.Fatalf("Rotate over the limit = %v, %v", rotated, err)
	}
	// Only the last 10 bytes are kept.
	if b, _ := os.ReadFile(Rotated(path)); string(b) != "567890abc\n" {
		t.Errorf(".1 holds %q, want the log's last 10 bytes", b)
	}
	w.WriteString("next\n")
	if b, _ := os.ReadFile(path); string(b) != "next\n" {
		t.Errorf("after rotation the log holds %q, want the new write at its start", b)
	}
	if rotated, err := Rotate(filepath.Join(dir, "missing"), 10); rotated || err != nil {
		t.Errorf("Rotate of a missing log = %v, %v", rotated, err)
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
	deadline := time.Now().Add(10 * time.Second)
	for {
		if fi, err := os.Stat(Rotated(path)); err == nil && fi.Size() == MaxSize {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the log was not rotated")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if fi, _ := os.Stat(path); fi.Size() > MaxSize {
		t.Errorf("the log is %d bytes after rotation", fi.Size())
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

// TestRotateHuge: a task that made its log huge and sparse (ftruncate) or
// wrote far past the limit at once costs one MaxSize copy, and the log is
// emptied whatever happens to the copy.
func TestRotateHuge(t *testing.T) {
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
	if rotated, err := Rotate(path, 1<<20); !rotated || err != nil {
		t.Fatalf("Rotate = %v, %v", rotated, err)
	}
	for f, want := range map[string]int64{path: 0, Rotated(path): 1 << 20} {
		if fi, err := os.Stat(f); err != nil || fi.Size() != want {
			t.Errorf("%s: %v, %v; want %d bytes", f, fi, err, want)
		}
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
