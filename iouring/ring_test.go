package iouring

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
)

// The structs shared with the kernel have the ABI's sizes.
func TestABISizes(t *testing.T) {
	t.Parallel()
	assert.EqualValues(t, 64, unsafe.Sizeof(SQE{}))
	assert.EqualValues(t, 16, unsafe.Sizeof(CQE{}))
	assert.EqualValues(t, 120, unsafe.Sizeof(iouringParams{}))
}
