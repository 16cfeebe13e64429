// Command c1m-peer-gnet is an experiment-9 peer: an echo server on
// github.com/panjf2000/gnet/v2, one event loop per CPU (multicore),
// echoing in OnTraffic.
package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"c1m/experiments/exp9/peer"
)

func main() { peer.Main("gnet", start) }

type echo struct {
	gnet.BuiltinEventEngine
	stats  *peer.Stats
	booted chan gnet.Engine
}

// held marks a connection Open admitted (a shed one is closed unmarked).
const held = true

func (e *echo) OnBoot(eng gnet.Engine) gnet.Action {
	e.booted <- eng
	return gnet.None
}

func (e *echo) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	if !e.stats.Open() {
		return nil, gnet.Close
	}
	c.SetContext(held)
	return nil, gnet.None
}

func (e *echo) OnClose(c gnet.Conn, _ error) gnet.Action {
	if c.Context() != nil {
		e.stats.Close()
	}
	return gnet.None
}

func (e *echo) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Next(-1)
	e.stats.In(c.Fd(), len(buf))
	n, err := c.Write(buf)
	e.stats.Out(c.Fd(), n)
	if err != nil {
		return gnet.Close
	}
	return gnet.None
}

func start(spec peer.Spec) (func(), <-chan error, error) {
	addrs := make([]string, len(spec.Addrs))
	for i, ap := range spec.Addrs {
		addrs[i] = "tcp://" + ap.String()
	}
	e := &echo{stats: spec.Stats, booted: make(chan gnet.Engine, 1)}
	done := make(chan struct{})
	var runErr error
	go func() {
		defer close(done)
		// SO_REUSEADDR as Go's net and the core set it: the previous run's
		// TIME_WAIT sockets on the port must not refuse the bind.
		runErr = gnet.Rotate(e, addrs, gnet.WithMulticore(true), gnet.WithReuseAddr(true), gnet.WithReusePort(spec.ReusePort))
	}()
	var eng gnet.Engine
	select {
	case eng = <-e.booted:
	case <-done:
		return nil, nil, fmt.Errorf("gnet on %v: %w", addrs, runErr)
	}
	var stopping atomic.Bool
	failed := make(chan error, 1)
	go func() {
		<-done
		if !stopping.Load() {
			failed <- fmt.Errorf("gnet engine ended without being stopped: %v", runErr)
		}
	}()
	stop := func() {
		stopping.Store(true)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		eng.Stop(ctx)
		<-done
	}
	return stop, failed, nil
}
