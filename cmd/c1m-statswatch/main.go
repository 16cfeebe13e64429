// Command c1m-statswatch polls a server's /stats (or /metrics) every
// -every with a -timeout per request, as an operator's dashboard would, and
// prints how long the server kept it waiting: the slowest answer, the
// failures, and the longest gap between two answers. Run it beside a ramp,
// a close storm or a graceful stop to see whether the server stays
// observable while it is busiest.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:9100/stats", "what to poll")
	every := flag.Duration("every", 100*time.Millisecond, "poll this often (the next poll starts this long after the previous one started, or at once if it took longer)")
	timeout := flag.Duration("timeout", time.Second, "a request slower than this fails")
	dur := flag.Duration("for", 0, "stop after this long (0: at SIGINT/SIGTERM)")
	trace := flag.Duration("trace", 0, "print every answer slower than this as it happens (0: none)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if *dur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *dur)
		defer cancel()
	}
	w := watch{client: &http.Client{Timeout: *timeout}, url: *url, trace: *trace, start: time.Now()}
	w.run(ctx, *every)
	w.print(os.Stdout)
}

// watch polls one URL and keeps what an operator would notice.
type watch struct {
	client   *http.Client
	url      string
	trace    time.Duration
	start    time.Time
	lats     []time.Duration // every successful answer's latency
	failures int
	lastOK   time.Time     // when the last successful answer came
	maxGap   time.Duration // the longest time between two successful answers
	gapAt    time.Duration // when (since start) that gap ended
}

func (w *watch) run(ctx context.Context, every time.Duration) {
	w.lastOK = w.start
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		w.poll()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *watch) poll() {
	t0 := time.Now()
	var connected time.Time // zero when the request reused a connection
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		ConnectDone: func(string, string, error) { connected = time.Now() },
	})
	var resp *http.Response
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.url, nil)
	if err == nil {
		resp, err = w.client.Do(req)
	}
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("HTTP %s", resp.Status)
		}
	}
	now := time.Now()
	lat := now.Sub(t0)
	if err != nil {
		w.failures++
		fmt.Fprintf(os.Stderr, "%8.3fs  failed after %v: %v\n", t0.Sub(w.start).Seconds(), lat.Round(time.Millisecond), err)
		return
	}
	if w.trace > 0 && lat >= w.trace {
		// A slow connect is the kernel (a SYN dropped and sent again 1 s
		// later); a slow answer on a connection is the server's process.
		how := "on a kept-alive connection"
		if !connected.IsZero() {
			how = fmt.Sprintf("connect %v", connected.Sub(t0).Round(time.Millisecond))
		}
		fmt.Fprintf(os.Stderr, "%8.3fs  slow: %v (%s)\n", t0.Sub(w.start).Seconds(), lat.Round(time.Millisecond), how)
	}
	w.lats = append(w.lats, lat)
	if gap := now.Sub(w.lastOK); gap > w.maxGap {
		w.maxGap, w.gapAt = gap, now.Sub(w.start)
	}
	w.lastOK = now
}

func (w *watch) print(out io.Writer) {
	slices.Sort(w.lats)
	q := func(p float64) time.Duration {
		if len(w.lats) == 0 {
			return 0
		}
		return w.lats[min(len(w.lats)-1, int(p*float64(len(w.lats))))].Round(time.Microsecond)
	}
	fmt.Fprintf(out, "%s: %d answered, %d failed over %v; latency p50 %v p99 %v max %v; longest gap between answers %v (ending at %.1fs)\n",
		w.url, len(w.lats), w.failures, time.Since(w.start).Round(time.Millisecond), q(0.5), q(0.99), q(1),
		w.maxGap.Round(time.Millisecond), w.gapAt.Seconds())
}
