package executor

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ParseSignal reads a signal as "SIGTERM", "TERM", "term" or "15".
func ParseSignal(s string) (unix.Signal, error) {
	// ASCII only: strings.ToUpper would take "\u017figkill" for SIGKILL.
	t := strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' {
			return r - ('a' - 'A')
		}
		return r
	}, strings.Trim(s, " \t\n\v\f\r"))
	if n, err := strconv.Atoi(t); err == nil {
		if n > 0 && n < 65 {
			return unix.Signal(n), nil
		}
		return 0, fmt.Errorf("unknown signal %q", s)
	}
	if !strings.HasPrefix(t, "SIG") {
		t = "SIG" + t
	}
	if sig := unix.SignalNum(t); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}
