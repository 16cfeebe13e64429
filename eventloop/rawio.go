package eventloop

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Read and Write on non-blocking sockets never block, so they skip the Go
// scheduler's syscall bookkeeping (unix.Read's entersyscall/exitsyscall):
// with syscalls at ~1 µs on a virtual machine, every saved cycle per echo
// counts. Use them only on O_NONBLOCK fds.

// Read reads from a non-blocking fd.
func Read(fd int, b []byte) (int, error) { return rawIO(unix.SYS_READ, fd, b) }

// Write writes to a non-blocking fd.
func Write(fd int, b []byte) (int, error) { return rawIO(unix.SYS_WRITE, fd, b) }

// rawIO is read(2) or write(2) as a raw system call.
func rawIO(sysno uintptr, fd int, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, _, e := unix.RawSyscall(sysno, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// rawWait is epoll_wait without the scheduler's syscall bookkeeping: the
// thread keeps its P while it sleeps, so keep timeoutMs short (Wait does).
func (p *Poller) rawWait(timeoutMs int) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_WAIT, uintptr(p.fd), uintptr(unsafe.Pointer(&p.events[0])), uintptr(len(p.events)), uintptr(timeoutMs), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
