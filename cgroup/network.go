package cgroup

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Network classes and priorities (net_cls, net_prio) exist on cgroup v1
// only: cgroup v2 classifies traffic with BPF programs on the cgroup
// instead, and has no files for them. RDMA limits (rdma.max) have the
// same file on both.

// validateNetwork checks interface and device names: each is one word of
// a line the kernel parses ("eth0 5", "mlx5_0 hca_handle=2"), so a space
// or a newline in it would write another rule.
func (r Resources) validateNetwork() error {
	seen := map[string]bool{}
	for i, p := range r.NetPriorities {
		field := fmt.Sprintf("Resources.NetPriorities[%d]", i)
		if err := checkWord(p.Interface, 15); err != nil { // IFNAMSIZ-1
			return fmt.Errorf("%s: interface %q: %w", field, p.Interface, err)
		}
		if seen[p.Interface] {
			return fmt.Errorf("%s: interface %s given twice", field, p.Interface)
		}
		seen[p.Interface] = true
	}
	for _, dev := range sortedKeys(r.RDMA) {
		l := r.RDMA[dev]
		field := fmt.Sprintf("Resources.RDMA[%s]", dev)
		if err := checkWord(dev, 63); err != nil { // IB_DEVICE_NAME_MAX-1
			return fmt.Errorf("Resources.RDMA: device %q: %w", dev, err)
		}
		if l.HcaHandles == nil && l.HcaObjects == nil {
			return fmt.Errorf("%s: neither HcaHandles nor HcaObjects is set", field)
		}
	}
	return nil
}

// checkWord checks a name that goes into a kernel rule line.
func checkWord(s string, maxLen int) error {
	switch {
	case s == "":
		return errors.New("empty")
	case len(s) > maxLen:
		return fmt.Errorf("longer than %d bytes", maxLen)
	case strings.ContainsAny(s, " \t\n\x00/:="):
		return errors.New("contains a space, newline, NUL, '/', ':' or '='")
	}
	return nil
}

// networkSettings are the net_cls and net_prio files for r, in the v1
// cgroups dirs maps by controller.
func networkSettings(r Resources, dirs map[string]string) []setting {
	var out []setting
	if r.NetClassID != nil {
		out = append(out, setting{"Resources.NetClassID", filepath.Join(dirs["net_cls"], "net_cls.classid"), strconv.FormatUint(uint64(*r.NetClassID), 10)})
	}
	for i, p := range r.NetPriorities {
		out = append(out, setting{fmt.Sprintf("Resources.NetPriorities[%d]", i), filepath.Join(dirs["net_prio"], "net_prio.ifpriomap"),
			p.Interface + " " + strconv.FormatUint(uint64(p.Priority), 10)})
	}
	return out
}

// rdmaSettings are the rdma.max lines of dir for r: "<device>
// hca_handle=N hca_object=N", with a limit not set left out (the kernel
// keeps what the device had, "max" for a new one).
func rdmaSettings(r Resources, dir string) []setting {
	var out []setting
	for _, dev := range sortedKeys(r.RDMA) {
		l := r.RDMA[dev]
		line := dev
		if l.HcaHandles != nil {
			line += " hca_handle=" + strconv.FormatUint(uint64(*l.HcaHandles), 10)
		}
		if l.HcaObjects != nil {
			line += " hca_object=" + strconv.FormatUint(uint64(*l.HcaObjects), 10)
		}
		out = append(out, setting{"Resources.RDMA[" + dev + "]", filepath.Join(dir, "rdma.max"), line})
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
