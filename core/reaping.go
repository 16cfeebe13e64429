package core

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// Reaping dead peers: what the server does about a peer that vanished
// without a FIN or RST (a phone out of coverage, a NAT that forgot the
// mapping, a crashed host), whose socket would otherwise be held forever.

// ReapConfig is how a server notices dead peers. Every part is off at 0.
type ReapConfig struct {
	// IdleTimeout closes a connection that received nothing for this long
	// (checked by the engines' idlewheel, within one tick of 1/8 of it).
	IdleTimeout time.Duration
	// KeepAlive turns on TCP keepalive: the first probe after this much
	// silence, then KeepAliveProbes probes KeepAliveInterval(d) apart.
	KeepAlive time.Duration
	// UserTimeout is TCP_USER_TIMEOUT: the longest sent data may stay
	// unacknowledged (and, with keepalive, probes unanswered) before the
	// kernel drops the connection.
	UserTimeout time.Duration
}

// KeepAliveProbes is TCP_KEEPCNT: unanswered probes before the kernel gives
// up. Four survive three lost in a row on a lossy link, and with
// KeepAliveInterval a dead peer is dropped about 2× -tcp-keepalive after
// its last packet (Linux's own 9 probes 75 s apart take 11 minutes).
const KeepAliveProbes = 4

// KeepAliveInterval is TCP_KEEPINTVL for -tcp-keepalive d: a quarter of d,
// so the probes take as long as the silence before them, at least the
// kernel's one-second unit.
func KeepAliveInterval(d time.Duration) time.Duration {
	return max(d/KeepAliveProbes, time.Second).Truncate(time.Second)
}

func (r *ReapConfig) validate() error {
	if r.IdleTimeout < 0 {
		return fmt.Errorf("-idle-timeout %v: want 0 (off) or a positive duration", r.IdleTimeout)
	}
	if r.KeepAlive != 0 && r.KeepAlive < time.Second {
		return fmt.Errorf("-tcp-keepalive %v: want 0 (off) or at least 1s (the kernel counts it in seconds)", r.KeepAlive)
	}
	if r.UserTimeout != 0 && r.UserTimeout < time.Millisecond {
		return fmt.Errorf("-tcp-user-timeout %v: want 0 (off) or at least 1ms", r.UserTimeout)
	}
	return nil
}

// SetReapOptions sets TCP keepalive and TCP_USER_TIMEOUT on a socket. On a
// listening socket they are inherited by every socket it accepts (Linux
// copies them in the clone at accept), which is how the uring engine's
// sockets, direct descriptors without an fd to setsockopt on, get them.
func SetReapOptions(fd int, r ReapConfig) error {
	if r.KeepAlive > 0 {
		opts := []struct {
			level, opt, v int
			name          string
		}{
			{unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1, "SO_KEEPALIVE"},
			{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, int(r.KeepAlive / time.Second), "TCP_KEEPIDLE"},
			{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, int(KeepAliveInterval(r.KeepAlive) / time.Second), "TCP_KEEPINTVL"},
			{unix.IPPROTO_TCP, unix.TCP_KEEPCNT, KeepAliveProbes, "TCP_KEEPCNT"},
		}
		for _, o := range opts {
			if err := unix.SetsockoptInt(fd, o.level, o.opt, o.v); err != nil {
				return fmt.Errorf("%s=%d: %w", o.name, o.v, err)
			}
		}
	}
	if r.UserTimeout > 0 {
		ms := int(r.UserTimeout / time.Millisecond)
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, ms); err != nil {
			return fmt.Errorf("TCP_USER_TIMEOUT=%d: %w", ms, err)
		}
	}
	return nil
}
