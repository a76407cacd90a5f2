package executor

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/berthrun/berth/nsinit"
	"golang.org/x/sys/unix"
)

// ipcSysctls are the kernel parameters of an ipc namespace.
var ipcSysctls = map[string]bool{
	"kernel.msgmax": true, "kernel.msgmnb": true, "kernel.msgmni": true, "kernel.sem": true,
	"kernel.shmall": true, "kernel.shmmax": true, "kernel.shmmni": true, "kernel.shm_rmid_forced": true,
}

var sysctlKey = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$`)

// checkSysctls refuses a kernel parameter that is not the task's own: one
// of a namespace the task shares with the host would change the host's.
func checkSysctls(m map[string]string, iso Isolation) ([]nsinit.Sysctl, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []nsinit.Sysctl
	for _, k := range keys {
		v := m[k]
		if !sysctlKey.MatchString(k) {
			return nil, fmt.Errorf("sysctl %q: not a kernel parameter's name", k)
		}
		if strings.ContainsAny(v, "\x00") {
			return nil, fmt.Errorf("sysctl %s: value contains a NUL byte", k)
		}
		var ns, mode string
		switch {
		case ipcSysctls[k] || strings.HasPrefix(k, "fs.mqueue."):
			ns, mode = "ipc", iso.IPC
		case strings.HasPrefix(k, "net."):
			ns, mode = "network", iso.Net
			if mode == ModeNone {
				mode = ModePrivate
			}
		case k == "kernel.hostname" || k == "kernel.domainname":
			ns, mode = "uts", iso.UTS
		default:
			return nil, fmt.Errorf("sysctl %s: not a parameter of the task's own namespaces: it would change the host's", k)
		}
		joined := map[string]string{"ipc": iso.IPCPath, "network": iso.NetPath, "uts": iso.UTSPath}[ns]
		switch {
		case joined != "":
			// A namespace joined by path is the task's only if it is not
			// berth's own (the host's).
			if sameNamespace(joined, ns) {
				return nil, fmt.Errorf("sysctl %s: the %s namespace joined (%s) is the host's: it would change the host's", k, ns, joined)
			}
		case mode != "" && mode != ModePrivate || ns == "network" && iso.Net != ModeNone:
			return nil, fmt.Errorf("sysctl %s: needs a private %s namespace: it would change the host's", k, ns)
		}
		out = append(out, nsinit.Sysctl{Key: k, Value: v})
	}
	return out, nil
}

// sameNamespace reports whether the namespace file at path is this
// process's own namespace of kind ns (or cannot be told apart from it).
func sameNamespace(path, ns string) bool {
	own := map[string]string{"ipc": "ipc", "network": "net", "uts": "uts"}[ns]
	var a, b unix.Stat_t
	if unix.Stat(path, &a) != nil || unix.Stat("/proc/self/ns/"+own, &b) != nil {
		return true
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}
