package epoll

import (
	"c1m/core"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// encodeFrames is the byte stream the acceptor writes for hs.
func encodeFrames(hs []Handoff) []byte {
	b := make([]byte, len(hs)*FrameSize)
	for i, h := range hs {
		PutFrame(b[i*FrameSize:], h)
	}
	return b
}

// decodeChunks feeds b to one decoder cut at the given offsets (ascending,
// within b) and returns every hand-off emitted and the first error.
func decodeChunks(b []byte, cuts []int) ([]Handoff, int, error) {
	var d FrameDecoder
	var got []Handoff
	emit := func(h Handoff) { got = append(got, h) }
	prev := 0
	for _, c := range append(cuts, len(b)) {
		if err := d.Feed(b[prev:c], emit); err != nil {
			return got, d.Pending(), err
		}
		prev = c
	}
	return got, d.Pending(), nil
}

func sampleHandoffs() []Handoff {
	return []Handoff{
		{FD: 0, AcceptedNs: 0},
		{FD: 3, AcceptedNs: 1},
		{FD: 1<<31 - 1, AcceptedNs: -1},
		{FD: 19999, AcceptedNs: 1 << 62},
		{FD: 10, AcceptedNs: 123456789},
	}
}

func TestFrameRoundTripGlued(t *testing.T) {
	t.Parallel()
	hs := sampleHandoffs()
	got, pending, err := decodeChunks(encodeFrames(hs), nil)
	require.NoError(t, err)
	assert.Equal(t, hs, got)
	assert.Zero(t, pending)
}

func TestFrameSplitAtEveryOffset(t *testing.T) {
	t.Parallel()
	hs := sampleHandoffs()
	b := encodeFrames(hs)
	for i := 0; i <= len(b); i++ {
		for j := i; j <= len(b); j++ {
			got, pending, err := decodeChunks(b, []int{i, j})
			require.NoError(t, err, "cuts %d,%d", i, j)
			require.Equal(t, hs, got, "cuts %d,%d", i, j)
			require.Zero(t, pending)
		}
	}
}

func TestFrameByteByByte(t *testing.T) {
	t.Parallel()
	hs := sampleHandoffs()
	b := encodeFrames(hs)
	cuts := make([]int, 0, len(b))
	for i := 1; i < len(b); i++ {
		cuts = append(cuts, i)
	}
	got, _, err := decodeChunks(b, cuts)
	require.NoError(t, err)
	assert.Equal(t, hs, got)
}

func TestFramePartialIsHeldBack(t *testing.T) {
	t.Parallel()
	var d FrameDecoder
	b := encodeFrames(sampleHandoffs()[:2])
	var got []Handoff
	emit := func(h Handoff) { got = append(got, h) }
	require.NoError(t, d.Feed(b[:FrameSize+5], emit))
	assert.Len(t, got, 1)
	assert.Equal(t, 5, d.Pending())
	require.NoError(t, d.Feed(b[FrameSize+5:], emit))
	assert.Len(t, got, 2)
	assert.Zero(t, d.Pending())
	require.NoError(t, d.Feed(nil, emit))
	assert.Len(t, got, 2)
}

func TestFrameCorruptIsAnError(t *testing.T) {
	t.Parallel()
	good := encodeFrames([]Handoff{{FD: 7, AcceptedNs: 9}})
	negative := encodeFrames([]Handoff{{FD: -1}})
	reserved := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(reserved[4:8], 1)
	for name, bad := range map[string][]byte{"negative fd": negative, "reserved bytes": reserved} {
		stream := append(append([]byte(nil), good...), bad...)
		// Whole, and split inside the bad frame: one good hand-off, then an error.
		for _, cuts := range [][]int{nil, {FrameSize + 3}, {3, FrameSize + 9}} {
			got, _, err := decodeChunks(stream, cuts)
			assert.Error(t, err, "%s %v", name, cuts)
			assert.Equal(t, []Handoff{{FD: 7, AcceptedNs: 9}}, got, "%s %v", name, cuts)
		}
	}
}

// FuzzFrameDecoder (make fuzz): arbitrary bytes in arbitrary chunks never
// panic and decode exactly as the same bytes fed whole; hand-offs built from
// the input, encoded and split anywhere decode to exactly those hand-offs.
func FuzzFrameDecoder(f *testing.F) {
	f.Add(encodeFrames(sampleHandoffs()), []byte{1, 15, 16, 17, 40})
	f.Add([]byte{}, []byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, []byte{2})
	f.Add(make([]byte, 3*FrameSize+1), []byte{0, 0, 47})
	f.Fuzz(func(t *testing.T, data, cutBytes []byte) {
		cuts := cutsOf(cutBytes, len(data))

		// 1. Raw bytes: chunked decoding equals whole decoding, error and all.
		wholeGot, wholePending, wholeErr := decodeChunks(data, nil)
		got, pending, err := decodeChunks(data, cuts)
		if (err == nil) != (wholeErr == nil) {
			t.Fatalf("chunked err %v, whole err %v", err, wholeErr)
		}
		if !equalHandoffs(got, wholeGot) {
			t.Fatalf("chunked %v, whole %v", got, wholeGot)
		}
		if err == nil && (pending != wholePending || pending != len(data)%FrameSize) {
			t.Fatalf("pending %d (whole %d) for %d bytes", pending, wholePending, len(data))
		}

		// 2. Valid frames made from the input: exactly the hand-offs encoded.
		var hs []Handoff
		for b := data; len(b) >= 12; b = b[12:] {
			hs = append(hs, Handoff{
				FD:         int32(binary.LittleEndian.Uint32(b) & 0x7fffffff),
				AcceptedNs: int64(binary.LittleEndian.Uint64(b[4:])),
			})
		}
		stream := encodeFrames(hs)
		got, pending, err = decodeChunks(stream, cutsOf(cutBytes, len(stream)))
		if err != nil || pending != 0 || !equalHandoffs(got, hs) {
			t.Fatalf("valid stream: got %v (pending %d, err %v), want %v", got, pending, err, hs)
		}
	})
}

// cutsOf turns fuzz bytes into ascending cut offsets within [0, n].
func cutsOf(b []byte, n int) []int {
	var cuts []int
	at := 0
	for _, step := range b {
		at = min(at+int(step), n)
		cuts = append(cuts, at)
	}
	return cuts
}

func equalHandoffs(a, b []Handoff) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzSnapshotLine: whatever a prefork child writes on its report pipe,
// the parent's decode and aggregation (record, then Merge) never panic.
func FuzzSnapshotLine(f *testing.F) {
	for _, s := range []string{
		`{"conns":3,"accepted":5,"close_reasons":{"eof":2},"accept_errors":{"emfile":1},"dispatch_hist":{"lowestTrackableValue":1,"highestTrackableValue":60000000,"significantFigures":2,"counts":[0,4,1]}}`,
		`{"dispatch_hist":{"lowestTrackableValue":0,"highestTrackableValue":0,"significantFigures":0,"counts":[]}}`,
		`{"dispatch_hist":{"significantFigures":7,"counts":[-5]}}`, `{"workers":[{"id":1,"conns":2}]}`, `[]`, `{"conns":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var snap core.Snapshot
		if json.Unmarshal(line, &snap) != nil {
			return
		}
		var total core.Snapshot
		total.Merge(&snap)
		total.Merge(&snap)
	})
}
