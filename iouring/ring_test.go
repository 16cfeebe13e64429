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

// Buffers go out lowest id first, and Trim gives back the pages of free
// buffers, keeping the lowest free ones and never a page that a buffer in
// use or in the ring shares.
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
	for _, bid := range []uint16{9, 0, 1, 2, 3, 5, 6, 7, 8} { // 4, 10 and 11 stay in use
		b.Release(bid)
	}
	// Keep the lowest two free (0, 1: page 0); pages 1 (bids 2-3), 3 (6-7)
	// and 4 (8-9) are wholly free; page 2 holds bid 4, page 5 bids 10-11.
	assert.Equal(t, 3*4096, b.Trim(2))
	for bid, want := range map[uint16]byte{0: 1, 1: 1, 2: 0, 3: 0, 4: 1, 5: 1, 6: 0, 7: 0, 8: 0, 9: 0, 10: 1} {
		assert.Equal(t, want, b.At(bid)[0], "buffer %d after the trim", bid)
	}
	assert.Zero(t, b.Trim(2), "pages not handed out since are not given back again")
	b.Refill(3)
	for bid := 0; bid < 8; bid++ {
		assert.Equal(t, bid == 3 || bid >= 5, b.isFree(bid), "the lowest free buffers go out first: 0, 1, 2 (buffer %d)", bid)
	}
	assert.Zero(t, b.Trim(0), "page 1 holds bid 2, now in the ring; pages 3 and 4 were given back already")
}
