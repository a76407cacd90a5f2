package executor

import (
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// asciiOnly reports whether s is all ASCII.
func asciiOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// FuzzParseSignal feeds --stop-signal, `kill` and state stop_signal
// values to ParseSignal.
//
// Properties: a signal is in 1..64; a number names itself; a name is
// ASCII and, upper-cased with a SIG prefix, is the signal's own name, so
// what a reader sees is what is sent; every signal's number and name
// parse back to it.
func FuzzParseSignal(f *testing.F) {
	for _, s := range []string{"SIGTERM", "term", " 15 ", "sigkill", "64", "65", "0", "-9", "+9", "SIG", "SIGRTMIN", "sig term"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sig, err := ParseSignal(s)
		if err != nil {
			return
		}
		if sig < 1 || sig > 64 {
			t.Fatalf("ParseSignal(%q) = %d, outside 1..64", s, sig)
		}
		trimmed := strings.TrimSpace(s)
		if n, err := strconv.Atoi(trimmed); err == nil {
			if unix.Signal(n) != sig {
				t.Fatalf("ParseSignal(%q) = %d", s, sig)
			}
		} else {
			if !asciiOnly(s) {
				t.Fatalf("ParseSignal(%q) = %v: a name spelled with non-ASCII letters", s, sig)
			}
			name := strings.ToUpper(trimmed)
			if !strings.HasPrefix(name, "SIG") {
				name = "SIG" + name
			}
			if unix.SignalName(sig) != name {
				t.Fatalf("ParseSignal(%q) = %v (%s)", s, sig, unix.SignalName(sig))
			}
		}
		for _, back := range []string{strconv.Itoa(int(sig)), unix.SignalName(sig)} {
			if back == "" {
				continue // a real-time signal has no name
			}
			if again, err := ParseSignal(back); err != nil || again != sig {
				t.Fatalf("ParseSignal(%q) = %v, %v; want %v", back, again, err, sig)
			}
		}
	})
}
