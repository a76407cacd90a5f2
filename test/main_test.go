// Package test holds berth's black-box integration tests. They need root,
// and fail without it: they build berth, berth-init and the static probe
// once, run the probe inside tasks through the CLI (and the executor
// library) and assert on what it reports, on berth's exit status and error
// text, and that nothing is left behind.
package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/berthrun/berth/nsinit"
)

var (
	// berthBin is the berth binary under test.
	berthBin string
	// berthInitBin is the lean init binary, beside berthBin, where berth
	// looks for it.
	berthInitBin string
	// berthOCIBin is berth as an OCI runtime, beside them.
	berthOCIBin string
	// probeBin is the static probe; probeDir holds only it, for
	// `--mount probeDir:/probe:ro` on the default task dir.
	probeBin string
	probeDir string
)

func TestMain(m *testing.M) {
	// The executor tests re-execute this test binary as the init stage:
	// it must take over before the testing package does anything.
	nsinit.Init()
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	// Without root nothing here can run: fail, never pass having run
	// nothing (see the testutil package doc).
	if euid := os.Geteuid(); euid != 0 {
		fmt.Fprintf(os.Stderr, "test: FAIL: berth's integration tests need root (to create namespaces, cgroups and mounts) but run as euid %d; run them as root\n", euid)
		return 1
	}
	dir, err := os.MkdirTemp("", "berth-test-bin-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "test: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := buildBinaries(dir); err != nil {
		fmt.Fprintf(os.Stderr, "test: %v\n", err)
		return 1
	}
	return m.Run()
}

// buildBinaries builds berth, berth-init beside it and the static probe
// into dir.
func buildBinaries(dir string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	// go test runs in the package directory; the module root is its parent.
	root, err := filepath.Abs("..")
	if err != nil {
		return err
	}
	berthBin = filepath.Join(dir, "berth")
	berthInitBin = filepath.Join(dir, "berth-init")
	berthOCIBin = filepath.Join(dir, "berth-oci")
	probeDir = filepath.Join(dir, "probe")
	probeBin = filepath.Join(probeDir, "probe")
	// The probe dir is bound into tasks that may run as a non-root user.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(probeDir, 0o755); err != nil {
		return err
	}
	builds := []struct {
		out, pkg string
		env      []string
	}{
		// berth is built the way the Makefile and README build it: static;
		// so is berth-init, which berth finds beside itself.
		{berthBin, "./cmd/berth", []string{"CGO_ENABLED=0"}},
		{berthInitBin, "./cmd/berth-init", []string{"CGO_ENABLED=0"}},
		{berthOCIBin, "./cmd/berth-oci", []string{"CGO_ENABLED=0"}},
		{probeBin, "./test/probe", []string{"CGO_ENABLED=0"}},
	}
	for _, b := range builds {
		c := exec.Command(goBin, "build", "-o", b.out, b.pkg)
		c.Dir = root
		c.Env = append(os.Environ(), b.env...)
		if out, err := c.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %v\n%s", b.pkg, err, out)
		}
	}
	return nil
}
