package executor

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/berthrun/berth/nsinit"
)

// FuzzUserSpec holds the parent's check of a --user spec (checkUser) to
// the child's resolution of it (nsinit.LookupUser), against passwd and
// group files of the fuzzer's making.
//
// Property: the parent never refuses a spec the child would have taken
// (and whatever the child takes it resolves to ids in 0..2^31-2), so a
// Command the library refuses could not have run.
func FuzzUserSpec(f *testing.F) {
	dir := f.TempDir()
	passwd, group := filepath.Join(dir, "passwd"), filepath.Join(dir, "group")
	f.Add("bob", "bob:x:1000:1000::/home/bob:/bin/sh\n", "wheel:x:10:bob\n")
	f.Add("1000:wheel", "", "wheel:x:10:bob\n")
	f.Add("-1", "", "")
	f.Add("2147483647:0", "", "")
	f.Add("99999999999999999999", "99999999999999999999:x:1:1::/:/bin/sh\n", "")
	f.Add("+5", "+5:x:1:1::/:/bin/sh\n", "")
	f.Add("a:b:c", "a:x:1:1::/:/bin/sh\n", "b:x:2:\n")
	f.Fuzz(func(t *testing.T, spec, passwdText, groupText string) {
		for file, text := range map[string]string{passwd: passwdText, group: groupText} {
			if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		u, err := nsinit.LookupUser(spec, passwd, group)
		if err != nil {
			return
		}
		if u.UID < 0 || u.UID > 1<<31-2 || u.GID < 0 || u.GID > 1<<31-2 {
			t.Fatalf("LookupUser(%q) = %+v: ids out of range", spec, u)
		}
		if cerr := checkUser(spec); cerr != nil {
			t.Fatalf("checkUser(%q): %v; but the child resolves it to %+v", spec, cerr, u)
		}
	})
}
