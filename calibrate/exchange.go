package calibrate

// The ping-pong both the pipe and the loopback measurements are made of:
// one thread writes a message and waits for it back, another echoes it, both
// on blocking file descriptors so that every wait is a sleep in the kernel
// and every answer a wake-up (a context switch when they share a CPU).

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"golang.org/x/sys/unix"
)

// exchange is one ping-pong measurement's settings.
type exchange struct {
	cpu        int           // both threads pinned to this CPU; < 0: where the scheduler puts them
	size       int           // bytes a message
	perSample  int           // round trips timed together as one sample
	warmup     int           // round trips before the first timed one
	maxSamples int           // samples at most (0: as many as share allows)
	share      time.Duration // time to spend on samples, past minBatches of them
}

// run measures x: the pinger writes pingW and reads pingR on a thread of
// its own while echo (run on another goroutine) returns the messages until
// EOF. Each side closes its write end when it stops, so that the other sees
// EOF and stops too. It returns a sample per perSample round trips: ns a
// round trip.
func (x exchange) run(pingW, pingR int, echo func() error) ([]float64, error) {
	echoed := make(chan error, 1)
	go func() { echoed <- echo() }()
	type result struct {
		samples []float64
		err     error
	}
	pinged := make(chan result, 1)
	go func() {
		s, err := x.ping(pingW, pingR)
		pinged <- result{s, err}
	}()
	r := <-pinged
	if err := errors.Join(r.err, <-echoed); err != nil {
		return nil, err
	}
	return r.samples, nil
}

// echo returns every message it reads, on a thread of its own, until EOF.
func (x exchange) echo(r, w int) error {
	defer unix.Close(w)
	release, err := lockThread(x.cpu)
	defer release()
	if err != nil {
		return err
	}
	buf := make([]byte, x.size)
	for {
		if err := readFull(r, buf); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("echo: %w", err)
		}
		if err := writeAll(w, buf); err != nil {
			return fmt.Errorf("echo: %w", err)
		}
	}
}

// ping times round trips on a thread of its own.
func (x exchange) ping(w, r int) ([]float64, error) {
	defer unix.Close(w)
	release, err := lockThread(x.cpu)
	defer release()
	if err != nil {
		return nil, err
	}
	msg := make([]byte, x.size)
	roundTrips := func(n int) error {
		for range n {
			if err := writeAll(w, msg); err != nil {
				return err
			}
			if err := readFull(r, msg); err != nil {
				return err
			}
		}
		return nil
	}
	if err := roundTrips(x.warmup); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	var samples []float64
	for deadline := time.Now().Add(x.share); len(samples) < minBatches || time.Now().Before(deadline); {
		if x.maxSamples > 0 && len(samples) >= x.maxSamples {
			break
		}
		t := time.Now()
		if err := roundTrips(x.perSample); err != nil {
			return nil, err
		}
		samples = append(samples, float64(time.Since(t).Nanoseconds())/float64(x.perSample))
	}
	return samples, nil
}

// readFull reads len(b) bytes from a blocking fd (io.EOF if it closes first).
func readFull(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Read(fd, b)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return err
		case n == 0:
			return io.EOF
		}
		b = b[n:]
	}
	return nil
}

// writeAll writes all of b to a blocking fd.
func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// pipes are two pipes, one each way: the pinger writes there[1] and reads
// back[0], the echo reads there[0] and writes back[1].
type pipes struct{ there, back [2]int }

func newPipes() (pipes, error) {
	var p pipes
	if err := unix.Pipe2(p.there[:], unix.O_CLOEXEC); err != nil {
		return p, fmt.Errorf("pipe2: %w", err)
	}
	if err := unix.Pipe2(p.back[:], unix.O_CLOEXEC); err != nil {
		unix.Close(p.there[0])
		unix.Close(p.there[1])
		return p, fmt.Errorf("pipe2: %w", err)
	}
	return p, nil
}

// pipeRoundTrips measures x over two pipes, the echo a thread of this process.
func pipeRoundTrips(x exchange) ([]float64, error) {
	p, err := newPipes()
	if err != nil {
		return nil, err
	}
	defer unix.Close(p.there[0])
	defer unix.Close(p.back[0])
	return x.run(p.there[1], p.back[0], func() error { return x.echo(p.there[0], p.back[1]) })
}

// processRoundTrips measures x over two pipes, the echo another process:
// cat(1), which writes back each message it reads, pinned to x.cpu like
// the pinger. Every hand-over then switches address spaces too, as between
// a server and its load client.
func processRoundTrips(x exchange) ([]float64, error) {
	p, err := newPipes()
	if err != nil {
		return nil, err
	}
	defer unix.Close(p.back[0])
	cat := exec.Command("cat")
	cat.Stdin, cat.Stdout = os.NewFile(uintptr(p.there[0]), "calibrate-there"), os.NewFile(uintptr(p.back[1]), "calibrate-back")
	err = cat.Start()
	cat.Stdin.(*os.File).Close() // the child holds its own copies
	cat.Stdout.(*os.File).Close()
	if err != nil {
		unix.Close(p.there[1])
		return nil, fmt.Errorf("starting cat as the echo process: %w", err)
	}
	if x.cpu >= 0 {
		var set unix.CPUSet
		set.Set(x.cpu)
		if err := unix.SchedSetaffinity(cat.Process.Pid, &set); err != nil {
			unix.Close(p.there[1]) // cat sees EOF and exits
			return nil, errors.Join(fmt.Errorf("pinning the echo process to CPU %d: %w", x.cpu, err), cat.Wait())
		}
	}
	return x.run(p.there[1], p.back[0], cat.Wait)
}

// loopbackRoundTrips measures x over a TCP connection on 127.0.0.1.
func loopbackRoundTrips(x exchange) ([]float64, error) {
	c, s, err := loopbackPair()
	if err != nil {
		return nil, err
	}
	return x.run(c, c, func() error { return x.echo(s, s) })
}

// loopbackPair is both ends of a fresh TCP connection on 127.0.0.1, blocking,
// with Nagle off (each message goes out at once, as the echo servers send).
func loopbackPair() (client, server int, err error) {
	ln, err := tcpSocket()
	if err != nil {
		return -1, -1, err
	}
	defer unix.Close(ln)
	if err := unix.Bind(ln, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return -1, -1, fmt.Errorf("bind 127.0.0.1:0 (is the loopback interface up?): %w", err)
	}
	if err := unix.Listen(ln, 1); err != nil {
		return -1, -1, fmt.Errorf("listen: %w", err)
	}
	addr, err := unix.Getsockname(ln)
	if err != nil {
		return -1, -1, fmt.Errorf("getsockname: %w", err)
	}
	if client, err = tcpSocket(); err != nil {
		return -1, -1, err
	}
	if err := unix.Connect(client, addr); err != nil {
		unix.Close(client)
		return -1, -1, fmt.Errorf("connect over loopback: %w", err)
	}
	if server, _, err = unix.Accept4(ln, unix.SOCK_CLOEXEC); err != nil {
		unix.Close(client)
		return -1, -1, fmt.Errorf("accept: %w", err)
	}
	for _, fd := range []int{client, server} {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
			unix.Close(client)
			unix.Close(server)
			return -1, -1, fmt.Errorf("TCP_NODELAY: %w", err)
		}
	}
	return client, server, nil
}

func tcpSocket() (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	return fd, nil
}
