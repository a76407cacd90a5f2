package mounts

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// FSMount is a mount as an OCI bundle's config.json says it: a filesystem
// type, a source and mount(8)-style options. "bind" (or the bind and rbind
// options) binds a host path.
type FSMount struct {
	Type        string
	Source      string
	Destination string
	Options     []string
}

// mountFlags are the options that are flags, set or cleared.
var mountFlags = map[string]struct {
	clear bool
	flag  uintptr
}{
	"ro": {false, unix.MS_RDONLY}, "rw": {true, unix.MS_RDONLY},
	"nosuid": {false, unix.MS_NOSUID}, "suid": {true, unix.MS_NOSUID},
	"nodev": {false, unix.MS_NODEV}, "dev": {true, unix.MS_NODEV},
	"noexec": {false, unix.MS_NOEXEC}, "exec": {true, unix.MS_NOEXEC},
	"sync": {false, unix.MS_SYNCHRONOUS}, "async": {true, unix.MS_SYNCHRONOUS},
	"dirsync": {false, unix.MS_DIRSYNC},
	"noatime": {false, unix.MS_NOATIME}, "atime": {true, unix.MS_NOATIME},
	"nodiratime": {false, unix.MS_NODIRATIME}, "diratime": {true, unix.MS_NODIRATIME},
	"relatime": {false, unix.MS_RELATIME}, "norelatime": {true, unix.MS_RELATIME},
	"strictatime": {false, unix.MS_STRICTATIME}, "nostrictatime": {true, unix.MS_STRICTATIME},
	"mand": {false, unix.MS_MANDLOCK}, "nomand": {true, unix.MS_MANDLOCK},
	"silent": {false, unix.MS_SILENT}, "loud": {true, unix.MS_SILENT},
	"defaults": {false, 0},
}

// bindAttrs are the flags a bind takes as mount attributes.
var bindAttrs = map[uintptr]uint64{
	unix.MS_NOSUID: unix.MOUNT_ATTR_NOSUID, unix.MS_NODEV: unix.MOUNT_ATTR_NODEV,
	unix.MS_NOEXEC: unix.MOUNT_ATTR_NOEXEC, unix.MS_NOATIME: unix.MOUNT_ATTR_NOATIME,
	unix.MS_NODIRATIME: unix.MOUNT_ATTR_NODIRATIME, unix.MS_STRICTATIME: unix.MOUNT_ATTR_STRICTATIME,
}

// propagation options, set on the mount inside the task's mount
// namespace: the task's root is a slave of the host's (the propagation
// step), so a shared mount in it has peers in the task only, and nothing
// reaches the host.
var propagation = map[string]uintptr{
	"private": unix.MS_PRIVATE, "rprivate": unix.MS_PRIVATE | unix.MS_REC,
	"slave": unix.MS_SLAVE, "rslave": unix.MS_SLAVE | unix.MS_REC,
	"shared": unix.MS_SHARED, "rshared": unix.MS_SHARED | unix.MS_REC,
	"unbindable": unix.MS_UNBINDABLE, "runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// Propagation reads a propagation option (rprivate, shared, ...) as
// mount flags.
func Propagation(o string) (uintptr, bool) {
	p, ok := propagation[o]
	return p, ok
}

// SpecOp turns one bundle mount into an Op. A cgroup mount becomes the
// cgroup2 filesystem read-only (as a runtime without a cgroup namespace
// gives it on a unified host); an option berth cannot apply is an error
// naming it.
func SpecOp(m FSMount) (Op, error) {
	dest, err := CleanDest(m.Destination)
	if err != nil {
		return Op{}, err
	}
	name := fmt.Sprintf("mount %s (%s)", m.Destination, m.Type)
	var flags, prop uintptr
	var data []string
	bind, rec := m.Type == "bind", false
	for _, o := range m.Options {
		switch {
		case o == "bind":
			bind = true
		case o == "rbind":
			bind, rec = true, true
		case o == "tmpcopyup":
			return Op{}, fmt.Errorf("%s: option tmpcopyup: not supported", name)
		case strings.HasPrefix(o, "idmap") || strings.HasPrefix(o, "ridmap"):
			return Op{}, fmt.Errorf("%s: option %s: not supported", name, o)
		default:
			if f, ok := mountFlags[o]; ok {
				if f.clear {
					flags &^= f.flag
				} else {
					flags |= f.flag
				}
				continue
			}
			if p, known := propagation[o]; known {
				prop = p
				continue
			}
			data = append(data, o)
		}
	}
	if bind {
		if !strings.HasPrefix(m.Source, "/") {
			return Op{}, fmt.Errorf("%s: bind source %q: must be an absolute path", name, m.Source)
		}
		// Filesystem options mean nothing to a bind (the kernel ignores
		// a bind's data as well): a bundle's tmpfs options on a bind
		// mount run as they do under runc.
		op := Op{Kind: KindBind, Source: m.Source, Dest: dest, ReadOnly: flags&unix.MS_RDONLY != 0, Recursive: rec, Propagation: prop}
		for f, a := range bindAttrs {
			if flags&f != 0 {
				op.Attr |= a
			}
		}
		return op, nil
	}
	fstype := m.Type
	switch fstype {
	case "":
		return Op{}, fmt.Errorf("mount %s: no type", m.Destination)
	case "cgroup", "cgroup2":
		// Without a cgroup namespace this is the host's whole hierarchy:
		// writable, the task would move itself out of its cgroup and its
		// device control.
		fstype, flags = "cgroup2", flags|unix.MS_RDONLY
		data = nil
	case "proc", "sysfs":
		// The task's own proc and sysfs: their writable parts are the
		// bundle's masked and read-only paths to close, as under runc.
	default:
		if KernelFSType(fstype) && flags&unix.MS_RDONLY == 0 {
			return Op{}, fmt.Errorf("%s: a writable %s reaches the host's kernel: add ro", name, fstype)
		}
	}
	src := m.Source
	if src == "" {
		src = fstype
	}
	return Op{Kind: KindMount, FSType: fstype, Source: src, Dest: dest, Flags: flags, Data: strings.Join(data, ","), Propagation: prop}, nil
}
