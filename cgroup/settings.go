package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// setting is one value for one cgroup file that berth writes itself rather
// than through containerd/cgroups: block I/O, huge pages, network, RDMA
// and Unified. cgroup1 and cgroup2 write those with O_CREAT, so a file
// the kernel lacks comes back as a bare EACCES or ENOENT with no field in
// it; here the field that asked for the value travels into the error, and
// a missing file says the kernel has no such control.
type setting struct {
	field string // "Resources.BlockIO.Weight"
	file  string // the full path
	value string
}

// applySettings writes each setting in order, stopping at the first
// failure. The kernel parses most of these files one rule per write
// (blkio.throttle.*, io.max, rdma.max), so each setting is one write.
func applySettings(settings []setting) error {
	for _, s := range settings {
		if err := writeFile(s.file, s.value); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("%s: %s does not exist: the kernel has no such control here", s.field, s.file)
			}
			return fmt.Errorf("%s: write %q to %s: %w", s.field, s.value, s.file, unwrapPathErr(err))
		}
	}
	return nil
}

// exists reports whether file exists: on cgroupfs, whether the kernel
// offers that control.
func exists(file string) bool {
	_, err := os.Stat(file)
	return err == nil
}
