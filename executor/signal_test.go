package executor

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseSignal(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want unix.Signal
	}{
		{"SIGTERM", unix.SIGTERM},
		{"TERM", unix.SIGTERM},
		{"term", unix.SIGTERM},
		{"15", unix.SIGTERM},
		{" 15 ", unix.SIGTERM},
		{"sigkill", unix.SIGKILL},
		{"SigHup", unix.SIGHUP},
		{"usr1", unix.SIGUSR1},
		{"9", unix.SIGKILL},
		{"1", unix.SIGHUP},
		{"64", unix.Signal(64)},
	} {
		got, err := ParseSignal(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseSignalInvalid(t *testing.T) {
	for _, in := range []string{"FOO", "0", "99", "65", "-9", "", "SIG", "SIG15", "sig term", "1.5"} {
		got, err := ParseSignal(in)
		if err == nil {
			t.Errorf("ParseSignal(%q) = %v, want an error", in, got)
			continue
		}
		if want := `unknown signal "` + in + `"`; err.Error() != want {
			t.Errorf("ParseSignal(%q) error = %q, want %q", in, err, want)
		}
	}
}
