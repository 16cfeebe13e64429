package procfs

import (
	"testing"
)

// The fuzz targets check that the text parsers never panic on any input and
// that what they accept is consistent. Seeds live in testdata/fuzz/.

func FuzzMeminfo(f *testing.F) {
	f.Fuzz(func(t *testing.T, text string) {
		m, err := parseMeminfo(text)
		if err == nil && len(m) == 0 {
			t.Fatal("no error but no values")
		}
	})
}

func FuzzSlabinfo(f *testing.F) {
	f.Fuzz(func(t *testing.T, text string) {
		slabs, err := parseSlabinfo(text)
		if err != nil {
			return
		}
		for _, s := range slabs {
			if s.Name == "" {
				t.Fatal("cache without a name")
			}
			_ = s.Bytes()
		}
		_ = SlabBytes(slabs, SocketCaches)
	})
}

func FuzzStat(f *testing.F) {
	f.Fuzz(func(t *testing.T, text string) {
		user, system, err := parseStatCPU(text)
		if err == nil && (user < 0 || system < 0) {
			t.Fatalf("negative CPU time %v %v", user, system)
		}
	})
}

func FuzzHostCPU(f *testing.F) {
	f.Add("cpu  571615 122079 1360076 2994784 2963 0 351158 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n")
	f.Add("cpu  1 2 3 4 5 6 7 8 9 10\nintr 1 0\nctxt 9876543\nbtime 1700000000\n")
	f.Fuzz(func(t *testing.T, text string) {
		cpu, err := parseHostCPU(text)
		if err == nil && (cpu.Busy < 0 || cpu.Softirq < 0 || cpu.Softirq > cpu.Busy || cpu.User < 0 || cpu.User > cpu.Busy ||
			cpu.System < 0 || cpu.System > cpu.Busy) {
			t.Fatalf("impossible CPU times %+v", cpu)
		}
	})
}

func FuzzPortList(f *testing.F) {
	f.Fuzz(func(t *testing.T, text string) {
		spans, err := ParsePortList(text)
		if err != nil {
			return
		}
		for _, s := range spans {
			if s.Lo < 0 || s.Lo > s.Hi || s.Hi > 65535 {
				t.Fatalf("invalid span %+v from %q", s, text)
			}
		}
	})
}
