package calibrate

// The ping-pong both the pipe and the loopback measurements are made of:
// one thread writes a message and waits for it back, another echoes it, both
// on blocking file descriptors so that every wait is a sleep in the kernel
// and every answer a wake-up (a context switch when they share a CPU).

import (
	"errors"
	"fmt"
	"io"
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

// ends are the two sides' file descriptors: the pinger writes pingW and
// reads pingR; the echoer reads echoR and writes echoW. Each side closes its
// write end when it stops, so that the other one sees EOF and stops too.
type ends struct{ pingW, pingR, echoR, echoW int }

// run measures x over e and returns a sample per perSample round trips: ns
// a round trip.
func (x exchange) run(e ends) ([]float64, error) {
	echoed := make(chan error, 1)
	go func() { echoed <- x.echo(e.echoR, e.echoW) }()
	type result struct {
		samples []float64
		err     error
	}
	pinged := make(chan result, 1)
	go func() {
		s, err := x.ping(e.pingW, e.pingR)
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

// pipeRoundTrips measures x over two pipes, one each way.
func pipeRoundTrips(x exchange) ([]float64, error) {
	var there, back [2]int
	if err := unix.Pipe2(there[:], unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("pipe2: %w", err)
	}
	if err := unix.Pipe2(back[:], unix.O_CLOEXEC); err != nil {
		unix.Close(there[0])
		unix.Close(there[1])
		return nil, fmt.Errorf("pipe2: %w", err)
	}
	defer unix.Close(there[0])
	defer unix.Close(back[0])
	return x.run(ends{pingW: there[1], pingR: back[0], echoR: there[0], echoW: back[1]})
}

// loopbackRoundTrips measures x over a TCP connection on 127.0.0.1.
func loopbackRoundTrips(x exchange) ([]float64, error) {
	c, s, err := loopbackPair()
	if err != nil {
		return nil, err
	}
	return x.run(ends{pingW: c, pingR: c, echoR: s, echoW: s})
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
