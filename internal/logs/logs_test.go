package logs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	if b, _ := os.ReadFile(Rotated(path)); string(b) != "1234567890abc\n" {
		t.Errorf(".1 holds %q", b)
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
	path := filepath.Join(dir, Stderr)
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
		if fi, err := os.Stat(Rotated(path)); err == nil && fi.Size() > MaxSize {
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
