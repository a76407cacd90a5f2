package executor

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"syscall"
)

// maxIDMappings is the kernel's limit on the lines of a uid_map or
// gid_map (Linux 4.15 and later).
const maxIDMappings = 340

// userNS reports whether iso runs the task in a user namespace of its own.
func (iso Isolation) userNS() bool { return len(iso.UIDMappings)+len(iso.GIDMappings) > 0 }

// checkUserNS checks a task's user namespace: both maps given, ranges the
// kernel takes (it refuses overlaps with EINVAL and nothing more), root
// mapped (the init stage becomes the namespace's root at once, so that
// nothing of it runs as the host's root with capabilities in the task's
// namespaces) but not to the host's root, and nothing asked that a task
// in a user namespace cannot do.
func checkUserNS(cmd *Command, defaultRoot bool) error {
	iso := cmd.Isolation
	if !iso.userNS() {
		return nil
	}
	switch {
	case len(iso.UIDMappings) == 0:
		return fmt.Errorf("gid mappings: given without uid mappings: a user namespace needs both")
	case len(iso.GIDMappings) == 0:
		return fmt.Errorf("uid mappings: given without gid mappings: a user namespace needs both")
	}
	for _, m := range []struct {
		name string
		maps []IDMapping
	}{{"uid", iso.UIDMappings}, {"gid", iso.GIDMappings}} {
		if err := checkIDMap(m.maps); err != nil {
			return fmt.Errorf("%s mappings: %w", m.name, err)
		}
		if !mapped(m.maps, 0) {
			return fmt.Errorf("%s mappings: must map %s 0 (the task's setup runs as the user namespace's root)", m.name, m.name)
		}
		// The kernel checks some things by id, not capability: a task
		// whose id is the host's 0 writes every global sysctl
		// (kernel.core_pattern: a host command run as root) and owns
		// what root owns.
		for i, r := range m.maps {
			if r.HostID == 0 {
				return fmt.Errorf("%s mappings: [%d]: maps the host's %s 0: the task would be the host's root by id", m.name, i, m.name)
			}
		}
	}
	if defaultRoot {
		return fmt.Errorf("uid mappings: need a task dir of the caller's (the default task dir's binds are idmapped, which a task in a user namespace cannot do)")
	}
	for _, j := range []struct{ name, path string }{{"net", iso.NetPath}, {"ipc", iso.IPCPath}, {"uts", iso.UTSPath},
		{"pid", iso.PIDPath}, {"mount", iso.MountPath}} {
		if j.path != "" {
			return fmt.Errorf("%s namespace path %q: with uid mappings: a task in a user namespace of its own cannot join a namespace the host's user namespace owns", j.name, j.path)
		}
	}
	if err := checkReachable(cmd.TaskDir, iso); err != nil {
		return err
	}
	if c := cmd.Credentials; c != nil {
		if !mapped(iso.UIDMappings, c.UID) {
			return fmt.Errorf("credentials: uid %d: not in the uid mappings", c.UID)
		}
		if !mapped(iso.GIDMappings, c.GID) {
			return fmt.Errorf("credentials: gid %d: not in the gid mappings", c.GID)
		}
		for _, g := range c.Groups {
			if !mapped(iso.GIDMappings, g) {
				return fmt.Errorf("credentials: group %d: not in the gid mappings", g)
			}
		}
	}
	return nil
}

// checkReachable names the first directory on the way to the task dir
// that the user namespace's root, which sets the task up, cannot search:
// the kernel's refusal would only say "permission denied". The check is
// for the caller's sake; the kernel's is the one that holds.
func checkReachable(dir string, iso Isolation) error {
	root := hostID(iso.UIDMappings, 0)
	group := hostID(iso.GIDMappings, 0)
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		parent := filepath.Dir(p)
		if parent == p {
			return nil
		}
		fi, err := os.Stat(parent)
		if err != nil {
			return nil // the task dir's own check names it
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		m := st.Mode
		if m&0o001 != 0 || st.Uid == root && m&0o100 != 0 || st.Gid == group && m&0o010 != 0 {
			continue
		}
		return fmt.Errorf("task dir %q: %s (mode %#o, %d:%d) cannot be searched by the user namespace's root (host uid %d, gid %d), which sets the task up",
			dir, parent, m&0o7777, st.Uid, st.Gid, root, group)
	}
}

// hostID is the host id that id maps to.
func hostID(maps []IDMapping, id uint32) uint32 {
	for _, m := range maps {
		if id >= m.ContainerID && uint64(id) < uint64(m.ContainerID)+uint64(m.Size) {
			return m.HostID + (id - m.ContainerID)
		}
	}
	return 1<<32 - 1
}

// checkIDMap checks one map: 1 to 340 ranges, none empty or past the
// last id ((uid_t)-1 is no id), no two overlapping inside the namespace or
// on the host.
func checkIDMap(maps []IDMapping) error {
	if len(maps) > maxIDMappings {
		return fmt.Errorf("%d ranges: the kernel takes at most %d", len(maps), maxIDMappings)
	}
	const end = 1<<32 - 1
	for i, m := range maps {
		switch {
		case m.Size == 0:
			return fmt.Errorf("[%d]: size 0", i)
		case uint64(m.ContainerID)+uint64(m.Size) > end:
			return fmt.Errorf("[%d]: container ids %d+%d: past the last id", i, m.ContainerID, m.Size)
		case uint64(m.HostID)+uint64(m.Size) > end:
			return fmt.Errorf("[%d]: host ids %d+%d: past the last id", i, m.HostID, m.Size)
		}
	}
	for _, side := range []struct {
		name  string
		first func(IDMapping) uint32
	}{{"container", func(m IDMapping) uint32 { return m.ContainerID }}, {"host", func(m IDMapping) uint32 { return m.HostID }}} {
		idx := make([]int, len(maps))
		for i := range idx {
			idx[i] = i
		}
		sort.Slice(idx, func(a, b int) bool { return side.first(maps[idx[a]]) < side.first(maps[idx[b]]) })
		for k := 1; k < len(idx); k++ {
			prev, cur := maps[idx[k-1]], maps[idx[k]]
			if uint64(side.first(prev))+uint64(prev.Size) > uint64(side.first(cur)) {
				return fmt.Errorf("[%d] and [%d]: %s ids overlap", idx[k-1], idx[k], side.name)
			}
		}
	}
	return nil
}

// mapped reports whether id is in one of maps' container ranges.
func mapped(maps []IDMapping, id uint32) bool {
	for _, m := range maps {
		if id >= m.ContainerID && uint64(id) < uint64(m.ContainerID)+uint64(m.Size) {
			return true
		}
	}
	return false
}

// procIDMaps is maps as os.StartProcess writes them.
func procIDMaps(maps []IDMapping) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(maps))
	for i, m := range maps {
		out[i] = syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)}
	}
	return out
}

// userNSAttr makes sys start the init stage in a new user namespace with
// the task's maps, written by the parent before the child goes on, and
// as the namespace's root (setresgid, setresuid to 0 inside) before it
// execs berth-init: from the clone on, it is never the host's root in
// the task's namespaces.
func userNSAttr(sys *syscall.SysProcAttr, iso Isolation) {
	if !iso.userNS() {
		return
	}
	sys.UidMappings = procIDMaps(iso.UIDMappings)
	sys.GidMappings = procIDMaps(iso.GIDMappings)
	// The task may set its own groups (its user's): the parent writes the
	// maps, so setgroups stays allowed.
	sys.GidMappingsEnableSetgroups = true
	sys.Credential = &syscall.Credential{Uid: 0, Gid: 0, Groups: []uint32{}}
}
