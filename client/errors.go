package client

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Cause explains one failure class: what it means here and what lifts it.
type Cause struct {
	Name  string
	Cause string
	Fix   string
	// StopsRamp: retrying cannot help until something changes, so the
	// ramp stops instead of hammering on.
	StopsRamp bool
}

var causes = map[unix.Errno]Cause{
	unix.EADDRNOTAVAIL: {"EADDRNOTAVAIL", "out of ephemeral ports for this source → server address pair: every port is held by an open connection, or by a TIME_WAIT socket too young for tcp_tw_reuse",
		"add source addresses (-src) or server ports (-ports), or widen net.ipv4.ip_local_port_range", true},
	unix.ECONNREFUSED: {"ECONNREFUSED", "nothing listens on the server address, or its backlog overflowed with tcp_abort_on_overflow",
		"start c1m-server with matching -addr/-ports, or lower -rate", false},
	unix.ETIMEDOUT: {"ETIMEDOUT", "the handshake got no answer in time: the server's accept queue or SYN backlog is full",
		"raise net.core.somaxconn and net.ipv4.tcp_max_syn_backlog, or lower -rate", false},
	unix.ECONNRESET: {"ECONNRESET", "the server reset the connection (it shed it at -max-conns or its fd limit, or was killed)",
		"check the server's accept_errors; raise its -max-conns or fd tables", false},
	unix.EMFILE: {"EMFILE", "this process's fd table is full (RLIMIT_NOFILE)",
		"use more client processes (-procs) or fewer connections per process", true},
	unix.ENFILE:  {"ENFILE", "the system-wide file table is full", "raise fs.file-max", true},
	unix.ENOBUFS: {"ENOBUFS", "the kernel is out of socket buffer memory", "raise net.ipv4.tcp_mem or free memory", true},
	unix.ENOMEM:  {"ENOMEM", "the kernel is out of memory for sockets", "free memory, or hold fewer connections", true},
	unix.EPIPE:   {"EPIPE", "the server closed the connection while we wrote", "check the server's close_reasons", false},
	unix.ENETUNREACH: {"ENETUNREACH", "no route from the source address to the server",
		"use sources on the server's network (on loopback: 127.0.0.0/8)", true},
	unix.EACCES: {"EACCES", "a firewall rule or permission refused the connect", "check nftables/iptables rules", true},
}

// causeEOF is a connection closed by the server without an error.
var causeEOF = Cause{Name: "EOF", Cause: "the server closed the connection", Fix: "check the server's close_reasons; use -reconnect to keep the count up"}

// Classify names an error by its errno, with its cause and fix.
func Classify(err error) Cause {
	var errno unix.Errno
	if errors.As(err, &errno) {
		if c, ok := causes[errno]; ok {
			return c
		}
		return Cause{Name: unix.ErrnoName(errno), Cause: errno.Error(), Fix: "see errno(3)"}
	}
	return Cause{Name: "other", Cause: fmt.Sprint(err), Fix: "see the message"}
}

// CauseByName looks a class up by the name Classify gave it.
func CauseByName(name string) (Cause, bool) {
	if name == causeEOF.Name {
		return causeEOF, true
	}
	for _, c := range causes {
		if c.Name == name {
			return c, true
		}
	}
	return Cause{}, false
}
