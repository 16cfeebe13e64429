// Command c1m-peer-nbio is an experiment-9 peer: an echo server on
// github.com/lesismal/nbio, its engine with one poller per CPU echoing
// in OnData.
package main

import (
	"runtime"

	"github.com/lesismal/nbio"

	"c1m/experiments/exp9/peer"
)

func main() { peer.Main("nbio", start) }

func start(spec peer.Spec) (func(), <-chan error, error) {
	addrs := make([]string, len(spec.Addrs))
	for i, ap := range spec.Addrs {
		addrs[i] = ap.String()
	}
	eng := nbio.NewEngine(nbio.Config{
		Network: "tcp",
		Addrs:   addrs,
		// nbio's default is NumCPU/4 pollers (one here); the other peers
		// and the core use every CPU, so it does too.
		NPoller: runtime.NumCPU(),
		// The listener sheds connections past the limit before nbio sees them.
		Listen: spec.Listen,
	})
	stats := spec.Stats
	eng.OnClose(func(*nbio.Conn, error) { stats.Close() })
	eng.OnData(func(c *nbio.Conn, data []byte) {
		stats.In(c.Hash(), len(data))
		n, err := c.Write(data)
		stats.Out(c.Hash(), n)
		if err != nil {
			c.Close()
		}
	})
	if err := eng.Start(); err != nil {
		return nil, nil, err
	}
	return eng.Stop, nil, nil
}
