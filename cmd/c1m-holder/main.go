// Command c1m-holder is the bare holder of experiment 1: it accepts
// connections and holds them — no epoll, no reads, no echo — to show the
// kernel's floor cost per connection beside the real server's. Past one fd
// table it forks children sharing the ports with SO_REUSEPORT.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"c1m/core"
	"c1m/procgroup"
	"c1m/statshttp"
)

const childEnv = "C1M_HOLDER_CHILD"

type report struct {
	Conns int64 `json:"conns"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9876", "base listen address ip:port")
	ports := flag.Int("ports", 1, "consecutive ports to listen on")
	maxConns := flag.Int("max-conns", 0, "connections to hold in all (0: what one fd table allows)")
	statsAddr := flag.String("stats-addr", "", "serve {\"conns\":N} at http://ADDR/stats")
	flag.Int("stats-interval", 0, "accepted for compatibility with c1m-server; unused")
	flag.Parse()
	soft, _, err := core.RaiseNofile()
	if err != nil {
		fail(err)
	}
	perProc := int(soft) - 64 - *ports
	if os.Getenv(childEnv) != "" {
		os.Exit(hold(*addr, *ports, perProc))
	}
	want := *maxConns
	if want == 0 {
		want = perProc
	}
	procs := (want + perProc - 1) / perProc
	group := procgroup.New(procs)
	counts := make([]atomic.Int64, procs)
	for i := 0; i < procs; i++ {
		cmd, err := procgroup.Self(os.Args[1:]...)
		if err == nil {
			cmd.Env = append(os.Environ(), childEnv+"=1")
			cmd.Stderr = os.Stderr
			_, err = group.Start(cmd, func(line []byte) {
				var r report
				if json.Unmarshal(line, &r) == nil {
					counts[i].Store(r.Conns)
				}
			})
		}
		if err != nil {
			group.Stop(5 * time.Second)
			fail(err)
		}
	}
	total := func() int64 {
		var n int64
		for i := range counts {
			n += counts[i].Load()
		}
		return n
	}
	if *statsAddr != "" {
		if _, err := statshttp.Serve(*statsAddr, func() core.Snapshot {
			return core.Snapshot{Time: time.Now(), Strategy: "holder", Procs: procs, Conns: total()}
		}); err != nil {
			group.Stop(5 * time.Second)
			fail(err)
		}
	}
	fmt.Fprintf(os.Stderr, "c1m-holder: %d processes holding up to %d connections each on %s (+%d ports)\n", procs, perProc, *addr, *ports-1)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-sigs:
	case e := <-group.Exits():
		fmt.Fprintf(os.Stderr, "c1m-holder: child %d exited: %v\n", e.Index, e.Err)
	}
	group.Stop(30 * time.Second)
	fmt.Fprintf(os.Stderr, "c1m-holder: held %d connections at the end\n", total())
}

// hold accepts on blocking SO_REUSEPORT listeners, one thread per port,
// and keeps every fd open, reporting the count every 500 ms.
func hold(addr string, ports, limit int) int {
	rep := procgroup.Reporter()
	addrs, err := core.ListenAddrs(addr, ports)
	if err != nil {
		fail(err)
	}
	var held atomic.Int64
	var mu sync.Mutex
	var fds []int
	for _, ap := range addrs {
		lfd, err := core.Listen(ap, core.ListenOptions{ReusePort: true})
		if err != nil {
			fail(err)
		}
		if err := unix.SetNonblock(lfd, false); err != nil {
			fail(err)
		}
		go func() {
			for held.Load() < int64(limit) {
				fd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
				if err != nil {
					if err == unix.EMFILE || err == unix.ENFILE {
						time.Sleep(100 * time.Millisecond)
					}
					continue
				}
				mu.Lock()
				fds = append(fds, fd)
				mu.Unlock()
				held.Add(1)
			}
			unix.Close(lfd) // full: let the other processes take the rest
		}()
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	tick := time.NewTicker(500 * time.Millisecond)
	for {
		select {
		case <-tick.C:
			if rep != nil && rep.Encode(report{Conns: held.Load()}) != nil {
				return 1
			}
		case <-sigs:
			mu.Lock()
			for _, fd := range fds {
				unix.Close(fd)
			}
			mu.Unlock()
			return 0
		}
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "c1m-holder: %v\n", err)
	os.Exit(1)
}
