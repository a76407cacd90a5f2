// Package oci runs OCI bundles with berth: a bundle's config.json
// (runtime-spec 1.x) becomes an executor.Command, and what berth cannot
// apply is an error naming the field, never dropped.
package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/berthrun/berth/cgroup"
	"github.com/berthrun/berth/executor"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// maxConfig bounds a bundle's config.json.
const maxConfig = 4 << 20

// Load reads a bundle's config.json.
func Load(bundle string) (*specs.Spec, error) {
	p := filepath.Join(bundle, "config.json")
	body, err := ReadFile(p, maxConfig)
	if err != nil {
		return nil, err
	}
	var s specs.Spec
	if err := json.Unmarshal(body, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if !strings.HasPrefix(s.Version, "1.") {
		return nil, fmt.Errorf("%s: ociVersion %q: berth runs runtime-spec 1.x bundles", p, s.Version)
	}
	return &s, nil
}

// Container is what Translate makes of a bundle.
type Container struct {
	Command *executor.Command
	// CgroupPath is linux.cgroupsPath, cleaned (executor.Config.CgroupPath):
	// the container's cgroup itself, absolute below the hierarchy roots or
	// relative to the runtime's own cgroup, as runc takes it. Empty when
	// the config gives none: the container goes under berth's own parent.
	CgroupPath string
	// Warnings are what the config asks that the kernel would not do,
	// and runtimes skip: for the log.
	Warnings []string
}

// Translate turns a loaded config into berth's Command for container id.
func Translate(s *specs.Spec, bundle, id string) (*Container, error) {
	if s.Process == nil {
		return nil, errors.New("process: missing")
	}
	if s.Root == nil || s.Root.Path == "" {
		return nil, errors.New("root.path: missing")
	}
	root := s.Root.Path
	if !filepath.IsAbs(root) {
		root = filepath.Join(bundle, root)
	}
	p := s.Process
	if len(p.Args) == 0 {
		return nil, errors.New("process.args: empty")
	}
	if p.CommandLine != "" {
		return nil, errors.New("process.commandLine: Windows only")
	}
	cmd := &executor.Command{
		ID: id, TaskDir: root, Cmd: p.Args[0], Args: p.Args[1:], Env: p.Env, Cwd: p.Cwd,
		Terminal:    p.Terminal,
		Credentials: &executor.Credentials{UID: p.User.UID, GID: p.User.GID, Groups: p.User.AdditionalGids},
	}
	cmd.Isolation.Umask = p.User.Umask
	if p.User.Username != "" {
		return nil, errors.New("process.user.username: Windows only")
	}
	if p.ConsoleSize != nil && p.Terminal {
		cmd.TerminalSize = &executor.WindowSize{Rows: uint16(p.ConsoleSize.Height), Cols: uint16(p.ConsoleSize.Width)}
	}
	iso := &cmd.Isolation
	iso.ReadOnlyRoot = s.Root.Readonly
	iso.Hostname = s.Hostname
	iso.NewPrivileges = !p.NoNewPrivileges
	if p.ApparmorProfile != "" {
		return nil, fmt.Errorf("process.apparmorProfile %q: not supported", p.ApparmorProfile)
	}
	if p.SelinuxLabel != "" {
		return nil, fmt.Errorf("process.selinuxLabel %q: not supported", p.SelinuxLabel)
	}
	if p.Scheduler != nil || p.IOPriority != nil || p.ExecCPUAffinity != nil {
		return nil, errors.New("process.scheduler, ioPriority, execCPUAffinity: not supported")
	}
	var warnings []string
	if c := p.Capabilities; c != nil {
		// The kernel raises an ambient capability only when it is both
		// permitted and inheritable; configs (runc spec's own) list
		// ambient ones without inheritable ones, and runc skips those
		// with a warning. So does berth, in its log.
		var ambient, skipped []string
		for _, a := range c.Ambient {
			if hasOpt(c.Permitted, a) && hasOpt(c.Inheritable, a) {
				ambient = append(ambient, a)
			} else {
				skipped = append(skipped, a)
			}
		}
		if len(skipped) > 0 {
			warnings = append(warnings, fmt.Sprintf("process.capabilities.ambient: %s not raised: not both permitted and inheritable", strings.Join(skipped, ", ")))
		}
		iso.Capabilities = &executor.CapabilitySets{Bounding: c.Bounding, Effective: c.Effective,
			Permitted: c.Permitted, Inheritable: c.Inheritable, Ambient: ambient}
	} else {
		iso.Capabilities = &executor.CapabilitySets{}
	}
	for _, rl := range p.Rlimits {
		iso.Ulimits = append(iso.Ulimits, executor.Ulimit{Name: rl.Type, Soft: rl.Soft, Hard: rl.Hard})
	}
	iso.OOMScoreAdj = p.OOMScoreAdj
	// createContainer and startContainer run inside the container, by its
	// init stage; the others run in berth-oci (cmd/berth-oci/hooks.go).
	if h := s.Hooks; h != nil {
		var err error
		if cmd.Hooks.CreateContainer, err = hooks("createContainer", h.CreateContainer); err != nil {
			return nil, err
		}
		if cmd.Hooks.StartContainer, err = hooks("startContainer", h.StartContainer); err != nil {
			return nil, err
		}
	}
	for _, m := range s.Mounts {
		if m.UIDMappings != nil || m.GIDMappings != nil {
			return nil, fmt.Errorf("mounts %s: uidMappings, gidMappings: not supported", m.Destination)
		}
		src := m.Source
		if (m.Type == "bind" || hasOpt(m.Options, "bind") || hasOpt(m.Options, "rbind")) && !filepath.IsAbs(src) {
			src = filepath.Join(bundle, src)
		}
		iso.Filesystem = append(iso.Filesystem, executor.FSMount{Type: m.Type, Source: src, Destination: m.Destination, Options: m.Options})
	}
	if iso.Filesystem == nil {
		iso.Filesystem = []executor.FSMount{}
	}
	c := &Container{Command: cmd, Warnings: warnings}
	if err := linux(s.Linux, c); err != nil {
		return nil, err
	}
	return c, nil
}

// linux translates the config's linux section.
func linux(l *specs.Linux, c *Container) error {
	iso := &c.Command.Isolation
	iso.SeccompUnconfined = true
	iso.PID, iso.IPC, iso.UTS, iso.Net = executor.ModeHost, executor.ModeHost, executor.ModeHost, executor.ModeHost
	if l == nil {
		return errors.New("linux: missing (a mount namespace is needed)")
	}
	mountNS, userNS := false, false
	for _, ns := range l.Namespaces {
		if ns.Path != "" {
			switch ns.Type {
			case specs.NetworkNamespace:
				iso.NetPath, iso.Net = ns.Path, ""
			case specs.IPCNamespace:
				iso.IPCPath, iso.IPC = ns.Path, ""
			case specs.UTSNamespace:
				iso.UTSPath, iso.UTS = ns.Path, ""
			case specs.PIDNamespace:
				iso.PIDPath, iso.PID = ns.Path, ""
			case specs.MountNamespace:
				iso.MountPath, mountNS = ns.Path, true
			default:
				return fmt.Errorf("linux.namespaces %s: joining it by path is not supported", ns.Type)
			}
			continue
		}
		switch ns.Type {
		case specs.PIDNamespace:
			iso.PID = executor.ModePrivate
		case specs.IPCNamespace:
			iso.IPC = executor.ModePrivate
		case specs.UTSNamespace:
			iso.UTS = executor.ModePrivate
		case specs.NetworkNamespace:
			iso.Net = executor.ModeNone
		case specs.MountNamespace:
			mountNS = true
		case specs.CgroupNamespace:
			iso.Cgroup = executor.ModePrivate
		case specs.UserNamespace:
			userNS = true
		default:
			return fmt.Errorf("linux.namespaces %s: not supported yet", ns.Type)
		}
	}
	if !mountNS {
		// The host's: the container is set up in it and chrooted, as
		// runc does (executor.Isolation.Mount).
		iso.Mount = executor.ModeHost
	}
	if iso.Hostname != "" && iso.UTS != executor.ModePrivate && iso.UTSPath == "" {
		return errors.New("hostname: needs a uts namespace")
	}
	switch {
	case userNS && (len(l.UIDMappings) == 0 || len(l.GIDMappings) == 0):
		return errors.New("linux.uidMappings, gidMappings: a new user namespace needs both")
	case !userNS && len(l.UIDMappings)+len(l.GIDMappings) > 0:
		return errors.New("linux.uidMappings, gidMappings: given without a user namespace in linux.namespaces")
	}
	iso.UIDMappings, iso.GIDMappings = idMappings(l.UIDMappings), idMappings(l.GIDMappings)
	iso.Sysctl = l.Sysctl
	for i, d := range l.Devices {
		n := executor.DeviceNode{Type: d.Type, Major: d.Major, Minor: d.Minor, Mode: 0o666}
		if d.FileMode != nil {
			n.Mode = uint32(d.FileMode.Perm())
		}
		if d.UID != nil {
			n.UID = *d.UID
		}
		if d.GID != nil {
			n.GID = *d.GID
		}
		if d.Type == "u" {
			n.Type = "c"
		}
		if iso.DeviceNodes == nil {
			iso.DeviceNodes = map[string]executor.DeviceNode{}
		}
		if _, dup := iso.DeviceNodes[d.Path]; dup {
			return fmt.Errorf("linux.devices[%d] %s: given twice", i, d.Path)
		}
		iso.DeviceNodes[d.Path] = n
	}
	if l.IntelRdt != nil || l.Personality != nil || l.MountLabel != "" || l.TimeOffsets != nil {
		return errors.New("linux.intelRdt, personality, mountLabel, timeOffsets: not supported")
	}
	iso.RootPropagation = l.RootfsPropagation
	iso.MaskedPaths = l.MaskedPaths
	iso.ReadOnlyPaths = l.ReadonlyPaths
	if iso.MaskedPaths == nil {
		iso.MaskedPaths = []string{}
	}
	if iso.ReadOnlyPaths == nil {
		iso.ReadOnlyPaths = []string{}
	}
	if l.Seccomp != nil {
		iso.SeccompUnconfined = false
		iso.Seccomp = l.Seccomp
	}
	res, devs, warnings, err := Resources(l.Resources)
	if err != nil {
		return err
	}
	c.Command.Resources, iso.Devices = res, devs
	c.Warnings = append(c.Warnings, warnings...)
	p, err := CgroupsPath(l.CgroupsPath)
	c.CgroupPath = p
	return err
}

// CgroupsPath checks and cleans linux.cgroupsPath. The path is the
// container's cgroup itself: "/a/b" below the hierarchy roots, "a/b"
// below the runtime's own cgroup (runc's reading; cgroup.Config.Path).
func CgroupsPath(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	if strings.Contains(p, ":") {
		return "", fmt.Errorf("linux.cgroupsPath %q: systemd's slice:prefix:name form is not supported", p)
	}
	if strings.ContainsRune(p, 0) {
		return "", fmt.Errorf("linux.cgroupsPath %q: contains a NUL byte", p)
	}
	for _, elem := range strings.Split(p, "/") {
		if elem == ".." {
			return "", fmt.Errorf("linux.cgroupsPath %q: must not contain \"..\"", p)
		}
	}
	clean := path.Clean(p)
	if clean == "/" || clean == "." {
		return "", fmt.Errorf("linux.cgroupsPath %q: names the cgroup root, not a cgroup of the container's own", p)
	}
	return clean, nil
}

// Resources translates linux.resources (a config's, or update's
// --resources) into berth's limits and the devices allowed beyond the
// defaults. warnings are settings runc ignores too (kernel memory limits,
// gone from the kernel): for the log.
func Resources(r *specs.LinuxResources) (res executor.Resources, devs []cgroup.DeviceRule, warnings []string, err error) {
	if r == nil {
		return res, nil, nil, nil
	}
	if err := resources(r, &res, &devs, &warnings); err != nil {
		return res, nil, nil, err
	}
	// The library's own checks (ranges, list syntax) name its fields;
	// say which section they came from.
	if err := res.Validate(); err != nil {
		return res, nil, nil, fmt.Errorf("linux.resources: %w", err)
	}
	return res, devs, warnings, nil
}

// unsetSwappiness is how docker and runc spell an unset swappiness: -1
// read as uint64.
const unsetSwappiness = ^uint64(0)

func resources(r *specs.LinuxResources, res *executor.Resources, devs *[]cgroup.DeviceRule, warnings *[]string) error {
	if m := r.Memory; m != nil {
		if m.Limit != nil && *m.Limit > 0 {
			res.MemoryBytes = *m.Limit
		}
		if m.Swap != nil && *m.Swap > 0 {
			res.MemorySwapBytes = *m.Swap
		}
		if m.Reservation != nil {
			switch v := *m.Reservation; {
			case v > 0:
				res.MemoryReservationBytes = v
			case v < -1:
				return fmt.Errorf("linux.resources.memory.reservation: %d: want a size, or -1 for none", v)
			}
		}
		if m.Swappiness != nil && *m.Swappiness != unsetSwappiness {
			if *m.Swappiness > cgroup.MaxSwappiness {
				return fmt.Errorf("linux.resources.memory.swappiness: %d is above the maximum of %d", *m.Swappiness, cgroup.MaxSwappiness)
			}
			res.MemorySwappiness = m.Swappiness
		}
		if m.DisableOOMKiller != nil {
			res.DisableOOMKiller = *m.DisableOOMKiller
		}
		// Kernel memory limits went with kmem accounting's own limit
		// (Linux 5.16 dropped memory.kmem.limit_in_bytes; kmem.tcp is
		// v1 only and deprecated): runc ignores both with a warning.
		if m.Kernel != nil || m.KernelTCP != nil {
			*warnings = append(*warnings, "linux.resources.memory.kernel, kernelTCP: ignored (kernel memory limits are gone from the kernel; runc ignores them too)")
		}
	}
	if cpu := r.CPU; cpu != nil {
		if cpu.Shares != nil {
			res.CPUShares = *cpu.Shares
		}
		period := uint64(100000)
		if cpu.Period != nil && *cpu.Period > 0 {
			period = *cpu.Period
			res.CPUPeriod = period
		}
		if cpu.Quota != nil && *cpu.Quota > 0 {
			res.CPUs = float64(*cpu.Quota) / float64(period)
		}
		res.Cpuset, res.CpusetMems = cpu.Cpus, cpu.Mems
		if cpu.RealtimeRuntime != nil || cpu.RealtimePeriod != nil || cpu.Idle != nil {
			return errors.New("linux.resources.cpu: realtimeRuntime, realtimePeriod and idle are not supported yet")
		}
	}
	if pids := r.Pids; pids != nil && pids.Limit != nil && *pids.Limit > 0 {
		res.PidsLimit = *pids.Limit
	}
	if b := r.BlockIO; b != nil {
		bio, err := blockIO(b)
		if err != nil {
			return err
		}
		res.BlockIO = bio
	}
	for _, h := range r.HugepageLimits {
		res.HugepageLimits = append(res.HugepageLimits, cgroup.HugepageLimit{PageSize: h.Pagesize, Limit: h.Limit})
	}
	if n := r.Network; n != nil {
		res.NetClassID = n.ClassID
		for _, p := range n.Priorities {
			res.NetPriorities = append(res.NetPriorities, cgroup.NetPriority{Interface: p.Name, Priority: p.Priority})
		}
	}
	for dev, l := range r.Rdma {
		if res.RDMA == nil {
			res.RDMA = map[string]cgroup.RDMALimit{}
		}
		res.RDMA[dev] = cgroup.RDMALimit{HcaHandles: l.HcaHandles, HcaObjects: l.HcaObjects}
	}
	if len(r.Unified) > 0 {
		res.Unified = make(map[string]string, len(r.Unified))
		for k, v := range r.Unified {
			res.Unified[k] = v
		}
	}
	// Device rules: berth's defaults always apply; allow rules add to
	// them, a deny of everything is berth's base. Any other deny cannot
	// be expressed on top of an allowlist.
	for i, d := range r.Devices {
		if !d.Allow {
			if d.Type == "" || d.Type == "a" && d.Major == nil && d.Minor == nil {
				continue
			}
			return fmt.Errorf("linux.resources.devices[%d]: a deny rule other than all devices: not supported", i)
		}
		typ := d.Type
		if typ == "" || typ == "a" {
			return fmt.Errorf("linux.resources.devices[%d]: allowing every device is not supported", i)
		}
		rule := cgroup.DeviceRule{Type: typ, Major: -1, Minor: -1, Access: d.Access}
		if d.Major != nil {
			rule.Major = *d.Major
		}
		if d.Minor != nil {
			rule.Minor = *d.Minor
		}
		*devs = append(*devs, rule)
	}
	return nil
}

// blockIO translates linux.resources.blockIO; one that sets nothing is
// nil. A weight of 0 is unset, as in runc.
func blockIO(b *specs.LinuxBlockIO) (*cgroup.BlockIO, error) {
	out := &cgroup.BlockIO{}
	if b.Weight != nil {
		out.Weight = *b.Weight
	}
	if b.LeafWeight != nil {
		out.LeafWeight = *b.LeafWeight
	}
	for i, d := range b.WeightDevice {
		wd := cgroup.WeightDevice{Major: d.Major, Minor: d.Minor}
		if d.Weight != nil {
			wd.Weight = *d.Weight
		}
		if d.LeafWeight != nil {
			wd.LeafWeight = *d.LeafWeight
		}
		if wd.Weight == 0 && wd.LeafWeight == 0 {
			return nil, fmt.Errorf("linux.resources.blockIO.weightDevice[%d]: neither weight nor leafWeight is set", i)
		}
		out.WeightDevice = append(out.WeightDevice, wd)
	}
	throttle := func(in []specs.LinuxThrottleDevice) []cgroup.ThrottleDevice {
		var t []cgroup.ThrottleDevice
		for _, d := range in {
			t = append(t, cgroup.ThrottleDevice{Major: d.Major, Minor: d.Minor, Rate: d.Rate})
		}
		return t
	}
	out.ThrottleReadBps = throttle(b.ThrottleReadBpsDevice)
	out.ThrottleWriteBps = throttle(b.ThrottleWriteBpsDevice)
	out.ThrottleReadIOPS = throttle(b.ThrottleReadIOPSDevice)
	out.ThrottleWriteIOPS = throttle(b.ThrottleWriteIOPSDevice)
	if out.Weight == 0 && out.LeafWeight == 0 && len(out.WeightDevice)+len(out.ThrottleReadBps)+len(out.ThrottleWriteBps)+
		len(out.ThrottleReadIOPS)+len(out.ThrottleWriteIOPS) == 0 {
		return nil, nil
	}
	return out, nil
}

// hooks translates one kind of a config's hooks that berth's init stage
// runs.
func hooks(kind string, in []specs.Hook) ([]executor.Hook, error) {
	var out []executor.Hook
	for i, h := range in {
		if !filepath.IsAbs(h.Path) {
			return nil, fmt.Errorf("hooks.%s[%d].path %q: must be absolute", kind, i, h.Path)
		}
		x := executor.Hook{Path: h.Path, Args: h.Args, Env: h.Env}
		if h.Timeout != nil {
			if *h.Timeout <= 0 {
				return nil, fmt.Errorf("hooks.%s[%d].timeout %d: must be positive", kind, i, *h.Timeout)
			}
			x.Timeout = *h.Timeout
		}
		out = append(out, x)
	}
	return out, nil
}

func idMappings(in []specs.LinuxIDMapping) []executor.IDMapping {
	var out []executor.IDMapping
	for _, m := range in {
		out = append(out, executor.IDMapping{ContainerID: m.ContainerID, HostID: m.HostID, Size: m.Size})
	}
	return out
}

func hasOpt(opts []string, o string) bool {
	for _, x := range opts {
		if x == o {
			return true
		}
	}
	return false
}
