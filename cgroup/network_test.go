package cgroup

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestNetworkSettings(t *testing.T) {
	r := Resources{NetClassID: ptr(uint32(0x100001)), NetPriorities: []NetPriority{{"eth0", 5}, {"lo", 0}},
		RDMA: map[string]RDMALimit{"mlx5_1": {HcaObjects: ptr(uint32(7))}, "mlx5_0": {HcaHandles: ptr(uint32(2)), HcaObjects: ptr(uint32(9))}}}
	assertSettings(t, networkSettings(r, map[string]string{"net_cls": "/c/cls", "net_prio": "/c/prio"}), "/c",
		"cls/net_cls.classid=1048577", "prio/net_prio.ifpriomap=eth0 5", "prio/net_prio.ifpriomap=lo 0")
	assertSettings(t, rdmaSettings(r, "/c"), "/c", "rdma.max=mlx5_0 hca_handle=2 hca_object=9", "rdma.max=mlx5_1 hca_object=7")
	if err := r.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestNetworkValidate(t *testing.T) {
	for want, r := range map[string]Resources{
		`Resources.NetPriorities[0]: interface "": empty`:                                {NetPriorities: []NetPriority{{}}},
		`Resources.NetPriorities[0]: interface "eth0 7\nlo": contains a space`:           {NetPriorities: []NetPriority{{Interface: "eth0 7\nlo"}}},
		`Resources.NetPriorities[0]: interface "0123456789abcdef": longer than 15 bytes`: {NetPriorities: []NetPriority{{Interface: "0123456789abcdef"}}},
		"Resources.NetPriorities[1]: interface eth0 given twice":                         {NetPriorities: []NetPriority{{Interface: "eth0"}, {Interface: "eth0"}}},
		`Resources.RDMA: device "mlx5_0 hca_handle=1": contains a space`:                 {RDMA: map[string]RDMALimit{"mlx5_0 hca_handle=1": {HcaHandles: ptr(uint32(1))}}},
		"Resources.RDMA[mlx5_0]: neither HcaHandles nor HcaObjects is set":               {RDMA: map[string]RDMALimit{"mlx5_0": {}}},
	} {
		wantErr(t, r.Validate(), want)
	}
}

// TestV2FakeNetwork: cgroup v2 has no net_cls or net_prio; refused before
// any cgroup is made.
func TestV2FakeNetwork(t *testing.T) {
	mount := fakeV2(t, "memory")
	for want, r := range map[string]Resources{
		"Resources.NetClassID: cgroup v2 has no net_cls controller":     {NetClassID: ptr(uint32(1))},
		"Resources.NetPriorities: cgroup v2 has no net_prio controller": {NetPriorities: []NetPriority{{"eth0", 1}}},
		"Resources.RDMA: cgroup2 controller rdma is not available in":   {RDMA: map[string]RDMALimit{"mlx5_0": {HcaHandles: ptr(uint32(1))}}},
	} {
		_, err := New(Config{Version: V2, V2Mount: mount, Parent: "berth-test", ID: "n", Resources: r}, testLogger(t))
		wantErr(t, err, want)
		if _, err := os.Stat(filepath.Join(mount, "berth-test", "n")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: refused New left the cgroup (stat: %v)", want, err)
		}
	}
}

// TestHybridNetworkAndRDMA: net_cls and net_prio need their v1
// hierarchies and rdma its controller on either hierarchy; a host
// without them refuses naming the field and leaves nothing behind. This
// kind of host has none of them: mounting net_cls or net_prio for a test
// would turn off cgroup2 socket matching for the whole host (the kernel
// does so once either is used), so the files are tested above only.
func TestHybridNetworkAndRDMA(t *testing.T) {
	requireCgroupV2(t, unifiedMount)
	v2Controllers, err := readFields(filepath.Join(unifiedMount, "cgroup.controllers"))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]Resources{}
	if !v1Mounted(defaultRoot, "net_cls") {
		cases["Resources.NetClassID: cgroup v1 controller net_cls is not mounted at "+filepath.Join(defaultRoot, "net_cls")] = Resources{NetClassID: ptr(uint32(1))}
	}
	if !v1Mounted(defaultRoot, "net_prio") {
		cases["Resources.NetPriorities: cgroup v1 controller net_prio is not mounted at "+filepath.Join(defaultRoot, "net_prio")] = Resources{NetPriorities: []NetPriority{{"lo", 1}}}
	}
	if !v1Mounted(defaultRoot, "rdma") && !v2Controllers["rdma"] {
		cases["Resources.RDMA: cgroup2 controller rdma is not available in "+unifiedMount] = Resources{RDMA: map[string]RDMALimit{"mlx5_0": {HcaHandles: ptr(uint32(1))}}}
	}
	if len(cases) == 0 {
		t.Skip("host has net_cls, net_prio and rdma: nothing to refuse")
	}
	id := testID(t)
	for want, r := range cases {
		_, err := New(Config{Version: Hybrid, Parent: testParent, ID: id, Resources: r}, testLogger(t))
		wantErr(t, err, want)
		dirs := []string{filepath.Join(unifiedMount, testParent, id)}
		for _, n := range v1Names {
			dirs = append(dirs, filepath.Join(defaultRoot, n, testParent, id))
		}
		for _, d := range dirs {
			if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s: refused New left %s (stat: %v)", want, d, err)
			}
		}
	}
}
