// Package inputfile reads the files a caller hands berth (a seccomp
// profile, an OCI bundle's config.json, exec's --process): regular files
// of bounded size. A fifo must not block berth, nor /dev/zero fill its
// memory.
package inputfile

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// Read reads path, which must be a regular file of at most max bytes.
func Read(path string, max int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	body, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(body)) > max {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, max)
	}
	return body, nil
}
