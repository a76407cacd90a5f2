package testutil

import (
	"github.com/berthrun/berth/proc"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// MountTable is the mount table of the test process (the host's), as
// /proc/self/mountinfo lines without the mount id and parent id (which a
// remount renumbers), sorted.
type MountTable []string

// SnapshotMounts reads the current mount table of the test process.
func SnapshotMounts(t testing.TB) MountTable {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatalf("snapshot mounts: %v", err)
	}
	var mt MountTable
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(l, " ", 3)
		if len(f) == 3 {
			mt = append(mt, f[2])
		}
	}
	slices.Sort(mt)
	return mt
}

// MountScope says which mounts are a task's. The host's mount table is
// shared with everything else on the machine (other test binaries, other
// sessions, systemd), so a leak check looks only at the task's mounts: a
// mount coming or going elsewhere is not the task's leak, and must not
// fail its test.
type MountScope struct {
	// Dirs are the task's directories: its state dir, its TMPDIR, its task
	// dir or rootfs (or the test's directory holding them, TempDirRoot).
	// A mount whose mount point or source is one of them or lies below one
	// is the task's.
	Dirs []string
	// ID is the task's id: a mount whose mount point, root or source
	// names it is the task's.
	ID string
}

// Owns reports whether a MountTable line is a mount of the scope's task:
// its mount point or source lies in one of Dirs, or its mount point, root
// (the path inside the mounted filesystem, which names a bind mount's
// origin) or source names ID or has a path element that is berth's
// ("berth", "berth-*", as /run/berth or /tmp/berth-test-bin-*): not any
// word holding "berth", which other tests' ids do (TestPlantDecoyBerthInit).
func (s MountScope) Owns(line string) bool {
	m, ok := parseMountLine(line)
	if !ok {
		// Unparsable: keep it in the comparison rather than hide a leak.
		return true
	}
	for _, d := range s.Dirs {
		if d == "" {
			continue
		}
		if under(m.mountPoint, d) || under(m.source, d) {
			return true
		}
	}
	for _, p := range []string{m.mountPoint, m.root, m.source} {
		if namesBerth(p) || (s.ID != "" && strings.Contains(p, s.ID)) {
			return true
		}
	}
	return false
}

// namesBerth reports whether a path has an element that is berth's own.
func namesBerth(p string) bool {
	for _, e := range strings.Split(p, "/") {
		if e == "berth" || strings.HasPrefix(e, "berth-") || strings.HasPrefix(e, "berth.") {
			return true
		}
	}
	return false
}

// In returns the lines of mt that are the scope's task's mounts.
func (mt MountTable) In(s MountScope) MountTable {
	s = s.resolved()
	var own MountTable
	for _, l := range mt {
		if s.Owns(l) {
			own = append(own, l)
		}
	}
	return own
}

// resolved adds to Dirs each one's path with symlinks resolved (the
// kernel reports mount points resolved), and cleans them.
func (s MountScope) resolved() MountScope {
	var dirs []string
	for _, d := range s.Dirs {
		if d == "" {
			continue
		}
		dirs = append(dirs, filepath.Clean(d))
		if r, err := filepath.EvalSymlinks(d); err == nil && r != filepath.Clean(d) {
			dirs = append(dirs, r)
		}
	}
	return MountScope{Dirs: dirs, ID: s.ID}
}

// AssertMountsUnchanged fails t when a mount of the scope's task appeared
// or went away since before was taken, listing them. Mounts outside the
// scope are not compared.
func AssertMountsUnchanged(t testing.TB, before MountTable, scope MountScope) {
	t.Helper()
	after := SnapshotMounts(t)
	added, removed := diff(before.In(scope), after.In(scope))
	if len(added) > 0 || len(removed) > 0 {
		t.Errorf("mounts of the task (under %s, or naming %q or \"berth\") changed:\n  added:   %s\n  removed: %s",
			strings.Join(scope.Dirs, ", "), scope.ID,
			strings.Join(added, "\n           "), strings.Join(removed, "\n           "))
	}
}

// numbered is the name of a directory t.TempDir made.
var numbered = regexp.MustCompile(`^[0-9]{3,}$`)

// TempDirRoot returns the directory that holds dir and every other
// t.TempDir() of the test that made dir (the testing package makes them as
// numbered entries of one fresh directory per test), so that a MountScope
// holding it covers the rootfs, TMPDIR and files the test made there. It
// returns dir itself when dir does not look like one of them, or when its
// parent is the shared temp dir: a scope must not grow to all of /tmp,
// where other tests and sessions mount.
func TempDirRoot(dir string) string {
	dir = filepath.Clean(dir)
	parent := filepath.Dir(dir)
	if !numbered.MatchString(filepath.Base(dir)) {
		return dir
	}
	for _, shared := range []string{os.TempDir(), os.Getenv("GOTMPDIR"), "/"} {
		if shared != "" && parent == filepath.Clean(shared) {
			return dir
		}
	}
	return parent
}

// mountLine is what a leak check reads of a MountTable line.
type mountLine struct {
	root, mountPoint, source string
}

// parseMountLine reads a mountinfo line without its first two fields:
// "MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER".
func parseMountLine(line string) (mountLine, bool) {
	pre, post, ok := strings.Cut(line, " - ")
	if !ok {
		return mountLine{}, false
	}
	f, fs := strings.Fields(pre), strings.Fields(post)
	if len(f) < 3 || len(fs) < 2 {
		return mountLine{}, false
	}
	return mountLine{
		root:       proc.UnescapeMountinfo(f[1]),
		mountPoint: proc.UnescapeMountinfo(f[2]),
		source:     proc.UnescapeMountinfo(fs[1]),
	}, true
}

// under reports whether path is dir or lies below it.
func under(path, dir string) bool {
	if dir == "/" {
		return strings.HasPrefix(path, "/")
	}
	return path == dir || strings.HasPrefix(path, dir+"/")
}

// diff returns the lines only in b (added) and only in a (removed), both
// sorted multisets.
func diff(a, b []string) (added, removed []string) {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i] < b[j]):
			removed = append(removed, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			added = append(added, b[j])
			j++
		default:
			i++
			j++
		}
	}
	return added, removed
}
