package main

import (
	"bytes"
	"path"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/berthrun/berth/mounts"
)

// FuzzParseMount feeds --mount values to parseMount, and what it accepts
// to the destination check the library applies next.
//
// Properties: both paths are non-empty and hold no ':'; printed back as
// SRC:DST[:ro] the spec parses to the same Mount; a destination the
// library takes is absolute, clean, has no ".." and is not the root.
func FuzzParseMount(f *testing.F) {
	for _, s := range []string{"/src:/dst", "/src:/dst:ro", "/src:/dst:rw", "/a:/b:RO", "a::ro", ":/b", "/a:/b:ro:x", "/a:/../etc", "/a:/x/..", "/a://"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseMount(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "--mount ") {
				t.Fatalf("parseMount(%q): %q does not name the flag", s, err)
			}
			return
		}
		if m.Source == "" || m.Destination == "" || strings.Contains(m.Source+m.Destination, ":") {
			t.Fatalf("parseMount(%q) = %+v", s, m)
		}
		spec := m.Source + ":" + m.Destination
		if m.ReadOnly {
			spec += ":ro"
		}
		if again, err := parseMount(spec); err != nil || again != m {
			t.Fatalf("parseMount(%q) = %+v -> %q -> %+v, %v", s, m, spec, again, err)
		}
		dest, err := mounts.CleanDest(m.Destination)
		if err != nil {
			return
		}
		if !path.IsAbs(dest) || path.Clean(dest) != dest || dest == "/" || strings.Contains("/"+dest+"/", "/../") {
			t.Fatalf("CleanDest(%q) = %q", m.Destination, dest)
		}
	})
}

// FuzzLastLines feeds a task's log (its own output) and a line count to
// lastLines, which `berth logs --tail` prints.
//
// Property: the result is the last n lines of the log, a line being text
// up to and including a newline, the last one possibly without.
func FuzzLastLines(f *testing.F) {
	f.Add([]byte("a\nb\nc\n"), uint16(2))
	f.Add([]byte("a\nb\nc"), uint16(1))
	f.Add([]byte("\n\n\n"), uint16(0))
	f.Add([]byte(""), uint16(3))
	f.Fuzz(func(t *testing.T, b []byte, n uint16) {
		got := lastLines(b, int(n))
		lines := strings.SplitAfter(string(b), "\n")
		if lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		want := strings.Join(lines[len(lines)-min(int(n), len(lines)):], "")
		if string(got) != want || !bytes.HasSuffix(b, got) {
			t.Fatalf("lastLines(%q, %d) = %q, want %q", b, n, got, want)
		}
	})
}

// FuzzPrintable feeds a task's command lines and user names to printable,
// which keeps them from steering the caller's terminal in `berth ps`.
//
// Properties: no control, format or line/paragraph separator character
// comes out; every other character comes out unchanged, one for one; a
// second pass changes nothing.
func FuzzPrintable(f *testing.F) {
	for _, s := range []string{"sleep 100", "\x1b]0;owned\x07", "a\rb\tc\x7f", "\u202eevil\u2066", "\xff\xfe\u2028", "caf\u00e9 \u0085"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p := printable(s)
		if printable(p) != p {
			t.Fatalf("printable(%q) = %q is not stable", s, p)
		}
		in := []rune(s)
		out := []rune(p)
		if len(in) != len(out) || utf8.RuneCountInString(p) != len(out) {
			t.Fatalf("printable(%q) = %q: %d runes from %d", s, p, len(out), len(in))
		}
		for i, r := range out {
			bad := unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.In(r, unicode.Zl, unicode.Zp)
			if bad {
				t.Fatalf("printable(%q) = %q keeps %U", s, p, r)
			}
			if r != in[i] && r != '?' {
				t.Fatalf("printable(%q) = %q changes %U into %U", s, p, in[i], r)
			}
		}
	})
}
