package client

import (
	"encoding/json"
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

// FuzzParsePortRange: an accepted net.ipv4.ip_local_port_range is an
// ordered range of valid ports with a positive size.
func FuzzParsePortRange(f *testing.F) {
	for _, s := range []string{"32768\t60999\n", "1 65535", "40000 40000", "60999 32768", "0 10", "1 65536", " 5  6 ", "x y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParsePortRange(s)
		if err != nil {
			return
		}
		if r.Lo < 1 || r.Lo > r.Hi || r.Hi > 65535 || r.Size() < 1 {
			t.Fatalf("%q: accepted %+v", s, r)
		}
	})
}

// FuzzChildLine: whatever a child process writes on its report pipe, the
// parent decodes and merges it without panicking.
func FuzzChildLine(f *testing.F) {
	for _, s := range []string{
		`{"progress":{"attempted":3,"open":2,"failed":{"ECONNREFUSED":1},"dropped":{"EOF":1},"ramp_done":true}}`,
		`{"result":{"attempted":3,"established":3,"failed":{},"dropped":{},"ended":"hold done","rtt_hist":{"lowestTrackableValue":1,"highestTrackableValue":60000000,"significantFigures":2,"counts":[0,1,2]}}}`,
		`{"error":"bad job"}`, `{"result":{"rtt_hist":{"significantFigures":9,"counts":[-1]}}}`, `null`, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var l childLine
		if json.Unmarshal(line, &l) != nil {
			return
		}
		var p Progress
		if l.Progress != nil {
			p.add(l.Progress)
		}
		if l.Result != nil {
			res := Result{Failed: map[string]int64{}, Dropped: map[string]int64{}}
			res.merge(l.Result)
			res.merge(l.Result)
			res.summarise()
		}
	})
}
