// Command c1m-peer-netgo is experiment 9's idiomatic baseline: an echo
// server on Go's net package, one goroutine per connection reading into
// a small buffer and writing back what it read.
package main

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"c1m/experiments/exp9/peer"
)

// bufSize is the per-connection read buffer: modest, as a Go engineer
// would pick for a small-message protocol (io.Copy's is 32 KiB).
const bufSize = 4096

func main() { peer.Main("netgo", start) }

type server struct {
	stats *peer.Stats
	mu    sync.Mutex
	conns map[net.Conn]struct{} // closed at stop, as http.Server tracks its own
	wg    sync.WaitGroup
}

func start(spec peer.Spec) (func(), <-chan error, error) {
	var lns []net.Listener
	for _, ap := range spec.Addrs {
		ln, err := spec.Listen("tcp", ap.String())
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, nil, err
		}
		lns = append(lns, ln)
	}
	s := &server{stats: spec.Stats, conns: map[net.Conn]struct{}{}}
	failed := make(chan error, len(lns))
	var accepting sync.WaitGroup
	for _, ln := range lns {
		accepting.Add(1)
		go func() {
			defer accepting.Done()
			if err := s.accept(ln); err != nil {
				failed <- err
			}
		}()
	}
	stop := func() {
		for _, ln := range lns {
			ln.Close()
		}
		accepting.Wait()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	}
	return stop, failed, nil
}

// accept runs until the listener is closed (nil) or fails for good. The
// listener sheds what Stats does not admit: every connection here is held.
func (s *server) accept(ln net.Listener) error {
	for id := 0; ; id++ {
		c, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
			time.Sleep(10 * time.Millisecond) // out of fds: wait for some to close, as net/http does
			continue
		}
		if err != nil {
			return fmt.Errorf("accept on %s: %w", ln.Addr(), err)
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go s.echo(c, id)
	}
}

// echo writes back every byte it reads until the peer closes or errs.
func (s *server) echo(c net.Conn, id int) {
	defer s.wg.Done()
	buf := make([]byte, bufSize)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			s.stats.In(id, n)
			w, werr := c.Write(buf[:n])
			s.stats.Out(id, w)
			if werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	c.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.stats.Close()
}
