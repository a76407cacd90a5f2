package oci

import (
	"slices"
	"strings"
	"testing"

	"github.com/berthrun/berth/cgroup"
	"github.com/berthrun/berth/executor"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// base is a config like `runc spec`'s.
func base() *specs.Spec {
	caps := []string{"CAP_KILL", "CAP_AUDIT_WRITE"}
	limit := int64(100)
	return &specs.Spec{
		Version: "1.0.2",
		Process: &specs.Process{Args: []string{"sh"}, Cwd: "/", User: specs.User{UID: 1, GID: 2, AdditionalGids: []uint32{3}},
			Capabilities: &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps, Ambient: caps}},
		Root:   &specs.Root{Path: "rootfs", Readonly: true},
		Mounts: []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}},
		Linux: &specs.Linux{
			Namespaces:  []specs.LinuxNamespace{{Type: "pid"}, {Type: "mount"}, {Type: "network"}},
			CgroupsPath: "/kubepods/pod1/c1",
			Resources:   &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &limit}},
		},
	}
}

func TestTranslate(t *testing.T) {
	c, err := Translate(base(), "/b", "c1")
	if err != nil {
		t.Fatal(err)
	}
	cmd := c.Command
	iso := cmd.Isolation
	switch {
	case cmd.TaskDir != "/b/rootfs" || cmd.Cmd != "sh" || !iso.ReadOnlyRoot:
		t.Errorf("root and process: %+v", cmd)
	case cmd.Credentials == nil || cmd.Credentials.UID != 1 || cmd.Credentials.GID != 2 || len(cmd.Credentials.Groups) != 1:
		t.Errorf("credentials: %+v", cmd.Credentials)
	case iso.PID != executor.ModePrivate || iso.Net != executor.ModeNone || iso.IPC != executor.ModeHost:
		t.Errorf("namespaces: pid %q net %q ipc %q", iso.PID, iso.Net, iso.IPC)
	case c.CgroupPath != "/kubepods/pod1/c1":
		t.Errorf("cgroup path %q", c.CgroupPath)
	case cmd.Resources.PidsLimit != 100:
		t.Errorf("resources: %+v", cmd.Resources)
	case !iso.SeccompUnconfined || !iso.NewPrivileges:
		t.Errorf("no seccomp and noNewPrivileges false: unconfined %v new privileges %v", iso.SeccompUnconfined, iso.NewPrivileges)
	case len(iso.Capabilities.Ambient) != 0 || len(c.Warnings) != 1:
		// Ambient without inheritable: skipped with a warning, as runc.
		t.Errorf("ambient %v, warnings %q", iso.Capabilities.Ambient, c.Warnings)
	case len(iso.Filesystem) != 1 || iso.MaskedPaths == nil:
		t.Errorf("mounts %v, masked %v: the config's replace berth's, an empty list included", iso.Filesystem, iso.MaskedPaths)
	}
}

func TestTranslateRefuses(t *testing.T) {
	for want, patch := range map[string]func(s *specs.Spec){
		"process: missing":    func(s *specs.Spec) { s.Process = nil },
		"process.args: empty": func(s *specs.Spec) { s.Process.Args = nil },
		`hooks.createContainer[0].path "x": must be absolute`: func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: "x"}}}
		},
		"hooks.startContainer[1].timeout 0: must be positive": func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/x"}, {Path: "/y", Timeout: new(0)}}}
		},
		"a new user namespace needs both": func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "user"})
		},
		"linux.namespaces user: joining": func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "user", Path: "/proc/1/ns/user"})
		},
		"linux.namespaces cgroup: joining": func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "cgroup", Path: "/proc/1/ns/cgroup"})
		},
		"given without a user namespace":                        func(s *specs.Spec) { s.Linux.UIDMappings = []specs.LinuxIDMapping{{Size: 1}} },
		`linux.cgroupsPath "/a/../../b": must not contain ".."`: func(s *specs.Spec) { s.Linux.CgroupsPath = "/a/../../b" },
		`linux.cgroupsPath "../x": must not contain ".."`:       func(s *specs.Spec) { s.Linux.CgroupsPath = "../x" },
		`linux.cgroupsPath "/": names the cgroup root`:          func(s *specs.Spec) { s.Linux.CgroupsPath = "/" },
		`linux.cgroupsPath "./": names the cgroup root`:         func(s *specs.Spec) { s.Linux.CgroupsPath = "./" },
		`linux.cgroupsPath "/a\x00b": contains a NUL byte`:      func(s *specs.Spec) { s.Linux.CgroupsPath = "/a\x00b" },
		"systemd's slice:prefix:name":                           func(s *specs.Spec) { s.Linux.CgroupsPath = "system.slice:berth:c1" },
		"allowing every device":                                 func(s *specs.Spec) { s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true}} },
		"process.apparmorProfile":                               func(s *specs.Spec) { s.Process.ApparmorProfile = "x" },
		"linux.resources.memory.swappiness: 101 is above the maximum of 100": func(s *specs.Spec) {
			s.Linux.Resources.Memory = &specs.LinuxMemory{Swappiness: ptr(uint64(101))}
		},
		"linux.resources.memory.reservation: -2": func(s *specs.Spec) {
			s.Linux.Resources.Memory = &specs.LinuxMemory{Reservation: ptr(int64(-2))}
		},
		"linux.resources: Resources.MemoryReservationBytes: 64M is above --memory (32M)": func(s *specs.Spec) {
			s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: ptr(int64(32 << 20)), Reservation: ptr(int64(64 << 20))}
		},
		`linux.resources: Resources.CpusetMems: invalid memory node list "0-x"`: func(s *specs.Spec) {
			s.Linux.Resources.CPU = &specs.LinuxCPU{Mems: "0-x"}
		},
		"linux.resources.cpu: realtimeRuntime": func(s *specs.Spec) {
			s.Linux.Resources.CPU = &specs.LinuxCPU{RealtimeRuntime: ptr(int64(1))}
		},
		"mounts /x: uidMappings": func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", UIDMappings: []specs.LinuxIDMapping{{}}})
		},
		"hostname: needs a uts namespace": func(s *specs.Spec) { s.Hostname = "h" },
	} {
		s := base()
		patch(s)
		_, err := Translate(s, "/b", "c1")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: Translate = %v", want, err)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestTranslateCgroupsPath: cgroupsPath is the container's cgroup as
// given, whatever its last element and however deep.
func TestTranslateCgroupsPath(t *testing.T) {
	for given, want := range map[string]string{
		"":                             "",
		"/cgrouptest":                  "/cgrouptest",
		"/kubepods/pod1/other":         "/kubepods/pod1/other",
		"testdir/cgrouptest/container": "testdir/cgrouptest/container",
		"/a//b/./c/":                   "/a/b/c",
	} {
		s := base()
		s.Linux.CgroupsPath = given
		c, err := Translate(s, "/b", "c1")
		if err != nil {
			t.Errorf("%q: %v", given, err)
			continue
		}
		if c.CgroupPath != want {
			t.Errorf("%q: CgroupPath %q, want %q", given, c.CgroupPath, want)
		}
	}
}

// TestTranslateResources: the memory and cpuset settings runc applies
// reach berth's Resources; kernel memory limits are a warning, as in runc.
func TestTranslateResources(t *testing.T) {
	s := base()
	s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: ptr(int64(64 << 20)), Reservation: ptr(int64(32 << 20)),
		Swappiness: ptr(uint64(10)), DisableOOMKiller: ptr(true), Kernel: ptr(int64(1 << 20)), KernelTCP: ptr(int64(1 << 20))}
	s.Linux.Resources.CPU = &specs.LinuxCPU{Cpus: "0-1", Mems: "0"}
	c, err := Translate(s, "/b", "c1")
	if err != nil {
		t.Fatal(err)
	}
	r := c.Command.Resources
	switch {
	case r.MemoryBytes != 64<<20 || r.MemoryReservationBytes != 32<<20:
		t.Errorf("memory %d, reservation %d", r.MemoryBytes, r.MemoryReservationBytes)
	case r.MemorySwappiness == nil || *r.MemorySwappiness != 10 || !r.DisableOOMKiller:
		t.Errorf("swappiness %v, disableOOMKiller %v", r.MemorySwappiness, r.DisableOOMKiller)
	case r.Cpuset != "0-1" || r.CpusetMems != "0":
		t.Errorf("cpus %q mems %q", r.Cpuset, r.CpusetMems)
	}
	if n := len(c.Warnings); n != 2 || !strings.Contains(c.Warnings[1], "linux.resources.memory.kernel, kernelTCP: ignored") {
		t.Errorf("warnings %q: want the ambient one and the kernel memory one", c.Warnings)
	}

	// -1 is "unset" for swappiness (as uint64) and reservation.
	s.Linux.Resources.Memory = &specs.LinuxMemory{Swappiness: ptr(^uint64(0)), Reservation: ptr(int64(-1))}
	if c, err = Translate(s, "/b", "c1"); err != nil {
		t.Fatal(err)
	}
	if r := c.Command.Resources; r.MemorySwappiness != nil || r.MemoryReservationBytes != 0 {
		t.Errorf("-1: swappiness %v reservation %d, want unset", r.MemorySwappiness, r.MemoryReservationBytes)
	}
}

func TestTranslateUserNamespace(t *testing.T) {
	s := base()
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "user"})
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 1}, {ContainerID: 5, HostID: 300005, Size: 2}}
	c, err := Translate(s, "/b", "c1")
	if err != nil {
		t.Fatal(err)
	}
	iso := c.Command.Isolation
	want := []executor.IDMapping{{ContainerID: 0, HostID: 200000, Size: 1}, {ContainerID: 5, HostID: 300005, Size: 2}}
	if len(iso.UIDMappings) != 1 || iso.UIDMappings[0] != (executor.IDMapping{HostID: 100000, Size: 65536}) || !slices.Equal(iso.GIDMappings, want) {
		t.Errorf("mappings: uid %v gid %v", iso.UIDMappings, iso.GIDMappings)
	}
}

// TestTranslateResourcesRest: blockIO, hugepageLimits, network, rdma and
// unified reach berth's Resources field for field.
func TestTranslateResourcesRest(t *testing.T) {
	s := base()
	s.Linux.Resources.BlockIO = &specs.LinuxBlockIO{Weight: ptr(uint16(500)), LeafWeight: ptr(uint16(300)),
		WeightDevice:            []specs.LinuxWeightDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Weight: ptr(uint16(200))}},
		ThrottleReadBpsDevice:   []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 254, Minor: 0}, Rate: 1 << 20}},
		ThrottleWriteBpsDevice:  []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 254, Minor: 0}, Rate: 2 << 20}},
		ThrottleReadIOPSDevice:  []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 254, Minor: 0}, Rate: 100}},
		ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 254, Minor: 1}, Rate: 200}},
	}
	s.Linux.Resources.HugepageLimits = []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}}
	s.Linux.Resources.Network = &specs.LinuxNetwork{ClassID: ptr(uint32(0x100001)), Priorities: []specs.LinuxInterfacePriority{{Name: "eth0", Priority: 5}}}
	s.Linux.Resources.Rdma = map[string]specs.LinuxRdma{"mlx5_0": {HcaHandles: ptr(uint32(3))}}
	s.Linux.Resources.Unified = map[string]string{"memory.high": "64M", "pids.max": "10"}
	c, err := Translate(s, "/b", "c1")
	if err != nil {
		t.Fatal(err)
	}
	r := c.Command.Resources
	b := r.BlockIO
	switch {
	case b == nil:
		t.Fatal("blockIO: nil")
	case b.Weight != 500 || b.LeafWeight != 300:
		t.Errorf("weight %d leafWeight %d", b.Weight, b.LeafWeight)
	case len(b.WeightDevice) != 1 || b.WeightDevice[0] != (cgroup.WeightDevice{Major: 8, Minor: 0, Weight: 200}):
		t.Errorf("weightDevice %+v", b.WeightDevice)
	case len(b.ThrottleReadBps) != 1 || b.ThrottleReadBps[0] != (cgroup.ThrottleDevice{Major: 254, Minor: 0, Rate: 1 << 20}):
		t.Errorf("throttleReadBpsDevice %+v", b.ThrottleReadBps)
	case len(b.ThrottleWriteBps) != 1 || b.ThrottleWriteBps[0].Rate != 2<<20:
		t.Errorf("throttleWriteBpsDevice %+v", b.ThrottleWriteBps)
	case len(b.ThrottleReadIOPS) != 1 || b.ThrottleReadIOPS[0].Rate != 100:
		t.Errorf("throttleReadIOPSDevice %+v", b.ThrottleReadIOPS)
	case len(b.ThrottleWriteIOPS) != 1 || b.ThrottleWriteIOPS[0] != (cgroup.ThrottleDevice{Major: 254, Minor: 1, Rate: 200}):
		t.Errorf("throttleWriteIOPSDevice %+v", b.ThrottleWriteIOPS)
	case len(r.HugepageLimits) != 1 || r.HugepageLimits[0] != (cgroup.HugepageLimit{PageSize: "2MB", Limit: 4 << 20}):
		t.Errorf("hugepageLimits %+v", r.HugepageLimits)
	case r.NetClassID == nil || *r.NetClassID != 0x100001:
		t.Errorf("network.classID %v", r.NetClassID)
	case len(r.NetPriorities) != 1 || r.NetPriorities[0] != (cgroup.NetPriority{Interface: "eth0", Priority: 5}):
		t.Errorf("network.priorities %+v", r.NetPriorities)
	case len(r.RDMA) != 1 || r.RDMA["mlx5_0"].HcaHandles == nil || *r.RDMA["mlx5_0"].HcaHandles != 3 || r.RDMA["mlx5_0"].HcaObjects != nil:
		t.Errorf("rdma %+v", r.RDMA)
	case len(r.Unified) != 2 || r.Unified["memory.high"] != "64M" || r.Unified["pids.max"] != "10":
		t.Errorf("unified %v", r.Unified)
	}

	// A blockIO that sets nothing needs no blkio controller.
	s = base()
	s.Linux.Resources.BlockIO = &specs.LinuxBlockIO{Weight: ptr(uint16(0))}
	if c, err = Translate(s, "/b", "c1"); err != nil {
		t.Fatal(err)
	}
	if c.Command.Resources.BlockIO != nil {
		t.Errorf("empty blockIO: %+v, want nil", c.Command.Resources.BlockIO)
	}
}

// TestTranslateResourcesRestRefuses: what the library refuses of the new
// sections comes back naming the field, before any cgroup is made.
func TestTranslateResourcesRestRefuses(t *testing.T) {
	dev := specs.LinuxBlockIODevice{Major: 8, Minor: 0}
	for want, r := range map[string]*specs.LinuxResources{
		"linux.resources: Resources.BlockIO.Weight: 5 is outside 10 to 1000":     {BlockIO: &specs.LinuxBlockIO{Weight: ptr(uint16(5))}},
		"linux.resources: Resources.BlockIO.LeafWeight: 1001 is outside":         {BlockIO: &specs.LinuxBlockIO{LeafWeight: ptr(uint16(1001))}},
		"linux.resources.blockIO.weightDevice[0]: neither weight nor leafWeight": {BlockIO: &specs.LinuxBlockIO{WeightDevice: []specs.LinuxWeightDevice{{LinuxBlockIODevice: dev}}}},
		"Resources.BlockIO.ThrottleReadBpsDevice[0]: device -1:0": {BlockIO: &specs.LinuxBlockIO{
			ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: -1}, Rate: 1}}}},
		`Resources.HugepageLimits[0]: page size "2M": want the kernel's spelling`: {HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2M"}}},
		"Resources.HugepageLimits[1]: page size 2MB given twice":                  {HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB"}, {Pagesize: "2MB"}}},
		`Resources.NetPriorities[0]: interface "eth0 1\n": contains a space`: {Network: &specs.LinuxNetwork{
			Priorities: []specs.LinuxInterfacePriority{{Name: "eth0 1\n"}}}},
		"Resources.RDMA[mlx5_0]: neither HcaHandles nor HcaObjects is set":            {Rdma: map[string]specs.LinuxRdma{"mlx5_0": {}}},
		`Resources.Unified[../cgroup.procs]: a file of the task's cgroup, not a path`: {Unified: map[string]string{"../cgroup.procs": "1"}},
		`Resources.Unified[memory/max]: a file of the task's cgroup, not a path`:      {Unified: map[string]string{"memory/max": "1"}},
		`Resources.Unified[memory]: want controller.file`:                             {Unified: map[string]string{"memory": "1"}},
		`Resources.Unified[Memory.max]: controller "Memory"`:                          {Unified: map[string]string{"Memory.max": "1"}},
		"Resources.Unified[cgroup.procs]: refused: berth places the task's processes": {Unified: map[string]string{"cgroup.procs": "1"}},
		"Resources.Unified[cgroup.freeze]: refused":                                   {Unified: map[string]string{"cgroup.freeze": "1"}},
		"Resources.Unified[cgroup.kill]: refused":                                     {Unified: map[string]string{"cgroup.kill": "1"}},
		"Resources.Unified[cgroup.subtree_control]: refused":                          {Unified: map[string]string{"cgroup.subtree_control": "+memory"}},
		"Resources.Unified[cgroup.type]: refused":                                     {Unified: map[string]string{"cgroup.type": "threaded"}},
		"Resources.Unified[cgroup.max.depth]: refused: 0 leaves no room":              {Unified: map[string]string{"cgroup.max.depth": "0"}},
	} {
		s := base()
		s.Linux.Resources = r
		_, err := Translate(s, "/b", "c1")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: Translate = %v", want, err)
		}
	}
}

func TestTranslateNoMountNamespace(t *testing.T) {
	s := base()
	s.Linux.Namespaces = s.Linux.Namespaces[:1]
	c, err := Translate(s, "/b", "c1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Command.Isolation.Mount != executor.ModeHost {
		t.Errorf("no mount namespace: mount mode %q, want host", c.Command.Isolation.Mount)
	}
}
