package executor

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/berthrun/berth/mounts"
	"github.com/berthrun/berth/proc"
)

// checkBindSource refuses a writable bind that is, or holds below it, a
// filesystem of the kernel's own: through a writable bind of the host's
// /proc a task (root, with no user namespace) writes the host's sysctls
// (core_pattern: code run by the host's kernel), through one of a cgroup
// hierarchy it moves itself out of its cgroup and its device control,
// through binfmt_misc or tracefs it reaches the whole host. Read-only,
// they are the host's view and stay allowed. The bind step checks the
// cloned tree's own filesystem again (mounts.KernelFS), so a source
// swapped after this check is refused there.
func checkBindSource(m Mount) error {
	if m.ReadOnly {
		return nil
	}
	src, err := filepath.EvalSymlinks(m.Source)
	if err != nil {
		return nil // mounts.Plan names a missing source
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return fmt.Errorf("mount %s:%s: %w", m.Source, m.Destination, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		point, fstype, ok := mountPointAndType(sc.Text())
		if !ok || !mounts.KernelFSType(fstype) {
			continue
		}
		switch {
		case isUnder(point, src):
			return fmt.Errorf("mount %s:%s: %s holds the host's %s filesystem at %s: a writable bind of it reaches the host's kernel; add :ro", m.Source, m.Destination, m.Source, fstype, point)
		case isUnder(src, point):
			return fmt.Errorf("mount %s:%s: %s lies in the host's %s filesystem at %s: a writable bind of it reaches the host's kernel; add :ro", m.Source, m.Destination, m.Source, fstype, point)
		}
	}
	return sc.Err()
}

// isUnder reports whether p is dir or below it.
func isUnder(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

// mountPointAndType reads a mountinfo line's mount point (unescaped) and
// filesystem type.
func mountPointAndType(line string) (point, fstype string, ok bool) {
	before, after, found := strings.Cut(line, " - ")
	if !found {
		return "", "", false
	}
	f := strings.Fields(before)
	a := strings.Fields(after)
	if len(f) < 5 || len(a) < 1 {
		return "", "", false
	}
	return proc.UnescapeMountinfo(f[4]), a[0], true
}
