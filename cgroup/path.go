package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// createdXattr marks a parent cgroup directory that berth made for a task
// placed by Config.Path: Delete removes such a parent once it is empty, and
// never touches one without the mark, which existed before (or belongs to
// someone else). cgroupfs keeps trusted.* attributes on v1 and v2 alike.
const createdXattr = "trusted.berth.created"

// resolvePath turns Config.Path into the cgroup's path below each
// hierarchy's root. An absolute path is taken below the root as is. A
// relative one is taken below the calling process's own cgroup, as runc
// does with a relative OCI cgroupsPath: on a v2 host below the parent of
// its own cgroup (which holds processes, so no controller could be enabled
// for a child of it); on a v1 or hybrid host below its cgroup in the v1
// freezer hierarchy. runc resolves each v1 controller against the caller's
// own cgroup in that controller (and the unified half of a hybrid host
// against its root); berth keeps one path in every hierarchy, so that
// state, exec and stats find the task in one place.
func resolvePath(p string, version int, procSelfCgroup string) (string, error) {
	if err := checkPath(p); err != nil {
		return "", err
	}
	if path.IsAbs(p) {
		return strings.TrimPrefix(path.Clean(p), "/"), nil
	}
	own, err := ownCgroup(procSelfCgroup, version)
	if err != nil {
		return "", fmt.Errorf("cgroup path %q: relative to this process's cgroup: %w", p, err)
	}
	if version == V2 {
		own = path.Dir(own)
	}
	return strings.TrimPrefix(path.Join(own, p), "/"), nil
}

// checkPath refuses a Config.Path that is empty, the root itself, or
// climbs with "..": a cgroup path names a place inside the hierarchy, and
// ".." there would reach a cgroup that is not the task's (the kernel keeps
// no "this far and no farther" below the mount).
func checkPath(p string) error {
	if strings.ContainsRune(p, 0) {
		return fmt.Errorf("cgroup path %q: contains a NUL byte", p)
	}
	for _, elem := range strings.Split(p, "/") {
		if elem == ".." {
			return fmt.Errorf("cgroup path %q: must not contain \"..\"", p)
		}
	}
	if c := path.Clean("/" + p); c == "/" {
		return fmt.Errorf("cgroup path %q: names the hierarchy's root, not a cgroup of its own", p)
	}
	return nil
}

// ownCgroup reads the calling process's cgroup from file (/proc/self/cgroup):
// on v2 the "0::" line, on v1 and hybrid hosts the freezer hierarchy's.
func ownCgroup(file string, version int) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "hierarchy-id:controller,list:/path"
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		match := parts[0] == "0" && parts[1] == ""
		if version != V2 {
			match = slices.Contains(strings.Split(parts[1], ","), "freezer")
		}
		if match {
			if !path.IsAbs(parts[2]) {
				return "", fmt.Errorf("%s: cgroup %q is not absolute", file, parts[2])
			}
			return path.Clean(parts[2]), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	if version == V2 {
		return "", fmt.Errorf("%s: no cgroup2 entry", file)
	}
	return "", fmt.Errorf("%s: no freezer entry", file)
}

// mkdirMarked creates each missing directory from root down to dir,
// marking the ones it creates (createdXattr): the parents of a task placed
// by Config.Path. Existing ones are left as they are.
func mkdirMarked(root, dir string) error {
	rel, err := filepath.Rel(root, dir)
	if err != nil || rel == "." {
		return err
	}
	if rel == ".." || strings.HasPrefix(rel, "../") {
		return fmt.Errorf("create cgroup parent %s: not below %s", dir, root)
	}
	level := root
	for _, elem := range strings.Split(rel, "/") {
		level = filepath.Join(level, elem)
		err := os.Mkdir(level, 0o755)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("create cgroup parent: %w", err)
		}
		if err := unix.Setxattr(level, createdXattr, []byte("1"), 0); err != nil {
			// Unmarked, the parent is only left behind on delete (what
			// runc does with every parent); better than losing the task.
			if !errors.Is(err, unix.ENOTSUP) && !errors.Is(err, unix.EOPNOTSUPP) {
				return &os.PathError{Op: "mark cgroup parent", Path: level, Err: err}
			}
		}
	}
	return nil
}

// removeParents removes dir's parents that berth created for a task
// (createdXattr), from the nearest up, while they are empty: rmdir of a
// cgroup that holds processes or other cgroups fails, and that parent and
// those above it stay.
func removeParents(dir string) {
	for p := filepath.Dir(dir); p != dir && p != "/"; dir, p = p, filepath.Dir(p) {
		if _, err := unix.Getxattr(p, createdXattr, nil); err != nil {
			return
		}
		if err := unix.Rmdir(p); err != nil {
			return
		}
	}
}

// removeAllParents removes the marked, empty parents of cfg's cgroup in
// every hierarchy, after a New that failed part way.
func removeAllParents(cfg Config) {
	dirs := []string{filepath.Join(cfg.V2Mount, cfg.group())}
	if cfg.Version != V2 {
		for _, n := range v1Names {
			dirs = append(dirs, filepath.Join(cfg.V1Root, n, cfg.group()))
		}
	}
	for _, d := range dirs {
		removeParents(d)
	}
}
