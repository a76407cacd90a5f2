package seccomp

import "sync"

//go:generate go run gen_syscalls.go
//go:generate go run gen_default.go

// syscallEntry is one call of an architecture's table.
type syscallEntry struct {
	name string
	nr   uint32
}

// syscallTable is one architecture's calls, sorted by name (generated into
// zsyscalls.go), and the largest number it knows: numbers above it are
// calls newer than the table, answered ENOSYS.
type syscallTable struct {
	max   uint32
	calls []syscallEntry

	once   sync.Once
	byName map[string]uint32
}

// lookup returns the number of the call named name. The map is built on
// first use, so a program that never compiles pays nothing at start.
func (t *syscallTable) lookup(name string) (uint32, bool) {
	t.once.Do(func() {
		t.byName = make(map[string]uint32, len(t.calls))
		for _, e := range t.calls {
			t.byName[e.name] = e.nr
		}
	})
	nr, ok := t.byName[name]
	return nr, ok
}
