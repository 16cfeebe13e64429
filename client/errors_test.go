package client

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err        error
		name       string
		cause, fix string // substrings
		stopsRamp  bool
	}{
		{unix.EADDRNOTAVAIL, "EADDRNOTAVAIL", "out of ephemeral ports", "add source addresses (-src) or server ports (-ports), or widen net.ipv4.ip_local_port_range", true},
		{unix.ECONNREFUSED, "ECONNREFUSED", "nothing listens", "start c1m-server", false},
		{unix.ETIMEDOUT, "ETIMEDOUT", "no answer", "somaxconn", false},
		{unix.ECONNRESET, "ECONNRESET", "reset", "-max-conns", false},
		{unix.EMFILE, "EMFILE", "RLIMIT_NOFILE", "-procs", true},
		{unix.ENFILE, "ENFILE", "system-wide", "fs.file-max", true},
		{unix.ENOBUFS, "ENOBUFS", "buffer memory", "tcp_mem", true},
		{unix.ENOMEM, "ENOMEM", "out of memory", "free memory", true},
		{unix.EPIPE, "EPIPE", "closed", "close_reasons", false},
		{unix.ENETUNREACH, "ENETUNREACH", "no route", "127.0.0.0/8", true},
		{unix.EACCES, "EACCES", "firewall", "nftables", true},
		// Wrapped as the syscall packages and the client wrap them.
		{os.NewSyscallError("connect", unix.EADDRNOTAVAIL), "EADDRNOTAVAIL", "ephemeral ports", "-src", true},
		{fmt.Errorf("epoll_ctl: %w", unix.ENOMEM), "ENOMEM", "", "", true},
		// Unknown errnos keep their name and message.
		{unix.EHOSTDOWN, "EHOSTDOWN", unix.EHOSTDOWN.Error(), "errno", false},
		{fmt.Errorf("read: %w", unix.EBADF), "EBADF", "bad file descriptor", "errno", false},
		// Not an errno at all.
		{errors.New("something else"), "other", "something else", "message", false},
	} {
		c := Classify(tc.err)
		assert.Equal(t, tc.name, c.Name, "%v", tc.err)
		assert.Contains(t, c.Cause, tc.cause, "%v", tc.err)
		assert.Contains(t, c.Fix, tc.fix, "%v", tc.err)
		assert.Equal(t, tc.stopsRamp, c.StopsRamp, "%v", tc.err)
	}
	// The original's failure names its real cause.
	assert.Contains(t, Classify(unix.EADDRNOTAVAIL).Cause, "ephemeral ports")
}

func TestCauseByName(t *testing.T) {
	t.Parallel()
	for errno, c := range causes {
		got, ok := CauseByName(c.Name)
		require.True(t, ok, c.Name)
		assert.Equal(t, c, got)
		assert.Equal(t, c, Classify(errno), "Classify and CauseByName agree")
		assert.Equal(t, unix.ErrnoName(errno), c.Name, "a class is named after its errno")
		assert.NotEmpty(t, c.Cause, c.Name)
		assert.NotEmpty(t, c.Fix, c.Name)
	}
	eof, ok := CauseByName("EOF")
	require.True(t, ok)
	assert.Equal(t, causeEOF, eof)
	for _, name := range []string{"", "EHOSTDOWN", "other", "extra-bytes", "eaddrnotavail"} {
		_, ok := CauseByName(name)
		assert.False(t, ok, name)
	}
}

// auto is uring where the kernel runs it, and epoll, saying why, where the
// flags ask for the epoll client's processes or fd tables; a named engine
// stays what it is.
func TestAutoEngine(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.Engine = EngineAuto
	engine, why := ResolveEngine(cfg)
	if UringSupported() == nil {
		assert.Equal(t, EngineUring, engine)
		assert.Empty(t, why)
	} else {
		assert.Equal(t, EngineEpoll, engine)
		assert.Contains(t, why, "io_uring unavailable")
	}
	cfg.Procs = 2
	engine, why = ResolveEngine(cfg)
	assert.Equal(t, EngineEpoll, engine)
	assert.Contains(t, why, "-procs")
	cfg.Engine = EngineEpoll
	engine, why = ResolveEngine(cfg)
	assert.Equal(t, EngineEpoll, engine)
	assert.Empty(t, why)
}
