package chaos

// The storm's last phase: the restarted server, holding every connection
// back and verified, is sent SIGTERM, and its stop is measured to its
// exit: how long, with which exit code, and how its connections ended as
// the client saw them (EOF, a clean close, or a reset).
//
// The client is told to reconnect no more first (client.Config.
// StopReconnect): with -reconnect on, each connection the server closes
// would be retried after a full-jitter back-off of up to 200 ms, a herd of
// a million SYNs competing for the CPUs with the stop it should measure;
// a server that still listens while it closes would even take some, and
// reset them, counted as its closes. Reestablished and RetriesFailed show
// that none got through.

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"c1m/client"
	"c1m/procgroup"
	"c1m/schema"
)

// closedReportWait is how long at least after the server's exit the
// client's reports are awaited for its last closes.
const closedReportWait = 5 * time.Second

// stopRetryGrace is how long the client's processes are given to take the
// word to reconnect no more (a signal each) before the SIGTERM.
const stopRetryGrace = 500 * time.Millisecond

// gracefulStop sends SIGTERM to the server pid (group g) and measures its stop.
func (st *storm) gracefulStop(ctx context.Context, g *procgroup.Group, pid int) {
	p0 := st.pop.fresh(5 * time.Second)
	stop := &schema.StormStop{ConnsAtSignal: st.serverConns(), Bound: st.sc.Bound.Seconds(), ExitCode: -1}
	st.res.Stop = stop
	logPath := st.logPath("server-restarted.log")
	logFrom := fileSize(logPath)
	exited := make(chan struct{})
	var ex procgroup.Exit
	go func() { ex = <-g.Exits(); close(exited) }()
	// A poll that fails because the server has exited is no failure to answer.
	st.polls.phase("stop", func() bool {
		select {
		case <-exited:
			return true
		case <-time.After(statsPollTimeout):
			return false
		}
	})
	close(st.noRetry)
	time.Sleep(stopRetryGrace)
	sigterm := time.Now()
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		st.res.Failures = append(st.res.Failures, "SIGTERM to the restarted server: "+err.Error())
		return
	}
	st.logf("SIGTERM to server pid %d holding %d connections", pid, stop.ConnsAtSignal)
	select {
	case <-exited:
		stop.ExitS, stop.ExitCode = time.Since(sigterm).Seconds(), exitCode(ex.Err)
	case <-time.After(st.sc.Bound):
	case <-ctx.Done():
	}
	// An io_uring server's rings may close connections after its exit: the
	// client's count is awaited up to the bound from the SIGTERM.
	p1, closedAt := st.waitClosed(p0, stop.ConnsAtSignal, later(time.Now().Add(closedReportWait), sigterm.Add(st.sc.Bound)))
	if !closedAt.IsZero() {
		stop.AllClosedS = closedAt.Sub(sigterm).Seconds()
	}
	stop.ClosedBy, stop.RetriesFailed = map[string]int64{}, map[string]int64{}
	addGrowth(stop.ClosedBy, p1.Dropped, p0.Dropped)
	addGrowth(stop.RetriesFailed, p1.Failed, p0.Failed)
	stop.ClosedEOF, stop.ClosedReset = stop.ClosedBy["EOF"], stop.ClosedBy["ECONNRESET"]
	stop.Reestablished = p1.Established - p0.Established
	stop.ServerLog = serverLogSince(logPath, logFrom)
	st.logf("graceful stop: exited %.2f s after SIGTERM with code %d; the client saw all closed after %.1f s, %d by EOF, %d reset (%s), %d opened again meanwhile",
		stop.ExitS, stop.ExitCode, stop.AllClosedS, stop.ClosedEOF, stop.ClosedReset, schema.FormatErrors(stop.ClosedBy), stop.Reestablished)
}

// later is the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// waitClosed waits until the client has seen n connections close since p0,
// or the deadline, and returns its latest report and when the report
// saying all were closed came (zero: none did).
func (st *storm) waitClosed(p0 client.Progress, n int64, deadline time.Time) (client.Progress, time.Time) {
	for {
		p, at, _ := st.pop.progress()
		if sumMap(p.Dropped)-sumMap(p0.Dropped) >= n {
			return p, at
		}
		if time.Now().After(deadline) {
			return p, time.Time{}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// exitCode is a process's exit status from its Wait error; -1 if a signal ended it.
func exitCode(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	return -1
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// serverLogSince is the server's log lines from byte off on, its JSON
// stats lines left out (the last is its final snapshot: long, and in /stats).
func serverLogSince(path string, off int64) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(f, 1<<20))
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "{") {
			lines = append(lines, l)
		}
	}
	return lines
}
