package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Resources.Unified writes cgroup v2 files by name, for what berth has no
// field for (memory.high, memory.oom.group, io.latency, ...). They are
// written after every other field, so a key naming a file a field also
// writes (memory.max beside MemoryBytes) wins, as in runc: Kubernetes
// sets memory.swap.max that way beside a memory limit. The controller a
// key names is enabled for the cgroup as a field's would be.
//
// Refused are the files through which berth holds the task, where a
// value from a config would take it away from berth: which processes are
// in the cgroup (cgroup.procs, cgroup.threads: a write moves any process
// of the host in), whether the cgroup is frozen (cgroup.freeze: pause and
// resume, and a task frozen from its start would never reach exec), its
// end (cgroup.kill), its being a domain cgroup with its processes in it
// and controllers only below (cgroup.type, cgroup.subtree_control), and a
// cgroup.max.depth or cgroup.max.descendants of 0, which leaves no room
// for the cgroup an exec'd process goes in (leaf.go). runc writes all of
// them.
var unifiedRefused = map[string]string{
	"cgroup.procs":           "berth places the task's processes itself",
	"cgroup.threads":         "berth places the task's processes itself",
	"cgroup.freeze":          "berth freezes and thaws the task itself (pause, resume)",
	"cgroup.kill":            "berth kills the task itself",
	"cgroup.type":            "berth keeps the task's cgroup a domain cgroup",
	"cgroup.subtree_control": "berth keeps the task's processes in its cgroup, so no controller can be enabled below it",
}

// validateUnified checks each key names a file of the cgroup's own,
// "controller.file", and that berth leaves it to the caller.
func validateUnified(u map[string]string) error {
	for _, k := range sortedKeys(u) {
		field := "Resources.Unified[" + k + "]"
		if err := checkUnifiedKey(k); err != nil {
			return fmt.Errorf("%s: %w", field, err)
		}
		if why, ok := unifiedRefused[k]; ok {
			return fmt.Errorf("%s: refused: %s", field, why)
		}
		v := u[k]
		if strings.ContainsRune(v, 0) {
			return fmt.Errorf("%s: the value contains a NUL byte", field)
		}
		if (k == "cgroup.max.depth" || k == "cgroup.max.descendants") && strings.TrimSpace(v) == "0" {
			return fmt.Errorf("%s: refused: 0 leaves no room for the cgroup berth puts an exec'd process in", field)
		}
	}
	return nil
}

// checkUnifiedKey checks that k is a file name of the form
// controller.file: no '/' or ".." that would reach out of the task's
// cgroup, and a controller part the kernel could have.
func checkUnifiedKey(k string) error {
	if strings.Contains(k, "/") || strings.Contains(k, "..") {
		return errors.New("a file of the task's cgroup, not a path: no '/' or \"..\"")
	}
	controller, file, ok := strings.Cut(k, ".")
	if !ok || controller == "" || file == "" || strings.HasSuffix(file, ".") {
		return errors.New("want controller.file (\"memory.high\")")
	}
	for _, c := range controller {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return fmt.Errorf("controller %q: want lowercase letters, digits and '_'", controller)
		}
	}
	for _, c := range file {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return fmt.Errorf("file %q: want letters, digits, '_', '-' and '.'", file)
		}
	}
	return nil
}

// unifiedNeeds are the controllers Unified's keys name that the hierarchy
// at mount offers: enabled for the cgroup like a field's. A key whose
// prefix is no controller there (cgroup.*, cpu.pressure on a host whose
// cpu controller is on v1) needs nothing; its file must simply exist.
func unifiedNeeds(u map[string]string, mount string) []need {
	if len(u) == 0 {
		return nil
	}
	avail, _ := readFields(filepath.Join(mount, "cgroup.controllers"))
	var out []need
	for _, k := range sortedKeys(u) {
		controller, _, _ := strings.Cut(k, ".")
		if controller != "cgroup" && avail[controller] {
			out = addNeed(out, controller, "Resources.Unified["+k+"]")
		}
	}
	return out
}

// unifiedSettings are Unified's writes into the v2 cgroup dir, in key
// order. A file the cgroup lacks is an error naming the key and what the
// hierarchy offers.
func unifiedSettings(u map[string]string, dir, mount string) ([]setting, error) {
	var out []setting
	for _, k := range sortedKeys(u) {
		file := filepath.Join(dir, k)
		if !exists(file) {
			b, _ := os.ReadFile(filepath.Join(mount, "cgroup.controllers"))
			return nil, fmt.Errorf("Resources.Unified[%s]: no such file in %s (the controllers of %s: %q)", k, dir, mount, strings.TrimSpace(string(b)))
		}
		out = append(out, setting{"Resources.Unified[" + k + "]", file, u[k]})
	}
	return out, nil
}
