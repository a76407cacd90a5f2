package proc

import (
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// ErrNoCoreMHz says cpuinfo gives no core speed. arm64's cpuinfo has no
// frequency line at all (cpufreq's sysfs may, when a driver is loaded);
// ppc64 says "clock" and s390x "cpu MHz static" instead; x86 prints "cpu
// MHz" only for a CPU with a TSC. It matches fs.ErrNotExist too, so a
// caller that takes "no speed" as "unknown" treats a missing cpuinfo the
// same way.
var ErrNoCoreMHz error = noCoreMHz{}

type noCoreMHz struct{}

func (noCoreMHz) Error() string { return `no "cpu MHz" line` }

func (noCoreMHz) Is(target error) bool { return target == fs.ErrNotExist }

// CoreMHz returns one core's speed in MHz from <root>/cpuinfo: the median
// of its "cpu MHz" lines, one per CPU. On x86 each line is that CPU's
// current frequency (sampled from APERF/MPERF, or cpufreq's last request),
// so under frequency scaling idle cores show their lowest speed and busy
// ones their turbo speed, and the lines change from read to read; the
// median is steady against a few parked or boosted cores, where the first
// line is only CPU 0's state of the moment. With an even number of lines
// it is the mean of the middle two. A line saying 0 (the kernel knows no
// speed for that CPU) is skipped. No line, or only zeros, is ErrNoCoreMHz.
func (p FS) CoreMHz() (float64, error) {
	path := filepath.Join(p.root, "cpuinfo")
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("core MHz: %w", err)
	}
	mhz, err := cpuinfoMHz(string(data))
	if err != nil {
		return 0, fmt.Errorf("core MHz: parse %s: %w", path, err)
	}
	return mhz, nil
}

// cpuinfoMHz returns the median of the positive "cpu MHz" values in the
// text of a cpuinfo file. The key must be exactly "cpu MHz": s390x's
// "cpu MHz dynamic" and "cpu MHz static" are other figures.
func cpuinfoMHz(s string) (float64, error) {
	var mhz []float64
	for line := range strings.Lines(s) {
		key, value, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(key) != "cpu MHz" {
			continue
		}
		value = strings.TrimSpace(value)
		v, err := strconv.ParseFloat(value, 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return 0, fmt.Errorf("cpu MHz %q: not a number of MHz", value)
		}
		if v > 0 {
			mhz = append(mhz, v)
		}
	}
	if len(mhz) == 0 {
		return 0, ErrNoCoreMHz
	}
	slices.Sort(mhz)
	mid := len(mhz) / 2
	if len(mhz)%2 == 0 {
		// Half the gap added to the lower one: the sum of two values near
		// math.MaxFloat64 is +Inf, and an Inf is no JSON number.
		return mhz[mid-1] + (mhz[mid]-mhz[mid-1])/2, nil
	}
	return mhz[mid], nil
}
