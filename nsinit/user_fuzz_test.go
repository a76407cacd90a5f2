package nsinit

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// FuzzUserDBLine feeds one line of a task's /etc/passwd and /etc/group,
// files the task owns, to their line parsers.
//
// Properties: an accepted entry has a name without ':' (and a group's
// members neither ':' nor ',' nor blanks around them), ids in
// 0..userMaxID and a home; printed back as a canonical line it parses to
// the same entry.
func FuzzUserDBLine(f *testing.F) {
	for _, s := range []string{"bob:x:1000:1000:Bob,,,:/home/bob:/bin/bash", "short:x:1001", "nohome:x:1002:1003:::",
		"huge:x:4294967296:0::/:/bin/sh", "staff:x:50: bob , carol,,", "users:x:100", " spaced:x: 7 :8", "a:x:-0:0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if p, ok := passwdParseLine(line); ok {
			switch {
			case p.name == "" || strings.Contains(p.name, ":"):
				t.Fatalf("passwd %q: name %q", line, p.name)
			case p.uid < 0 || p.uid > userMaxID || p.gid < 0 || p.gid > userMaxID:
				t.Fatalf("passwd %q: ids %d:%d", line, p.uid, p.gid)
			case p.home == "" || strings.Contains(p.home, ":"):
				t.Fatalf("passwd %q: home %q", line, p.home)
			}
			canon := fmt.Sprintf("%s:x:%d:%d:gecos:%s:/bin/sh", p.name, p.uid, p.gid, p.home)
			if again, ok := passwdParseLine(canon); !ok || again != p {
				t.Fatalf("passwd %q -> %+v -> %q -> %+v, %v", line, p, canon, again, ok)
			}
		}
		if g, ok := groupParseLine(line); ok {
			if g.name == "" || strings.Contains(g.name, ":") || g.gid < 0 || g.gid > userMaxID {
				t.Fatalf("group %q: %+v", line, g)
			}
			for _, m := range g.members {
				if m == "" || strings.ContainsAny(m, ":,") || strings.TrimSpace(m) != m {
					t.Fatalf("group %q: member %q", line, m)
				}
			}
			canon := fmt.Sprintf("%s:x:%d:%s", g.name, g.gid, strings.Join(g.members, ","))
			if again, ok := groupParseLine(canon); !ok || !reflect.DeepEqual(again, g) {
				t.Fatalf("group %q -> %+v -> %q -> %+v, %v", line, g, canon, again, ok)
			}
		}
	})
}

// FuzzLookupUser resolves --user specs against passwd and group files of
// the fuzzer's making, as the init stage does against the task's own.
//
// Properties: ids are 0..userMaxID; a numeric user is that uid; a named
// user is the first valid passwd entry of that name; an explicit group is
// the GID and among Groups; Groups is sorted, without duplicates, and
// holds only the explicit group and groups listing the user by name.
func FuzzLookupUser(f *testing.F) {
	dir := f.TempDir()
	passwd, group := filepath.Join(dir, "passwd"), filepath.Join(dir, "group")
	f.Add("bob", userTestPasswd, "wheel:x:10:bob,alice\nstaff:x:50: bob , carol,,\n")
	f.Add("1000:wheel", userTestPasswd, "wheel:x:10:bob\n")
	f.Add("", "root:x:0:5:root:/root:/bin/sh\n", "")
	f.Add("dup:50", userTestPasswd, "")
	f.Add("-1", "", "")
	f.Add("crlf", userTestPasswd, "")
	f.Add("+nisuser", userTestPasswd, "")
	f.Fuzz(func(t *testing.T, spec, passwdText, groupText string) {
		for file, text := range map[string]string{passwd: passwdText, group: groupText} {
			if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		u, err := LookupUser(spec, passwd, group)
		if err != nil {
			return
		}
		if u.UID < 0 || u.UID > userMaxID || u.GID < 0 || u.GID > userMaxID || u.Home == "" {
			t.Fatalf("LookupUser(%q) = %+v", spec, u)
		}
		if !slices.IsSorted(u.Groups) || len(slices.Compact(slices.Clone(u.Groups))) != len(u.Groups) {
			t.Fatalf("LookupUser(%q): groups %v not sorted or with duplicates", spec, u.Groups)
		}
		userPart, groupPart, hasGroup := strings.Cut(spec, ":")
		if spec != "" {
			if id, err := strconv.Atoi(userPart); err == nil {
				if u.UID != id {
					t.Fatalf("LookupUser(%q): uid %d", spec, u.UID)
				}
			} else {
				var first *passwdEntry
				_ = userReadLines(strings.NewReader(passwdText), func(line string) bool {
					if e, ok := passwdParseLine(line); ok && e.name == userPart {
						first = &e
						return false
					}
					return true
				})
				if first == nil || u.Name != userPart || u.UID != first.uid || u.Home != first.home || !hasGroup && u.GID != first.gid {
					t.Fatalf("LookupUser(%q) = %+v; passwd's first entry %+v", spec, u, first)
				}
			}
		}
		var groups []groupEntry
		_ = userReadLines(strings.NewReader(groupText), func(line string) bool {
			if e, ok := groupParseLine(line); ok {
				groups = append(groups, e)
			}
			return true
		})
		if hasGroup {
			if !slices.Contains(u.Groups, u.GID) {
				t.Fatalf("LookupUser(%q): group %d not among %v", spec, u.GID, u.Groups)
			}
			if id, err := strconv.Atoi(groupPart); err == nil && id != u.GID {
				t.Fatalf("LookupUser(%q): gid %d", spec, u.GID)
			}
		}
		for _, g := range u.Groups {
			member := hasGroup && g == u.GID
			for _, e := range groups {
				member = member || e.gid == g && u.Name != "" && slices.Contains(e.members, u.Name)
			}
			if !member {
				t.Fatalf("LookupUser(%q): group %d in %v, which neither the spec nor the group file gives", spec, g, u.Groups)
			}
		}
	})
}
