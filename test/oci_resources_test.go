package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hostDisk is the device number of a whole disk of the host: the kernel
// throttles only devices it has.
func hostDisk(t *testing.T) string {
	t.Helper()
	entries, _ := os.ReadDir("/sys/block")
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, "loop") || strings.HasPrefix(n, "ram") || strings.HasPrefix(n, "zram") {
			continue
		}
		if b, err := os.ReadFile(filepath.Join("/sys/block", n, "dev")); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	t.Skip("host has no disk in /sys/block to throttle")
	return ""
}

// cgroupFile is file of the cgroup at path (below the roots) in the
// hierarchy that holds it: v1's controller (blkio) on a v1 or hybrid
// host, the unified one ("" controller) on a hybrid host, or the v2 mount.
func cgroupFile(t *testing.T, controller, path, file string) string {
	t.Helper()
	roots := cgroupRoots(t)
	if len(roots) == 1 {
		return filepath.Join(roots[0], path, file)
	}
	if controller == "" {
		controller = "unified"
	}
	return filepath.Join("/sys/fs/cgroup", controller, path, file)
}

func readCgroupFile(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("read %s: %v", file, err)
	}
	return strings.TrimSpace(string(b))
}

// TestOCIResourcesThrottleAndUnified: a container with block I/O throttles
// and unified keys gets them in its cgroup files (v1 blkio and the unified
// hierarchy on a hybrid host; io.max and the cgroup on v2), update
// --resources changes them, and delete leaves no cgroup.
func TestOCIResourcesThrottleAndUnified(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/sys/fs/cgroup/unified/cgroup.controllers"); err != nil && len(cgroupRoots(t)) > 1 {
		t.Skip("host has cgroup v1 only: no unified keys to write")
	}
	disk := hostDisk(t)
	var major, minor int
	if _, err := fmt.Sscanf(disk, "%d:%d", &major, &minor); err != nil {
		t.Fatalf("disk %q: %v", disk, err)
	}
	tk := newTask(t)
	top := "berth-test-ocires-" + tk.id
	path := "/" + top + "/c"
	throttle := func(rate int) []any {
		return []any{map[string]any{"major": major, "minor": minor, "rate": rate}}
	}
	bundle := atkBundle(t, tk, func(cfg map[string]any, _ string) {
		cfgLinux(cfg)["cgroupsPath"] = path
		cfgLinux(cfg)["resources"] = map[string]any{
			"blockIO": map[string]any{
				"throttleReadBpsDevice":   throttle(1 << 20),
				"throttleWriteBpsDevice":  throttle(2 << 20),
				"throttleReadIOPSDevice":  throttle(300),
				"throttleWriteIOPSDevice": throttle(400),
			},
			"unified": map[string]any{"cgroup.max.descendants": "3", "cgroup.max.depth": "2"},
		}
	}, "/probe", "pause")
	root := filepath.Join(t.TempDir(), "root")
	mustSucceed(t, ociRun(t, root, "create", "--bundle", bundle, tk.id))
	deleted := false
	defer func() {
		if !deleted {
			ociRun(t, root, "delete", "--force", tk.id)
		}
	}()

	v2 := len(cgroupRoots(t)) == 1
	checkThrottles := func(rbps int) {
		t.Helper()
		if v2 {
			want := fmt.Sprintf("%s rbps=%d wbps=%d riops=300 wiops=400", disk, rbps, 2<<20)
			if got := readCgroupFile(t, cgroupFile(t, "", path, "io.max")); got != want {
				t.Errorf("io.max = %q, want %q", got, want)
			}
			return
		}
		for file, want := range map[string]string{
			"blkio.throttle.read_bps_device":   fmt.Sprintf("%s %d", disk, rbps),
			"blkio.throttle.write_bps_device":  fmt.Sprintf("%s %d", disk, 2<<20),
			"blkio.throttle.read_iops_device":  disk + " 300",
			"blkio.throttle.write_iops_device": disk + " 400",
		} {
			if got := readCgroupFile(t, cgroupFile(t, "blkio", path, file)); got != want {
				t.Errorf("%s = %q, want %q", file, got, want)
			}
		}
	}
	checkThrottles(1 << 20)
	if got := readCgroupFile(t, cgroupFile(t, "", path, "cgroup.max.descendants")); got != "3" {
		t.Errorf("cgroup.max.descendants = %q, want 3", got)
	}
	if got := readCgroupFile(t, cgroupFile(t, "", path, "cgroup.max.depth")); got != "2" {
		t.Errorf("cgroup.max.depth = %q, want 2", got)
	}
	if !v2 {
		// berth-oci keeps the device rules in v1's devices.list too,
		// the bundle's first.
		if got := readCgroupFile(t, cgroupFile(t, "devices", path, "devices.list")); !strings.HasPrefix(got, "c 1:3 rwm\n") {
			t.Errorf("devices.list = %q, want berth's rules", got)
		}
	}

	mustSucceed(t, ociRun(t, root, "start", tk.id))
	f := filepath.Join(t.TempDir(), "r.json")
	body := fmt.Sprintf(`{"blockIO":{"throttleReadBpsDevice":[{"major":%d,"minor":%d,"rate":%d}]},"unified":{"cgroup.max.descendants":"7"}}`, major, minor, 5<<20)
	if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, ociRun(t, root, "update", "--resources", f, tk.id))
	checkThrottles(5 << 20)
	if got := readCgroupFile(t, cgroupFile(t, "", path, "cgroup.max.descendants")); got != "7" {
		t.Errorf("cgroup.max.descendants after update = %q, want 7", got)
	}
	// A refused update changes nothing and names the key.
	if err := os.WriteFile(f, []byte(`{"unified":{"cgroup.procs":"1"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	mustFail(t, ociRun(t, root, "update", "--resources", f, tk.id), "Resources.Unified[cgroup.procs]: refused")

	mustSucceed(t, ociRun(t, root, "delete", "--force", tk.id))
	deleted = true
	assertNoCgroupNamed(t, top)
}

// TestOCIResourcesRefusedLeaveNothing: settings of the later sections that
// berth refuses, before any cgroup is made or after (a device the kernel
// lacks, a unified file it does not have), fail the create naming the
// field, and leave no cgroup in any hierarchy and no state.
func TestOCIResourcesRefusedLeaveNothing(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, want string
		res        map[string]any
	}{
		{"unified procs", "Resources.Unified[cgroup.procs]: refused", map[string]any{"unified": map[string]any{"cgroup.procs": "1"}}},
		{"unified path", "Resources.Unified[../cgroup.procs]: a file of the task's cgroup, not a path", map[string]any{"unified": map[string]any{"../cgroup.procs": "1"}}},
		{"unified no file", "Resources.Unified[cgroup.nosuchfile]: no such file in ", map[string]any{"unified": map[string]any{"cgroup.nosuchfile": "1"}}},
		{"throttle no device", "Resources.BlockIO.ThrottleReadBpsDevice[0]", map[string]any{"blockIO": map[string]any{
			"throttleReadBpsDevice": []any{map[string]any{"major": 4095, "minor": 1048575, "rate": 1}}}}},
		{"weight", "Resources.BlockIO.Weight: 5 is outside 10 to 1000", map[string]any{"blockIO": map[string]any{"weight": 5}}},
		{"hugepage size", `Resources.HugepageLimits[0]: page size "2M"`, map[string]any{"hugepageLimits": []any{map[string]any{"pageSize": "2M", "limit": 1 << 21}}}},
		{"rdma", "Resources.RDMA[mlx5_0]: neither HcaHandles nor HcaObjects", map[string]any{"rdma": map[string]any{"mlx5_0": map[string]any{}}}},
	} {
		t.Run(c.name, func(t *testing.T) { refusedLeavesNothing(t, "berth-test-ocires-bad-", c.res, c.want) })
	}
}
