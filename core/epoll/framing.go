package epoll

import (
	"encoding/binary"
	"fmt"
)

// FrameSize is the fixed width of one fd hand-off on the pipe: the fd
// (int32), 4 reserved bytes, and the accept time (int64 ns on the server's
// monotonic clock). 4096 (PIPE_BUF) is a multiple of it, so every write of a
// frame is atomic and frames never interleave.
const FrameSize = 16

// Handoff is one accepted connection on its way to a worker.
type Handoff struct {
	FD         int32
	AcceptedNs int64
}

// PutFrame encodes h into b[:FrameSize].
func PutFrame(b []byte, h Handoff) {
	binary.LittleEndian.PutUint32(b[0:4], uint32(h.FD))
	binary.LittleEndian.PutUint32(b[4:8], 0)
	binary.LittleEndian.PutUint64(b[8:16], uint64(h.AcceptedNs))
}

// FrameDecoder turns a byte stream back into hand-offs. It keeps a partial
// frame across reads, so frames glued together or split anywhere decode the
// same (the original's text framing lost fds exactly here).
type FrameDecoder struct {
	partial [FrameSize]byte
	have    int
}

// Feed decodes every complete frame in b, in order, calling emit for each.
func (d *FrameDecoder) Feed(b []byte, emit func(Handoff)) error {
	for len(b) > 0 {
		if d.have > 0 || len(b) < FrameSize {
			n := copy(d.partial[d.have:], b)
			d.have += n
			b = b[n:]
			if d.have < FrameSize {
				return nil
			}
			h, err := decodeFrame(d.partial[:])
			d.have = 0
			if err != nil {
				return err
			}
			emit(h)
			continue
		}
		h, err := decodeFrame(b[:FrameSize])
		if err != nil {
			return err
		}
		emit(h)
		b = b[FrameSize:]
	}
	return nil
}

// Pending reports the bytes of an incomplete frame held back.
func (d *FrameDecoder) Pending() int { return d.have }

func decodeFrame(b []byte) (Handoff, error) {
	fd := int32(binary.LittleEndian.Uint32(b[0:4]))
	if fd < 0 || binary.LittleEndian.Uint32(b[4:8]) != 0 {
		return Handoff{}, fmt.Errorf("corrupt fd frame %x: the pipe carries only fixed %d-byte frames", b, FrameSize)
	}
	return Handoff{FD: fd, AcceptedNs: int64(binary.LittleEndian.Uint64(b[8:16]))}, nil
}
