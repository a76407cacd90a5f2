package benchutil

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// CgroupParent is the cgroup every benchmark task lives under, on both
// sides: berth's tasks below CgroupParent/berth, libcontainer's below
// CgroupParent/libcontainer. Nothing else on the machine uses it, so
// RemoveCgroups may delete it whole.
const CgroupParent = "berth-bench"

// cgroupRoot holds one mount per v1 hierarchy and, on a hybrid host, the
// cgroup2 mount at unified/.
const cgroupRoot = "/sys/fs/cgroup"

// RemoveCgroups removes CgroupParent from every mounted cgroup hierarchy,
// deepest directories first. It only ever calls rmdir, so a cgroup that
// still holds a process stays and is reported: a leak to fix, not to hide.
func RemoveCgroups() error {
	var errs []error
	for _, h := range hierarchies() {
		top := filepath.Join(h, CgroupParent)
		if _, err := os.Stat(top); err != nil {
			continue
		}
		var dirs []string
		_ = filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		// Deepest first: a cgroup with children cannot be removed.
		slices.SortFunc(dirs, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
		for _, d := range dirs {
			if err := rmdirRetry(d); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// LeftCgroups lists the cgroups below CgroupParent in every hierarchy,
// CgroupParent itself excluded.
func LeftCgroups() []string {
	var left []string
	for _, h := range hierarchies() {
		top := filepath.Join(h, CgroupParent)
		_ = filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() && p != top && filepath.Dir(p) != top {
				left = append(left, p)
			}
			return nil
		})
	}
	return left
}

// hierarchies lists the mounted cgroup hierarchies below /sys/fs/cgroup,
// or /sys/fs/cgroup itself on a pure cgroup2 host.
func hierarchies() []string {
	var st unix.Statfs_t
	if unix.Statfs(cgroupRoot, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return []string{cgroupRoot}
	}
	ents, err := os.ReadDir(cgroupRoot)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		p := filepath.Join(cgroupRoot, e.Name())
		fi, err := os.Lstat(p)
		if err != nil || !fi.IsDir() { // cpu,cpuacct style symlinks name a hierarchy twice
			continue
		}
		if unix.Statfs(p, &st) == nil && (st.Type == unix.CGROUP_SUPER_MAGIC || st.Type == unix.CGROUP2_SUPER_MAGIC) {
			out = append(out, p)
		}
	}
	return out
}

// rmdirRetry removes a cgroup directory, waiting briefly while a process
// that was just killed is still leaving it (EBUSY).
func rmdirRetry(dir string) error {
	deadline := time.Now().Add(2 * time.Second)
	for {
		err := unix.Rmdir(dir)
		switch {
		case err == nil || errors.Is(err, unix.ENOENT):
			return nil
		case errors.Is(err, unix.EBUSY) && time.Now().Before(deadline):
			time.Sleep(10 * time.Millisecond)
		default:
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
	}
}
