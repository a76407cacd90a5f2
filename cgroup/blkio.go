package cgroup

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// Block I/O weights (Resources.BlockIO) run from 10 to 1000, cgroup v1's
// blkio.weight range, which OCI's blockIO uses. BFQ takes 1 to 1000 as is;
// v2's io.weight (the iocost controller) takes 1 to 10000, and a weight
// is scaled onto it.
const (
	MinBlkioWeight = 10
	MaxBlkioWeight = 1000
)

// validate checks b's ranges; errors name the field.
func (b *BlockIO) validate() error {
	weight := func(field string, w uint16) error {
		if w != 0 && (w < MinBlkioWeight || w > MaxBlkioWeight) {
			return fmt.Errorf("%s: %d is outside %d to %d", field, w, MinBlkioWeight, MaxBlkioWeight)
		}
		return nil
	}
	if err := weight("Resources.BlockIO.Weight", b.Weight); err != nil {
		return err
	}
	if err := weight("Resources.BlockIO.LeafWeight", b.LeafWeight); err != nil {
		return err
	}
	for i, d := range b.WeightDevice {
		field := fmt.Sprintf("Resources.BlockIO.WeightDevice[%d]", i)
		if err := checkBlockDevice(field, d.Major, d.Minor); err != nil {
			return err
		}
		if d.Weight == 0 && d.LeafWeight == 0 {
			return fmt.Errorf("%s: neither Weight nor LeafWeight is set", field)
		}
		if err := weight(field+".Weight", d.Weight); err != nil {
			return err
		}
		if err := weight(field+".LeafWeight", d.LeafWeight); err != nil {
			return err
		}
	}
	for _, t := range b.throttles() {
		for i, d := range t.devs {
			if err := checkBlockDevice(fmt.Sprintf("Resources.BlockIO.%s[%d]", t.field, i), d.Major, d.Minor); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkBlockDevice checks a block device's number: a weight or a throttle
// names one device, never a class.
func checkBlockDevice(field string, major, minor int64) error {
	if major < 0 || major > maxMajor || minor < 0 || minor > maxMinor {
		return fmt.Errorf("%s: device %d:%d: want a major of 0 to %d and a minor of 0 to %d", field, major, minor, maxMajor, maxMinor)
	}
	return nil
}

// throttle is one of BlockIO's throttle lists, with its v1 file and its
// v2 io.max key.
type throttle struct {
	field string
	v1    string
	v2    string
	devs  []ThrottleDevice
}

func (b *BlockIO) throttles() []throttle {
	return []throttle{
		{"ThrottleReadBpsDevice", "blkio.throttle.read_bps_device", "rbps", b.ThrottleReadBps},
		{"ThrottleWriteBpsDevice", "blkio.throttle.write_bps_device", "wbps", b.ThrottleWriteBps},
		{"ThrottleReadIOPSDevice", "blkio.throttle.read_iops_device", "riops", b.ThrottleReadIOPS},
		{"ThrottleWriteIOPSDevice", "blkio.throttle.write_iops_device", "wiops", b.ThrottleWriteIOPS},
	}
}

func devNum(major, minor int64) string { return fmt.Sprintf("%d:%d", major, minor) }

// v1Settings are the blkio files of the v1 cgroup dir for b. Weights go to
// blkio.weight where the kernel has it (CFQ, gone since Linux 5.0), else
// to blkio.bfq.weight (BFQ, built in or loaded; it takes effect on the
// devices that use it); with neither there is no proportional-weight
// scheduler to give a weight to. blkio.leaf_weight was CFQ's alone.
func (b *BlockIO) v1Settings(dir string) ([]setting, error) {
	var out []setting
	if b.Weight != 0 || b.hasDeviceWeight() {
		prefix := "blkio."
		if !exists(filepath.Join(dir, "blkio.weight")) {
			prefix = "blkio.bfq."
			if !exists(filepath.Join(dir, "blkio.bfq.weight")) {
				field := "Resources.BlockIO.Weight"
				if b.Weight == 0 {
					field = "Resources.BlockIO.WeightDevice"
				}
				return nil, fmt.Errorf("%s: no proportional-weight I/O scheduler: %s has neither blkio.weight (CFQ) nor blkio.bfq.weight (BFQ)", field, dir)
			}
		}
		if b.Weight != 0 {
			out = append(out, setting{"Resources.BlockIO.Weight", filepath.Join(dir, prefix+"weight"), strconv.Itoa(int(b.Weight))})
		}
		for i, d := range b.WeightDevice {
			if d.Weight != 0 {
				out = append(out, setting{fmt.Sprintf("Resources.BlockIO.WeightDevice[%d].Weight", i),
					filepath.Join(dir, prefix+"weight_device"), devNum(d.Major, d.Minor) + " " + strconv.Itoa(int(d.Weight))})
			}
		}
	}
	if b.LeafWeight != 0 || b.hasDeviceLeafWeight() {
		if !exists(filepath.Join(dir, "blkio.leaf_weight")) {
			field := "Resources.BlockIO.LeafWeight"
			if b.LeafWeight == 0 {
				field = "Resources.BlockIO.WeightDevice"
			}
			return nil, fmt.Errorf("%s: %s has no blkio.leaf_weight: only the CFQ scheduler had leaf weights (gone since Linux 5.0)", field, dir)
		}
		if b.LeafWeight != 0 {
			out = append(out, setting{"Resources.BlockIO.LeafWeight", filepath.Join(dir, "blkio.leaf_weight"), strconv.Itoa(int(b.LeafWeight))})
		}
		for i, d := range b.WeightDevice {
			if d.LeafWeight != 0 {
				out = append(out, setting{fmt.Sprintf("Resources.BlockIO.WeightDevice[%d].LeafWeight", i),
					filepath.Join(dir, "blkio.leaf_weight_device"), devNum(d.Major, d.Minor) + " " + strconv.Itoa(int(d.LeafWeight))})
			}
		}
	}
	// A rate of 0 removes the device's rule: the v1 meaning.
	for _, t := range b.throttles() {
		for i, d := range t.devs {
			out = append(out, setting{fmt.Sprintf("Resources.BlockIO.%s[%d]", t.field, i), filepath.Join(dir, t.v1),
				devNum(d.Major, d.Minor) + " " + strconv.FormatUint(d.Rate, 10)})
		}
	}
	return out, nil
}

// v2Settings are the io files of the v2 cgroup dir for b: weights on
// io.bfq.weight as they are when BFQ is there, else on io.weight scaled to
// its range; throttles as one io.max line per device, "MAJ:MIN rbps=N
// wbps=N riops=N wiops=N" with the keys set, "max" for a rate of 0 (no
// cap). cgroup v2 has no leaf weights.
func (b *BlockIO) v2Settings(dir string) ([]setting, error) {
	if b.LeafWeight != 0 || b.hasDeviceLeafWeight() {
		return nil, fmt.Errorf("Resources.BlockIO.LeafWeight: cgroup v2 has no leaf weights (it has no I/O of a cgroup's own to weigh against its children's)")
	}
	var out []setting
	if b.Weight != 0 || b.hasDeviceWeight() {
		file, scale := filepath.Join(dir, "io.bfq.weight"), func(w uint16) uint16 { return w }
		if !exists(file) {
			file, scale = filepath.Join(dir, "io.weight"), blkioToIOWeight
			if !exists(file) {
				field := "Resources.BlockIO.Weight"
				if b.Weight == 0 {
					field = "Resources.BlockIO.WeightDevice"
				}
				return nil, fmt.Errorf("%s: no proportional-weight I/O scheduler: %s has neither io.bfq.weight (BFQ) nor io.weight (io.cost)", field, dir)
			}
		}
		if b.Weight != 0 {
			out = append(out, setting{"Resources.BlockIO.Weight", file, "default " + strconv.Itoa(int(scale(b.Weight)))})
		}
		for i, d := range b.WeightDevice {
			if d.Weight != 0 {
				out = append(out, setting{fmt.Sprintf("Resources.BlockIO.WeightDevice[%d].Weight", i), file,
					devNum(d.Major, d.Minor) + " " + strconv.Itoa(int(scale(d.Weight)))})
			}
		}
	}
	// One line per device, its keys in a fixed order; devices in the
	// order they first appear.
	type line struct {
		dev    string
		fields []string
		keys   []string
	}
	var lines []*line
	byDev := map[string]*line{}
	for _, t := range b.throttles() {
		for i, d := range t.devs {
			dev := devNum(d.Major, d.Minor)
			l := byDev[dev]
			if l == nil {
				l = &line{dev: dev}
				byDev[dev] = l
				lines = append(lines, l)
			}
			rate := "max"
			if d.Rate != 0 {
				rate = strconv.FormatUint(d.Rate, 10)
			}
			l.keys = append(l.keys, t.v2+"="+rate)
			l.fields = append(l.fields, fmt.Sprintf("Resources.BlockIO.%s[%d]", t.field, i))
		}
	}
	for _, l := range lines {
		out = append(out, setting{strings.Join(l.fields, ", "), filepath.Join(dir, "io.max"), l.dev + " " + strings.Join(l.keys, " ")})
	}
	return out, nil
}

func (b *BlockIO) hasDeviceWeight() bool {
	for _, d := range b.WeightDevice {
		if d.Weight != 0 {
			return true
		}
	}
	return false
}

func (b *BlockIO) hasDeviceLeafWeight() bool {
	for _, d := range b.WeightDevice {
		if d.LeafWeight != 0 {
			return true
		}
	}
	return false
}

// blkioToIOWeight maps a v1 weight [10, 1000] linearly onto v2's io.weight
// [1, 10000], the conversion runc and crun use.
func blkioToIOWeight(w uint16) uint16 {
	if w == 0 {
		return 0
	}
	w = min(max(w, MinBlkioWeight), MaxBlkioWeight)
	return uint16(1 + (uint32(w)-MinBlkioWeight)*9999/(MaxBlkioWeight-MinBlkioWeight))
}
