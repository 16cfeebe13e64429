package uring

import (
	"errors"
	"fmt"
	"sync"

	"c1m/iouring"

	"golang.org/x/sys/unix"
)

// recvByteLimit: the kernel ends a multishot receive at a byte limit
// (sqe->optlen, Linux 6.17+); older kernels would refuse the field.
var recvByteLimit bool

// Supported checks, once, that this kernel runs everything the engine asks
// of it; the error says what is missing (server.Launch then runs epoll).
var Supported = sync.OnceValue(func() error {
	if rel, major, minor := iouring.KernelVersion(); rel != "" {
		if major < 6 {
			return fmt.Errorf("kernel %s: multishot receive and provided-buffer rings need Linux 6.0 or later", rel)
		}
		recvByteLimit = major > 6 || minor >= 17
	}
	r, err := iouring.New(8, 16, 0)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSYS) {
			return fmt.Errorf("%w (io_uring is disabled: see sysctl kernel.io_uring_disabled, or a seccomp filter)", err)
		}
		return err
	}
	defer r.Close()
	if err := r.Supports(iouring.OpAccept, iouring.OpRecv, iouring.OpSend, iouring.OpClose, iouring.OpAsyncCancel, iouring.OpPollAdd); err != nil {
		return err
	}
	if err := r.RegisterSparseFiles(16); err != nil {
		return err
	}
	b, err := iouring.NewBufRing(r, 8, 8, 64)
	if err != nil {
		return err
	}
	b.Close()
	return nil
})
