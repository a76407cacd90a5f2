package proc

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
)

// FuzzCoreMHz feeds cpuinfo text to the core speed parser.
//
// Properties: a speed is finite, positive and between the smallest and
// the largest "cpu MHz" value given; no positive value is ErrNoCoreMHz.
func FuzzCoreMHz(f *testing.F) {
	f.Add("processor\t: 0\ncpu MHz\t\t: 2400.000\n\nprocessor\t: 1\ncpu MHz\t\t: 800.125\n")
	f.Add("cpu MHz dynamic : 5200\ncpu MHz static : 5200\n")
	f.Add("cpu MHz : 0\ncpu MHz : 0.000\n")
	f.Fuzz(func(t *testing.T, data string) {
		got, err := cpuinfoMHz(data)
		lo, hi := math.Inf(1), 0.0
		for line := range strings.Lines(data) {
			key, value, ok := strings.Cut(line, ":")
			if !ok || strings.TrimSpace(key) != "cpu MHz" {
				continue
			}
			v, perr := strconv.ParseFloat(strings.TrimSpace(value), 64)
			if perr != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
				if err == nil {
					t.Fatalf("cpuinfoMHz accepts the bad line %q: %v", line, got)
				}
				return
			}
			if v > 0 {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
		if hi == 0 {
			if !errors.Is(err, ErrNoCoreMHz) {
				t.Fatalf("no positive speed: got %v, %v; want ErrNoCoreMHz", got, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("cpuinfoMHz: %v", err)
		}
		if math.IsInf(got, 0) || math.IsNaN(got) || got < lo || got > hi {
			t.Fatalf("speed %v outside [%v, %v]", got, lo, hi)
		}
	})
}
