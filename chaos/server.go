package chaos

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"c1m/core"
	"c1m/harness"
	"c1m/procgroup"
	"c1m/statshttp"
)

// statsURL is the /stats of a server whose -stats-addr is addr: its
// totals, without a row per worker.
func statsURL(addr string) string { return "http://" + addr + "/stats?workers=0" }

// statsClient closes each connection after its request: a kept-alive one
// would be an fd of the server's that the fd count must not see.
var statsClient = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func fetchStats(url string) (core.Snapshot, error) { return statshttp.Fetch(statsClient, url) }

// startServer starts bin/c1m-server with flags in a group of its own, its
// output going to logPath, and waits up to limit for its /stats at url to
// answer. Flags that name no engine run the epoll engine the scenarios
// were written against.
func startServer(bin string, flags []string, logPath, url string, limit time.Duration) (*procgroup.Group, *exec.Cmd, error) {
	argv := append([]string{filepath.Join(bin, "c1m-server")}, harness.WithEngine(flags)...)
	return startServerArgv(argv, logPath, url, statsClient, limit)
}

// startServerArgv starts the server argv runs (c1m-server, or c1m-server
// inside a namespace), its stats fetched with c.
func startServerArgv(argv []string, logPath, url string, c *http.Client, limit time.Duration) (*procgroup.Group, *exec.Cmd, error) {
	g := procgroup.New(1)
	cmd := exec.Command(argv[0], argv[1:]...)
	if err := g.StartLogged(cmd, logPath); err != nil {
		return nil, nil, fmt.Errorf("server: %w (run make build first)", err)
	}
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, err := statshttp.Fetch(c, url); err == nil {
			return g, cmd, nil
		}
		select {
		case ex := <-g.Exits():
			return nil, nil, fmt.Errorf("server exited at start: %v (see %s)", ex.Err, logPath)
		default:
		}
	}
	g.Stop(10 * time.Second)
	return nil, nil, fmt.Errorf("server did not answer on %s within %.0f s (see %s)", url, limit.Seconds(), logPath)
}

// serverAddrs finds free addresses for a server: the first of its ports
// consecutive ports, and its -stats-addr.
func serverAddrs(ports int) (addr, stats string, err error) {
	if addr, err = freePorts(ports); err != nil {
		return "", "", err
	}
	stats, err = harness.FreeAddr()
	return addr, stats, err
}

// freePorts finds n consecutive free ports below the ephemeral range and
// returns the first as 127.0.0.1:PORT.
func freePorts(n int) (string, error) {
	if n <= 1 {
		return harness.FreeAddr()
	}
	for range 50 {
		base := 20000 + rand.IntN(12000-n)
		if portsFree("127.0.0.1", base, n) {
			return "127.0.0.1:" + strconv.Itoa(base), nil
		}
	}
	return "", errors.New("no block of free ports found in 20000-32000")
}

// portsFree says whether n consecutive ports from base can be listened on at ip.
func portsFree(ip string, base, n int) bool {
	for p := base; p < base+n; p++ {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(p)))
		if err != nil {
			return false
		}
		ln.Close()
	}
	return true
}
