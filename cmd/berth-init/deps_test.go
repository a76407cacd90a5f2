package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLean: the init binary links only what the init stage needs. Each
// heavy package below would add its init time to every launch and its
// pages to every detached task's resident reaper.
func TestLean(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	heavy := []string{"github.com/containerd/", "github.com/hashicorp/", "google.golang.org/protobuf",
		"github.com/godbus/", "github.com/cilium/ebpf", "github.com/spf13/", "github.com/sirupsen/",
		"net", "net/http", "crypto/tls", "text/template", "regexp",
		"github.com/berthrun/berth/executor", "github.com/berthrun/berth/cgroup"}
	deps := strings.Fields(string(out))
	for _, d := range deps {
		for _, h := range heavy {
			if d == h || (strings.HasSuffix(h, "/") && strings.HasPrefix(d, h)) {
				t.Errorf("berth-init links %s", d)
			}
		}
	}
	for _, want := range []string{"github.com/berthrun/berth/nsinit", "golang.org/x/sys/unix"} {
		found := false
		for _, d := range deps {
			found = found || d == want
		}
		if !found {
			t.Errorf("berth-init does not link %s: is this the init binary?", want)
		}
	}
}

// TestStatic: built as the Makefile builds it, the init binary has no
// program interpreter: no dynamic loader or libc to map at every launch.
func TestStatic(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	bin := filepath.Join(t.TempDir(), "berth-init")
	cmd := exec.Command(goBin, "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("berth-init has a program interpreter: it is not static")
		}
	}
}
