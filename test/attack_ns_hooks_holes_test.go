//go:build attackholes

package test

// Attacks of issue 10's pass that still get through: each fails on the
// current code. Run them with -tags attackholes.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAttackNSPtraceExecHelper: a container granted CAP_SYS_PTRACE (no
// user namespace: docker --cap-add SYS_PTRACE) lies in wait for the exec
// helper of a `berth-oci exec` (a health check, kubectl exec): born in
// the container's pid namespace, the helper is the host's root with every
// capability, in the host's mount namespace, and dumpable from its fork
// until its first setup step. PTRACE_SEIZE'd then, it is made to create a
// file in a root-only host directory.
func TestAttackNSPtraceExecHelper(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	bin := nsAttackBin(t)
	read, rootOnly := hostBait(t)
	shared := t.TempDir()
	planted := filepath.Join(rootOnly, "planted")
	bundle := atkBundle(t, tk, func(cfg map[string]any, _ string) {
		setCaps(cfg, "CAP_SYS_PTRACE", "CAP_KILL")
		attackMounts(cfg, bin, shared)
		// The attack reads ns_last_pid.
		cfgLinux(cfg)["readonlyPaths"] = []string{}
	}, "/a/nsattack", "catch", "seize", "/shared/out", read, planted)
	for _, d := range []string{"a", "shared"} {
		must(t, os.Mkdir(filepath.Join(bundle, "rootfs", d), 0o755))
	}
	log := catchExecHelper(t, tk, bundle, shared, 20, nil)
	if _, err := os.Lstat(planted); err == nil || strings.Contains(log, "host-only-bait") {
		t.Errorf("the container took over an exec helper (the host's root, in the host's mount namespace):\n%s", log)
	}
	t.Logf("attack log:\n%s", log)
}
