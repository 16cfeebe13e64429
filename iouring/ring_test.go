package iouring

import (
	"os"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The structs shared with the kernel have the ABI's sizes.
func TestABISizes(t *testing.T) {
	t.Parallel()
	assert.EqualValues(t, 64, unsafe.Sizeof(SQE{}))
	assert.EqualValues(t, 16, unsafe.Sizeof(CQE{}))
	assert.EqualValues(t, 120, unsafe.Sizeof(iouringParams{}))
}

// Trim gives back the pages of free buffers, keeping the last freed and
// never a page that a buffer in use or in the ring shares.
func TestBufRingTrimGivesBackColdPagesOnly(t *testing.T) {
	t.Parallel()
	if os.Getpagesize() != 4096 {
		t.Skip("the layout below assumes 4 KiB pages")
	}
	r, err := New(8, 16, 0)
	if err != nil {
		t.Skipf("io_uring unavailable: %v", err)
	}
	defer r.Close()
	b, err := NewBufRing(r, 16, 64, 2048) // two buffers a page
	require.NoError(t, err)
	defer b.Close()
	b.Refill(12) // bids 0-11 handed to the kernel: pages 0-5
	for bid := uint16(0); bid < 12; bid++ {
		b.Consumed() // as if a receive had used each
		b.At(bid)[0] = 1
	}
	for _, bid := range []uint16{0, 1, 2, 3, 5, 6, 7, 8, 9} { // 4, 10 and 11 stay in use
		b.Release(bid)
	}
	// Keep the last two freed (8, 9): cold are 0-3 and 5-7; whole pages of
	// cold buffers are 0 (bids 0-1), 1 (2-3) and 3 (6-7); page 2 holds bid 4.
	assert.Equal(t, 3*4096, b.Trim(2))
	for bid, want := range map[uint16]byte{0: 0, 3: 0, 6: 0, 7: 0, 4: 1, 5: 1, 8: 1, 9: 1, 10: 1} {
		assert.Equal(t, want, b.At(bid)[0], "buffer %d after the trim", bid)
	}
	assert.Zero(t, b.Trim(2), "trimmed pages not handed out since are not trimmed again")
	assert.Zero(t, b.Trim(64), "nothing free beyond keep")
}
