package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// touch creates empty files in dir, as the kernel offers them.
func touch(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// assertSettings compares settings with want, "file=value" with the
// file relative to dir.
func assertSettings(t *testing.T, got []setting, dir string, want ...string) {
	t.Helper()
	var lines []string
	for _, s := range got {
		rel, _ := filepath.Rel(dir, s.file)
		lines = append(lines, rel+"="+s.value)
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("settings:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

var testBlockIO = &BlockIO{
	Weight:            500,
	WeightDevice:      []WeightDevice{{Major: 8, Minor: 0, Weight: 200}},
	ThrottleReadBps:   []ThrottleDevice{{Major: 8, Minor: 0, Rate: 1 << 20}},
	ThrottleWriteBps:  []ThrottleDevice{{Major: 8, Minor: 16, Rate: 0}},
	ThrottleReadIOPS:  []ThrottleDevice{{Major: 8, Minor: 0, Rate: 100}},
	ThrottleWriteIOPS: []ThrottleDevice{{Major: 8, Minor: 0, Rate: 200}},
}

// TestBlockIOV1Settings: weights go to CFQ's files where they exist, else
// BFQ's, else nowhere, naming the field; leaf weights only to CFQ's.
func TestBlockIOV1Settings(t *testing.T) {
	throttles := []string{
		"blkio.throttle.read_bps_device=8:0 1048576",
		"blkio.throttle.write_bps_device=8:16 0",
		"blkio.throttle.read_iops_device=8:0 100",
		"blkio.throttle.write_iops_device=8:0 200",
	}
	cfq := t.TempDir()
	touch(t, cfq, "blkio.weight", "blkio.bfq.weight")
	got, err := testBlockIO.v1Settings(cfq)
	if err != nil {
		t.Fatal(err)
	}
	assertSettings(t, got, cfq, append([]string{"blkio.weight=500", "blkio.weight_device=8:0 200"}, throttles...)...)

	bfq := t.TempDir()
	touch(t, bfq, "blkio.bfq.weight")
	got, err = testBlockIO.v1Settings(bfq)
	if err != nil {
		t.Fatal(err)
	}
	assertSettings(t, got, bfq, append([]string{"blkio.bfq.weight=500", "blkio.bfq.weight_device=8:0 200"}, throttles...)...)

	none := t.TempDir()
	_, err = testBlockIO.v1Settings(none)
	wantErr(t, err, "Resources.BlockIO.Weight: no proportional-weight I/O scheduler: "+none+" has neither blkio.weight (CFQ) nor blkio.bfq.weight (BFQ)")
	_, err = (&BlockIO{WeightDevice: []WeightDevice{{Major: 8, Weight: 10}}}).v1Settings(none)
	wantErr(t, err, "Resources.BlockIO.WeightDevice: no proportional-weight I/O scheduler")
	// Throttles alone need no scheduler.
	got, err = (&BlockIO{ThrottleReadBps: []ThrottleDevice{{Major: 254, Minor: 0, Rate: 5}}}).v1Settings(none)
	if err != nil {
		t.Fatal(err)
	}
	assertSettings(t, got, none, "blkio.throttle.read_bps_device=254:0 5")

	_, err = (&BlockIO{LeafWeight: 300}).v1Settings(bfq)
	wantErr(t, err, "Resources.BlockIO.LeafWeight: "+bfq+" has no blkio.leaf_weight: only the CFQ scheduler had leaf weights")
	touch(t, cfq, "blkio.leaf_weight", "blkio.leaf_weight_device")
	got, err = (&BlockIO{LeafWeight: 300, WeightDevice: []WeightDevice{{Major: 8, LeafWeight: 20}}}).v1Settings(cfq)
	if err != nil {
		t.Fatal(err)
	}
	assertSettings(t, got, cfq, "blkio.leaf_weight=300", "blkio.leaf_weight_device=8:0 20")
}

// TestBlockIOV2Settings: BFQ takes v1 weights as they are, io.weight
// scaled; throttles become one io.max line per device, 0 as "max"; v2
// has no leaf weights.
func TestBlockIOV2Settings(t *testing.T) {
	throttles := []string{
		"io.max=8:0 rbps=1048576 riops=100 wiops=200",
		"io.max=8:16 wbps=max",
	}
	bfq := t.TempDir()
	touch(t, bfq, "io.bfq.weight", "io.weight")
	got, err := testBlockIO.v2Settings(bfq)
	if err != nil {
		t.Fatal(err)
	}
	assertSettings(t, got, bfq, append([]string{"io.bfq.weight=default 500", "io.bfq.weight=8:0 200"}, throttles...)...)
	if got[2].field != "Resources.BlockIO.ThrottleReadBpsDevice[0], Resources.BlockIO.ThrottleReadIOPSDevice[0], Resources.BlockIO.ThrottleWriteIOPSDevice[0]" {
		t.Errorf("io.max line's field %q: want every throttle it holds", got[2].field)
	}

	iocost := t.TempDir()
	touch(t, iocost, "io.weight")
	got, err = testBlockIO.v2Settings(iocost)
	if err != nil {
		t.Fatal(err)
	}
	assertSettings(t, got, iocost, append([]string{"io.weight=default 4950", "io.weight=8:0 1920"}, throttles...)...)

	none := t.TempDir()
	_, err = testBlockIO.v2Settings(none)
	wantErr(t, err, "Resources.BlockIO.Weight: no proportional-weight I/O scheduler: "+none+" has neither io.bfq.weight (BFQ) nor io.weight (io.cost)")
	_, err = (&BlockIO{WeightDevice: []WeightDevice{{Major: 8, LeafWeight: 100}}}).v2Settings(bfq)
	wantErr(t, err, "Resources.BlockIO.LeafWeight: cgroup v2 has no leaf weights")
}

func TestBlkioToIOWeight(t *testing.T) {
	for w, want := range map[uint16]uint16{0: 0, 10: 1, 100: 910, 500: 4950, 1000: 10000} {
		if got := blkioToIOWeight(w); got != want {
			t.Errorf("blkioToIOWeight(%d) = %d, want %d", w, got, want)
		}
	}
}

func TestBlockIOValidate(t *testing.T) {
	for want, b := range map[string]*BlockIO{
		"Resources.BlockIO.Weight: 9 is outside 10 to 1000":                        {Weight: 9},
		"Resources.BlockIO.LeafWeight: 1001 is outside 10 to 1000":                 {LeafWeight: 1001},
		"Resources.BlockIO.WeightDevice[0]: neither Weight nor LeafWeight is set":  {WeightDevice: []WeightDevice{{Major: 8}}},
		"Resources.BlockIO.WeightDevice[0].Weight: 5 is outside":                   {WeightDevice: []WeightDevice{{Major: 8, Weight: 5}}},
		"Resources.BlockIO.WeightDevice[0]: device 8:-1: want a major of 0 to":     {WeightDevice: []WeightDevice{{Major: 8, Minor: -1, Weight: 10}}},
		"Resources.BlockIO.ThrottleWriteIOPSDevice[0]: device 4096:0: want":        {ThrottleWriteIOPS: []ThrottleDevice{{Major: 4096}}},
		"Resources.BlockIO.ThrottleReadBpsDevice[1]: device 1:1048576: want a maj": {ThrottleReadBps: []ThrottleDevice{{}, {Major: 1, Minor: 1 << 20}}},
	} {
		wantErr(t, Resources{BlockIO: b}.Validate(), want)
	}
	if err := (Resources{BlockIO: testBlockIO}).Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

// blockDevice finds a whole disk of the host, for throttles the kernel
// takes only for a device it has.
func blockDevice(t *testing.T) (major, minor int64) {
	t.Helper()
	entries, _ := os.ReadDir("/sys/block")
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "loop") || strings.HasPrefix(e.Name(), "ram") || strings.HasPrefix(e.Name(), "zram") {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/sys/block", e.Name(), "dev"))
		if err != nil {
			continue
		}
		if n, err := fmt.Sscanf(strings.TrimSpace(string(b)), "%d:%d", &major, &minor); err == nil && n == 2 {
			return major, minor
		}
	}
	t.Skip("host has no block device in /sys/block to throttle")
	return 0, 0
}

// TestV1BlockIO: on real v1 blkio, throttles and a weight reach their
// files, an update replaces a throttle, and a refused setting (a leaf
// weight on a kernel without CFQ, a device the kernel lacks) leaves no
// cgroup behind.
func TestV1BlockIO(t *testing.T) {
	requireCgroupV1(t, "freezer", "devices", "blkio")
	major, minor := blockDevice(t)
	dev := devNum(major, minor)
	id := testID(t)
	b := &BlockIO{
		ThrottleReadBps:   []ThrottleDevice{{Major: major, Minor: minor, Rate: 1 << 20}},
		ThrottleWriteBps:  []ThrottleDevice{{Major: major, Minor: minor, Rate: 2 << 20}},
		ThrottleReadIOPS:  []ThrottleDevice{{Major: major, Minor: minor, Rate: 300}},
		ThrottleWriteIOPS: []ThrottleDevice{{Major: major, Minor: minor, Rate: 400}},
	}
	dir := filepath.Join(defaultRoot, "blkio", testParent, id)
	// The weight goes to whichever scheduler's file a new cgroup has.
	weightFile := ""
	m := newTestManager(t, Config{Version: V1, Parent: testParent, ID: id, Resources: Resources{BlockIO: b}})
	for _, f := range []string{"blkio.weight", "blkio.bfq.weight"} {
		if exists(filepath.Join(dir, f)) {
			weightFile = f
			break
		}
	}
	assertFile(t, filepath.Join(dir, "blkio.throttle.read_bps_device"), dev+" 1048576")
	assertFile(t, filepath.Join(dir, "blkio.throttle.write_bps_device"), dev+" 2097152")
	assertFile(t, filepath.Join(dir, "blkio.throttle.read_iops_device"), dev+" 300")
	assertFile(t, filepath.Join(dir, "blkio.throttle.write_iops_device"), dev+" 400")

	up := Resources{BlockIO: &BlockIO{ThrottleReadBps: []ThrottleDevice{{Major: major, Minor: minor, Rate: 5 << 20}}}}
	if weightFile != "" {
		up.BlockIO.Weight = 123
	}
	if err := m.Update(up); err != nil {
		t.Fatalf("Update: %v", err)
	}
	assertFile(t, filepath.Join(dir, "blkio.throttle.read_bps_device"), dev+" 5242880")
	assertFile(t, filepath.Join(dir, "blkio.throttle.write_iops_device"), dev+" 400")
	if weightFile != "" {
		// BFQ's file reads "default 123"; CFQ's "123".
		if got := readTrim(t, filepath.Join(dir, weightFile)); !strings.HasSuffix(got, "123") {
			t.Errorf("%s = %q after Update with weight 123", weightFile, got)
		}
	}

	for _, tc := range []struct {
		r    Resources
		want string
	}{
		{Resources{BlockIO: &BlockIO{LeafWeight: 100}}, "Resources.BlockIO.LeafWeight: "},
		{Resources{BlockIO: &BlockIO{ThrottleReadBps: []ThrottleDevice{{Major: maxMajor, Minor: maxMinor, Rate: 1}}}},
			"Resources.BlockIO.ThrottleReadBpsDevice[0]: write \"4095:1048575 1\" to "},
	} {
		if exists(filepath.Join(dir, "blkio.leaf_weight")) && tc.r.BlockIO.LeafWeight != 0 {
			continue // a kernel with CFQ takes it
		}
		id := testID(t) + "-refused"
		_, err := New(Config{Version: V1, Parent: testParent, ID: id, Resources: tc.r}, testLogger(t))
		wantErr(t, err, tc.want)
		for _, h := range []string{"freezer", "devices", "blkio"} {
			if _, err := os.Stat(filepath.Join(defaultRoot, h, testParent, id)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("refused New left %s cgroup behind (stat: %v)", h, err)
			}
		}
	}
}

// TestHybridBlockIO: on a hybrid host block I/O limits are v1's, in the
// task's blkio cgroup.
func TestHybridBlockIO(t *testing.T) {
	requireCgroupV2(t, unifiedMount)
	requireCgroupV1(t, "blkio")
	major, minor := blockDevice(t)
	id := testID(t)
	m := newTestManager(t, Config{Version: Hybrid, Parent: testParent, ID: id, Resources: Resources{
		BlockIO: &BlockIO{ThrottleWriteBps: []ThrottleDevice{{Major: major, Minor: minor, Rate: 1 << 20}}}}})
	dir := m.Paths()["blkio"]
	if dir != filepath.Join(defaultRoot, "blkio", testParent, id) {
		t.Fatalf("Paths() = %v: want a blkio cgroup", m.Paths())
	}
	assertFile(t, filepath.Join(dir, "blkio.throttle.write_bps_device"), devNum(major, minor)+" 1048576")
}
