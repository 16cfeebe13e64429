package netns

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidateRefusesAddressesOutsideTheBenchmarkingRange(t *testing.T) {
	t.Parallel()
	good := netip.MustParsePrefix("198.18.0.1/24")
	for _, bad := range []string{"10.0.0.1/24", "192.168.1.1/24", "172.16.0.1/24", "127.0.0.2/8", "198.20.0.1/24", "198.18.0.1/8"} {
		l := Link{Name: "c1mt", ServerAddr: good, ClientAddr: netip.MustParsePrefix(bad)}
		assert.ErrorContains(t, l.validate(), "198.18.0.0/15", bad)
	}
	l := Link{Name: "c1mt", ServerAddr: good, ClientAddr: netip.MustParsePrefix("198.18.0.2/24")}
	assert.NoError(t, l.validate())
	l.Name = "much-too-long-a-name"
	assert.ErrorContains(t, l.validate(), "short name")
}

func TestShaperChargesWireBytes(t *testing.T) {
	t.Parallel()
	l := Link{Name: "c1mt", RateBitsPerSec: 10e6}
	argv := l.shaper("ns", "dev")
	assert.Subset(t, argv, []string{"overhead", "24", "mpu", "84", "rate", "10000000bit", "latency", "100ms"})
	assert.Contains(t, argv, "3076", "the bucket never holds less than two full frames")
}

func TestParseQdiscStats(t *testing.T) {
	t.Parallel()
	s, err := parseQdiscStats([]byte(`[{"kind":"tbf","handle":"8001:","root":true,"bytes":112,"packets":1,"drops":3,"overlimits":4}]`))
	require.NoError(t, err)
	assert.Equal(t, DirectionStats{Bytes: 112, Packets: 1, Drops: 3, Overlimits: 4}, s)
	_, err = parseQdiscStats([]byte(`[]`))
	assert.Error(t, err)
	_, err = parseQdiscStats([]byte(`{`))
	assert.Error(t, err)
}

// A real link: bytes cross it from one namespace to the other and back,
// the shapers count them, and Remove leaves nothing behind.
func TestLinkCarriesTrafficAndIsRemoved(t *testing.T) {
	if err := Check(); err != nil {
		t.Skip(err)
	}
	t.Parallel()
	l := &Link{Name: "c1mtest", ServerAddr: netip.MustParsePrefix("198.18.250.1/24"),
		ClientAddr: netip.MustParsePrefix("198.18.250.2/24"), RateBitsPerSec: 50e6}
	ctx := context.Background()
	require.NoError(t, l.Create(ctx))
	t.Cleanup(func() { l.Remove() })
	assert.True(t, Exists(l.ServerNS()))
	assert.True(t, Exists(l.ClientNS()))

	var ln net.Listener
	require.NoError(t, inNamespace(l.ServerNS(), func() (err error) {
		ln, err = net.Listen("tcp", "198.18.250.1:0")
		return err
	}))
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(c, c)
			c.Close()
		}
	}()
	c, err := DialContext(ctx, l.ClientNS(), "tcp", ln.Addr().String())
	require.NoError(t, err)
	msg := []byte("keepalive!\x00")
	_, err = c.Write(msg)
	require.NoError(t, err)
	got := make([]byte, len(msg))
	_, err = io.ReadFull(c, got)
	require.NoError(t, err)
	assert.Equal(t, msg, got)
	c.Close()

	toServer, toClient, err := l.Stats(ctx)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, toServer.Packets, 3.0, "SYN, ACK, data at least")
	assert.GreaterOrEqual(t, toClient.Packets, 2.0, "SYN-ACK, echo at least")
	assert.Zero(t, toServer.Drops)

	require.NoError(t, l.Remove())
	assert.False(t, Exists(l.ServerNS()))
	assert.False(t, Exists(l.ClientNS()))
	assert.NoError(t, l.Remove(), "removing twice is fine")
}

// A loopback namespace gets its own established hash of the size asked for
// and its own sysctls, the host's child-hash setting is put back, and
// Remove leaves nothing.
func TestLoopbackNamespaceHasItsOwnEhash(t *testing.T) {
	if Check() != nil {
		t.Skip("needs root and iproute2")
	}
	t.Parallel()
	ctx := context.Background()
	host, err := os.ReadFile(childEhash)
	require.NoError(t, err)
	n := Loopback{Name: "c1mt-lo", EhashEntries: 4096, Sysctls: map[string]string{"net.core.somaxconn": "1234"}}
	require.NoError(t, n.Create(ctx))
	t.Cleanup(func() { n.Remove() })

	size, err := n.Ehash(ctx)
	require.NoError(t, err)
	assert.Equal(t, 4096, size)
	out, err := output(ctx, Command(n.Name, "sysctl", "-n", "net.core.somaxconn")...)
	require.NoError(t, err)
	assert.Equal(t, "1234", strings.TrimSpace(string(out)))
	after, err := os.ReadFile(childEhash)
	require.NoError(t, err)
	assert.Equal(t, string(host), string(after), "the host's tcp_child_ehash_entries is put back")

	require.NoError(t, n.Remove())
	assert.False(t, Exists(n.Name))
	assert.ErrorContains(t, (&Loopback{Name: "c1mt-lo2", EhashEntries: 1000}).Create(ctx), "power of two")
}

// After Cut nothing the client sends reaches the server, its close
// included: the server's end of the connection sees no data, no FIN, no
// RST, and its link counts no packet received.
func TestCutLeavesTheServerNothing(t *testing.T) {
	if err := Check(); err != nil {
		t.Skip(err)
	}
	t.Parallel()
	l := &Link{Name: "c1mcut", ServerAddr: netip.MustParsePrefix("198.18.251.1/24"),
		ClientAddr: netip.MustParsePrefix("198.18.251.2/24")}
	ctx := context.Background()
	require.NoError(t, l.Create(ctx))
	t.Cleanup(func() { l.Remove() })

	var ln net.Listener
	require.NoError(t, inNamespace(l.ServerNS(), func() (err error) {
		ln, err = net.Listen("tcp", "198.18.251.1:0")
		return err
	}))
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c
		}
	}()
	c, err := DialContext(ctx, l.ClientNS(), "tcp", ln.Addr().String())
	require.NoError(t, err)
	s := <-accepted
	defer s.Close()

	require.NoError(t, l.Cut(ctx))
	rx0, err := l.ServerRxPackets(ctx)
	require.NoError(t, err)
	_, err = c.Write([]byte("lost"))
	require.NoError(t, err)
	require.NoError(t, c.(*net.TCPConn).SetLinger(0)) // an RST, were it to arrive
	c.Close()

	require.NoError(t, s.SetReadDeadline(time.Now().Add(time.Second)))
	_, err = s.Read(make([]byte, 8))
	var ne net.Error
	require.ErrorAs(t, err, &ne, "the server's read only times out")
	assert.True(t, ne.Timeout())
	rx1, err := l.ServerRxPackets(ctx)
	require.NoError(t, err)
	assert.Equal(t, rx0, rx1, "no packet reached the server's end")
}

func TestParseRxPackets(t *testing.T) {
	t.Parallel()
	n, err := parseRxPackets([]byte(`[{"ifname":"x","stats64":{"rx":{"bytes":10,"packets":7},"tx":{"packets":1}}}]`))
	require.NoError(t, err)
	assert.EqualValues(t, 7, n)
	_, err = parseRxPackets([]byte(`[]`))
	assert.Error(t, err)
}
