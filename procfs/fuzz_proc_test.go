package procfs

import (
	"testing"
)

// More parsers of /proc text: none may panic, and what they accept must be
// consistent. Seeds live in testdata/fuzz/.

func FuzzSockstat(f *testing.F) {
	f.Add("sockets: used 290\nTCP: inuse 5 orphan 0 tw 2 alloc 7 mem 1\nUDP: inuse 2 mem 0\n")
	f.Fuzz(func(t *testing.T, text string) {
		s, err := parseSockstat(text)
		if err != nil && s != (Sockstat{}) {
			t.Fatalf("error %v with counts %+v", err, s)
		}
		_ = s.TCPMemBytes()
	})
}

// FuzzProcMem covers the "Key: N kB" format of smaps_rollup and status.
func FuzzProcMem(f *testing.F) {
	f.Add("00400000-7fff0000 ---p 00000000 00:00 0 [rollup]\nRss: 1024 kB\nPss: 512 kB\nPss_Anon: 256 kB\n")
	f.Add("Name:\tcat\nVmRSS:\t  2048 kB\nRssAnon:\t 1024 kB\nVmSwap: 0 kB\n")
	f.Fuzz(func(t *testing.T, text string) {
		m := parseSmapsRollup(text)
		if m.FromStatus {
			t.Fatal("smaps_rollup parsed as status")
		}
		s := parseStatusMem(text)
		if !s.FromStatus || s.Pss != 0 {
			t.Fatalf("status parse set smaps-only fields: %+v", s)
		}
		for k, v := range parseKeyValues(text) {
			if k == "" && v != 0 {
				_ = v // an empty key is allowed ("  : 5"); only no panic matters
			}
		}
	})
}

func FuzzLimits(f *testing.F) {
	f.Add("Limit                     Soft Limit           Hard Limit           Units     \nMax open files            1024                 20000                files     \nMax nice priority         0                    0                    \nMax stack size            8388608              unlimited            bytes     \n")
	f.Fuzz(func(t *testing.T, text string) {
		limits, err := parseLimits(text)
		if err != nil {
			if limits != nil {
				t.Fatalf("error %v with limits", err)
			}
			return
		}
		if len(limits) == 0 {
			t.Fatal("no error but no limits")
		}
	})
}

// FuzzSwitches covers the context-switch lines of /proc/PID/task/TID/status.
func FuzzSwitches(f *testing.F) {
	f.Add("Name:\tx\nvoluntary_ctxt_switches:\t17\nnonvoluntary_ctxt_switches:\t4\n")
	f.Fuzz(func(t *testing.T, text string) {
		s, err := parseSwitches(text)
		if err != nil && s != (Switches{}) {
			t.Fatalf("error %v with counts %+v", err, s)
		}
		_ = s.Total()
	})
}
