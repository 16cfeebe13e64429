package procfs

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const snmpText = `Ip: Forwarding DefaultTTL InReceives
Ip: 1 64 1200
Tcp: RtoAlgorithm MaxConn ActiveOpens OutSegs RetransSegs
Tcp: 1 -1 42 9000 7
`

const netstatText = `TcpExt: SyncookiesSent ListenOverflows TCPMemoryPressures
TcpExt: 0 13 2
IpExt: InOctets OutOctets
IpExt: 5000 6000
`

func TestParseCounters(t *testing.T) {
	t.Parallel()
	c, err := parseCounters(snmpText)
	require.NoError(t, err)
	assert.Equal(t, 1200.0, c["Ip.InReceives"])
	assert.Equal(t, -1.0, c["Tcp.MaxConn"])
	assert.Equal(t, 9000.0, c["Tcp.OutSegs"])
	assert.Equal(t, 7.0, c["Tcp.RetransSegs"])

	_, err = parseCounters("Tcp: A B\nTcp: 1\n")
	assert.ErrorContains(t, err, "1 values under 2 names")
	_, err = parseCounters("Tcp: A\nTcp: x\n")
	assert.ErrorContains(t, err, "Tcp.A")
	_, err = parseCounters("nothing here\n")
	assert.Error(t, err)
}

func TestNetCountersMergesBothFiles(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "proc/net"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "proc/net/snmp"), []byte(snmpText), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "proc/net/netstat"), []byte(netstatText), 0o644))
	c, err := New(root).NetCounters()
	require.NoError(t, err)
	assert.Equal(t, 13.0, c["TcpExt.ListenOverflows"])
	assert.Equal(t, 2.0, c["TcpExt.TCPMemoryPressures"])
	assert.Equal(t, 42.0, c["Tcp.ActiveOpens"])
	assert.Equal(t, 6000.0, c["IpExt.OutOctets"])
}

func TestNetCountersOnThisMachine(t *testing.T) {
	t.Parallel()
	c, err := New("/").NetCounters()
	require.NoError(t, err)
	assert.Contains(t, c, "Tcp.OutSegs")
	assert.Contains(t, c, "TcpExt.ListenOverflows")
}

func FuzzCounters(f *testing.F) {
	f.Add(snmpText)
	f.Add(netstatText)
	f.Fuzz(func(t *testing.T, text string) {
		c, err := parseCounters(text)
		if err == nil && len(c) == 0 {
			t.Fatal("no error but no counters")
		}
	})
}
