package inputfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok")
	if err := os.WriteFile(ok, []byte("12345"), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := Read(ok, 5); err != nil || string(b) != "12345" {
		t.Errorf("Read(ok, 5) = %q, %v", b, err)
	}
	for _, c := range []struct {
		path string
		max  int64
		want string
	}{
		{ok, 4, "larger than 4 bytes"},
		{fifo, 10, "not a regular file"}, // must not block
		{"/dev/zero", 10, "not a regular file"},
		{dir, 10, "not a regular file"},
		{filepath.Join(dir, "none"), 10, "no such file"},
	} {
		if _, err := Read(c.path, c.max); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Read(%s, %d) = %v, want %q", c.path, c.max, err, c.want)
		}
	}
}
