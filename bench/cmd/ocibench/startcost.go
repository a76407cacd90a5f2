package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berthrun/berth/bench/internal/benchutil"
)

// startProbe is one whole process whose start-to-exit is timed: what every
// runtime verb pays before its work.
type startProbe struct {
	name string
	argv []string
	want int      // exit status
	env  []string // nil: ours
}

// measureStart times each probe n times, interleaved (the first rotating).
func measureStart(probes []startProbe, n int, errFile *os.File) ([]benchutil.Summary, error) {
	d := make([][]time.Duration, len(probes))
	for i := range n + 5 {
		for k := range probes {
			j := (i + k) % len(probes)
			t, err := timed(probes[j].argv, probes[j].env, errFile, probes[j].want)
			if err != nil {
				return nil, err
			}
			if i >= 5 { // 5 warm-up rounds
				d[j] = append(d[j], t)
			}
		}
	}
	out := make([]benchutil.Summary, len(probes))
	for j := range probes {
		out[j] = benchutil.Summarize(d[j])
	}
	return out, nil
}

// initCost is one package's init in GODEBUG=inittrace=1's output.
type initCost struct {
	pkg    string
	at     float64 // ms after process start, median
	clock  float64 // ms, median over runs
	bytes  int
	allocs int
}

// inittrace runs argv `runs` times with GODEBUG=inittrace=1 and returns
// every package's init, with the median clock and start time over runs,
// in the order they ran.
func inittrace(argv []string, runs int) ([]initCost, error) {
	clocks := map[string][]float64{}
	ats := map[string][]float64{}
	last := map[string]initCost{}
	var order []string
	for range runs {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
		var errb strings.Builder
		cmd.Stderr = &errb
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("%s with inittrace: %w: %s", strings.Join(argv, " "), err, errb.String())
		}
		sc := bufio.NewScanner(strings.NewReader(errb.String()))
		for sc.Scan() {
			// init PKG @0.22 ms, 0.005 ms clock, 0 bytes, 0 allocs
			f := strings.Fields(sc.Text())
			if len(f) != 11 || f[0] != "init" || !strings.HasPrefix(f[2], "@") {
				continue
			}
			at, err1 := strconv.ParseFloat(strings.TrimPrefix(f[2], "@"), 64)
			clock, err2 := strconv.ParseFloat(f[4], 64)
			bytes, _ := strconv.Atoi(f[7])
			allocs, _ := strconv.Atoi(f[9])
			if err1 != nil || err2 != nil {
				continue
			}
			if _, seen := clocks[f[1]]; !seen {
				order = append(order, f[1])
			}
			clocks[f[1]] = append(clocks[f[1]], clock)
			ats[f[1]] = append(ats[f[1]], at)
			last[f[1]] = initCost{pkg: f[1], bytes: bytes, allocs: allocs}
		}
	}
	var out []initCost
	for _, p := range order {
		c := last[p]
		c.clock, c.at = median(clocks[p]), median(ats[p])
		out = append(out, c)
	}
	return out, nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// goVersionDeps is the dep lines of `go version -m BIN`: the modules
// linked into it.
func goVersionDeps(bin string) ([]string, error) {
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		return nil, fmt.Errorf("go version -m %s: %w", bin, err)
	}
	var deps []string
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == "dep" {
			deps = append(deps, f[1]+" "+f[2])
		}
	}
	return deps, nil
}

// buildBinaries builds berth-oci and berth-init (static, as `make build`)
// into dir from the main module, the parent of the bench module, and an
// empty Go program (func main() {}) as the floor of a Go process's start.
// It returns the main module's directory.
func buildBinaries(dir string) (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w (run from the bench module, or pass -bin)", err)
	}
	mod := strings.TrimSpace(string(out))
	if filepath.Base(filepath.Dir(mod)) != "bench" {
		return "", fmt.Errorf("the current directory is not in the bench module (go.mod %q): run from bench/, or pass -bin", mod)
	}
	main := filepath.Dir(filepath.Dir(mod))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/berth-oci", "./cmd/berth-init")
	cmd.Dir = main
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/berth-oci ./cmd/berth-init in %s: %w\n%s", main, err, out)
	}
	return main, nil
}

// buildEmpty builds `package main; func main() {}`, static, as dir/go-empty.
func buildEmpty(dir string) (string, error) {
	src := filepath.Join(dir, "goempty.go")
	if err := os.WriteFile(src, []byte("package main\n\nfunc main() {}\n"), 0o644); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "go-empty")
	cmd := exec.Command("go", "build", "-o", bin, src)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GO111MODULE=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", src, err, out)
	}
	return bin, nil
}

// nonStdPackages counts the packages outside the standard library that
// pkg links, as `go list -deps` in the module at dir lists them.
func nonStdPackages(dir, pkg string) ([]string, error) {
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list -deps %s: %w", pkg, err)
	}
	return strings.Fields(string(out)), nil
}
