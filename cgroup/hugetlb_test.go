package cgroup

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPageSizeName(t *testing.T) {
	for kB, want := range map[uint64]string{64: "64KB", 2048: "2MB", 32768: "32MB", 1 << 20: "1GB", 16 << 20: "16GB"} {
		if got := pageSizeName(kB); got != want {
			t.Errorf("pageSizeName(%d) = %q, want %q", kB, got, want)
		}
		if got, ok := parsePageSize(want); !ok || got != kB {
			t.Errorf("parsePageSize(%q) = %d, %v, want %d", want, got, ok, kB)
		}
	}
	for _, bad := range []string{"", "2M", "2mb", "MB", "02MB", "2 MB", "-2MB", "2MBMB", "99999999999GB"} {
		if _, ok := parsePageSize(bad); ok {
			t.Errorf("parsePageSize(%q) accepted", bad)
		}
	}
}

// fakeHugepages points hugepagesDir at a directory with the given sizes
// (in kB) for the test.
func fakeHugepages(t *testing.T, kBs ...string) {
	dir := t.TempDir()
	for _, kB := range kBs {
		if err := os.Mkdir(filepath.Join(dir, "hugepages-"+kB+"kB"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	old := hugepagesDir
	hugepagesDir = dir
	t.Cleanup(func() { hugepagesDir = old })
}

// TestCheckHugepages: a page size the host lacks is refused naming it
// and the sizes it has.
func TestCheckHugepages(t *testing.T) {
	fakeHugepages(t, "1048576", "2048")
	if err := checkHugepages([]HugepageLimit{{PageSize: "2MB"}, {PageSize: "1GB"}}); err != nil {
		t.Errorf("checkHugepages: %v", err)
	}
	wantErr(t, checkHugepages([]HugepageLimit{{PageSize: "2MB"}, {PageSize: "16GB"}}), "Resources.HugepageLimits[1]: page size 16GB: this host has 2MB, 1GB")

	hugepagesDir = filepath.Join(t.TempDir(), "none")
	wantErr(t, checkHugepages([]HugepageLimit{{PageSize: "2MB"}}), "Resources.HugepageLimits: the kernel has no huge pages")
	if err := checkHugepages(nil); err != nil {
		t.Errorf("checkHugepages(nil): %v", err)
	}
}

func TestHugetlbSettings(t *testing.T) {
	limits := []HugepageLimit{{PageSize: "2MB", Limit: 4 << 20}, {PageSize: "1GB", Limit: 0}}
	assertSettings(t, hugetlbSettings(limits, "/c", false), "/c", "hugetlb.2MB.limit_in_bytes=4194304", "hugetlb.1GB.limit_in_bytes=0")
	assertSettings(t, hugetlbSettings(limits, "/c", true), "/c", "hugetlb.2MB.max=4194304", "hugetlb.1GB.max=0")
}

// TestV2FakeHugetlb: on v2 a huge page limit enables hugetlb in every
// level and is written to hugetlb.<size>.max; a size the host lacks is
// refused before any cgroup is made.
func TestV2FakeHugetlb(t *testing.T) {
	fakeHugepages(t, "2048")
	mount := fakeV2(t, "memory hugetlb")
	cfg := Config{Version: V2, V2Mount: mount, Parent: "berth-test", ID: "h1",
		Resources: Resources{HugepageLimits: []HugepageLimit{{PageSize: "2MB", Limit: 8 << 20}}}}
	// A fake tree has no hugetlb.2MB.max in a new cgroup: New fails at
	// the write, after enabling the controller, and removes the cgroup.
	_, err := New(cfg, testLogger(t))
	wantErr(t, err, "Resources.HugepageLimits[0]: "+filepath.Join(mount, "berth-test", "h1", "hugetlb.2MB.max")+" does not exist")
	if _, err := os.Stat(filepath.Join(mount, "berth-test", "h1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refused New left the cgroup (stat: %v)", err)
	}
	for _, level := range []string{mount, filepath.Join(mount, "berth-test")} {
		if enabled, _ := readFields(filepath.Join(level, "cgroup.subtree_control")); !enabled["hugetlb"] {
			t.Errorf("%s: hugetlb not enabled: %v", level, enabled)
		}
	}

	cfg.ID = "h2"
	cfg.Resources.HugepageLimits[0].PageSize = "1GB"
	_, err = New(cfg, testLogger(t))
	wantErr(t, err, "Resources.HugepageLimits[0]: page size 1GB: this host has 2MB")
	if _, err := os.Stat(filepath.Join(mount, "berth-test", "h2")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refused New made the cgroup (stat: %v)", err)
	}
}

// TestHybridHugetlb: on a hybrid host without a v1 hugetlb hierarchy, a
// huge page limit goes to the unified hierarchy, where berth enables
// hugetlb only below the root, whose cgroup.subtree_control is the
// host's: a root that does not enable it is an error naming the field,
// and leaves nothing behind; one that does gets the limit written.
func TestHybridHugetlb(t *testing.T) {
	requireCgroupV2(t, unifiedMount)
	if v1Mounted(defaultRoot, "hugetlb") {
		t.Skip("host has a v1 hugetlb hierarchy: limits go there (TestV1 covers v1 files)")
	}
	sizes, err := hostPageSizes(hugepagesDir)
	if err != nil || len(sizes) == 0 {
		t.Skipf("host has no huge pages (%s: %v)", hugepagesDir, err)
	}
	controllers, err := readFields(filepath.Join(unifiedMount, "cgroup.controllers"))
	if err != nil {
		t.Fatal(err)
	}
	enabled, err := readFields(filepath.Join(unifiedMount, "cgroup.subtree_control"))
	if err != nil {
		t.Fatal(err)
	}
	id := testID(t)
	cfg := Config{Version: Hybrid, Parent: testParent, ID: id,
		Resources: Resources{HugepageLimits: []HugepageLimit{{PageSize: sizes[0], Limit: 2 << 30}}}}
	switch {
	case !controllers["hugetlb"]:
		_, err := New(cfg, testLogger(t))
		wantErr(t, err, "Resources.HugepageLimits: cgroup2 controller hugetlb is not available in "+unifiedMount)
	case !enabled["hugetlb"]:
		_, err := New(cfg, testLogger(t))
		wantErr(t, err, "Resources.HugepageLimits: cgroup2 controller hugetlb is not enabled in "+filepath.Join(unifiedMount, "cgroup.subtree_control")+", which belongs to the host")
	default:
		m := newTestManager(t, cfg)
		file := filepath.Join(m.Paths()["unified"], "hugetlb."+sizes[0]+".max")
		if got := readTrim(t, file); !strings.HasPrefix(got, "2") {
			t.Errorf("%s = %q, want about 2G (rounded down to whole pages)", file, got)
		}
		return
	}
	if _, err := os.Stat(filepath.Join(unifiedMount, testParent, id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refused New left the unified cgroup (stat: %v)", err)
	}
	if now, _ := readFields(filepath.Join(unifiedMount, "cgroup.subtree_control")); now["hugetlb"] != enabled["hugetlb"] {
		t.Errorf("the host's %s changed: %v, was %v", filepath.Join(unifiedMount, "cgroup.subtree_control"), now, enabled)
	}
}
