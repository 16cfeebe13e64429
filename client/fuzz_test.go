package client

import (
	"strings"
	"testing"
)

// FuzzParseSources: any -src must be refused or expand to at most
// maxSources valid addresses of one family per part, never panic or hang.
func FuzzParseSources(f *testing.F) {
	for _, s := range []string{
		"127.0.0.2-127.0.0.254", "127.1.0.0/24", "127.0.0.2,127.0.0.5-127.0.0.6,10.0.0.0/30",
		"::1", "fd00::1-fd00::ff", "fd00::/112", "10.0.0.0-10.0.255.255", "255.255.255.255/32",
		"fe80::1%eth0-fe80::3%eth1", "127.0.0.1-::1", "", ",,", "1.2.3.4/0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		got, err := ParseSources(spec)
		if err != nil {
			if got != nil {
				t.Fatalf("%q: error %v with addresses", spec, err)
			}
			return
		}
		if len(got) == 0 || len(got) > maxSources {
			t.Fatalf("%q: accepted with %d addresses", spec, len(got))
		}
		for _, a := range got {
			if !a.IsValid() {
				t.Fatalf("%q: invalid address in %v", spec, got[:min(len(got), 8)])
			}
		}
	})
}

// FuzzCountReserved: for any valid range and any list, the count is
// between 0 and the range's size (so Size never goes negative).
func FuzzCountReserved(f *testing.F) {
	for _, s := range []struct{ rng, list string }{
		{"32768 60999", ""}, {"40000 40099", "40000-40099,40000-40099"}, {"40000 40099", "39990-40009,40050"},
		{"1 65535", "1-65535"}, {"40000 40000", "40000"}, {"40000 40099", "x"}, {"40000 40099", "5-3"},
	} {
		f.Add(s.rng, s.list)
	}
	f.Fuzz(func(t *testing.T, rng, list string) {
		r, err := ParsePortRange(rng)
		if err != nil {
			return
		}
		n, err := r.CountReserved(list)
		if err != nil {
			return
		}
		if n < 0 || n > r.Hi-r.Lo+1 {
			t.Fatalf("range %d-%d, list %q: %d reserved", r.Lo, r.Hi, list, n)
		}
		if strings.TrimSpace(list) == "" && n != 0 {
			t.Fatalf("empty list: %d reserved", n)
		}
	})
}
