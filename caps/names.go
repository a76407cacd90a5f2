// Package caps holds the capability names and sets of berth tasks: the
// default set, cap_add/cap_drop resolution, the kernel bitmask of a set,
// and applying a set to the thread that is about to execve the task.
//
// Names, sets and masks are computed in the parent; Apply runs in the
// re-exec'd child.
package caps

import (
	"fmt"
	"strings"

	"github.com/moby/sys/capability"
)

// All is the pseudo-name that stands for every capability in cap_add and
// cap_drop.
const All = "ALL"

// Default is the default capability set of a task, names as "CAP_X". It is
// docker's default set without CAP_NET_RAW: raw sockets let a task forge
// packets on the host network, which berth uses unless told otherwise.
var Default = []string{
	"CAP_AUDIT_WRITE",
	"CAP_CHOWN",
	"CAP_DAC_OVERRIDE",
	"CAP_FOWNER",
	"CAP_FSETID",
	"CAP_KILL",
	"CAP_MKNOD",
	"CAP_NET_BIND_SERVICE",
	"CAP_SETFCAP",
	"CAP_SETGID",
	"CAP_SETPCAP",
	"CAP_SETUID",
	"CAP_SYS_CHROOT",
}

// known maps "CAP_X" to the capability number for every capability the
// capability library knows, whether or not the running kernel supports it.
var known = func() map[string]capability.Cap {
	m := make(map[string]capability.Cap)
	for _, c := range capability.ListKnown() {
		m[capName(c)] = c
	}
	return m
}()

// capName is the canonical "CAP_X" name of c.
func capName(c capability.Cap) string {
	return "CAP_" + strings.ToUpper(c.String())
}

// Normalize returns the canonical form of a capability name: "NET_RAW",
// "CAP_NET_RAW", "net_raw" and " cap_net_raw " all become "CAP_NET_RAW";
// "all" in any case becomes "ALL". A name the capability library does not
// know is an error.
func Normalize(name string) (string, error) {
	n := asciiUpper(strings.Trim(name, asciiSpace))
	if n == All {
		return All, nil
	}
	if !strings.HasPrefix(n, "CAP_") {
		n = "CAP_" + n
	}
	if _, ok := known[n]; !ok {
		return "", fmt.Errorf("unknown capability %q", name)
	}
	return n, nil
}

// lookup returns the capability number of name, given in any form Normalize
// accepts. "ALL" is not a single capability and is refused.
func lookup(name string) (capability.Cap, error) {
	n, err := Normalize(name)
	if err != nil {
		return 0, err
	}
	if n == All {
		return 0, fmt.Errorf("capability %q is not a single capability: resolve it with Compute", name)
	}
	return known[n], nil
}

// asciiSpace is the white space a name may carry around it.
const asciiSpace = " \t\n\v\f\r"

// asciiUpper upper-cases the ASCII letters of s and nothing else:
// strings.ToUpper also folds U+017F (long s) to 'S' and U+0131 (dotless i)
// to 'I', so "cap_\u017fys_admin" would grant CAP_SYS_ADMIN while a policy
// that matches names byte by byte sees no capability it knows.
func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b)
}
