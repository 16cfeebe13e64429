package analysis

import (
	"fmt"
	"time"

	"c1m/numfmt"
)

// The wire model of question 4: how many bytes and packets a keepalive
// exchange puts on an Ethernet link, and what a number of connections
// exchanging every interval requires of the network card.
//
// One TCP segment on the wire, with the timestamp option Linux sends by
// default (net.ipv4.tcp_timestamps=1):
//
//	preamble+SFD  8   ┐ not part of the frame, but they occupy the link
//	Ethernet     14   ┐
//	IPv4         20   │
//	TCP          20   │ the frame: at least 64 bytes, padded if shorter
//	TCP options  12   │ (timestamps: 10 bytes + 2 NOPs)
//	payload       p   │
//	FCS           4   ┘
//	inter-frame  12     idle time the link must leave before the next frame
//
// The 11-byte keepalive "keepalive!\0" of the original client:
// frame = 14+20+20+12+11+4 = 81 ≥ 64, no padding; on the wire 81+8+12 = 101 B.
// A pure ACK (no payload): frame = 14+20+20+12+4 = 70 ≥ 64; on the wire 90 B.
// (With timestamps every frame is at least 70 bytes, so the 64-byte minimum
// only bites without them: 14+20+20+4 = 58 → padded to 64 → 84 B on the wire.)
//
// An exchange is the client's request, the server's echo and the pure ACKs.
// With delayed ACKs the echo carries the acknowledgement of the request, and
// the client's pure ACK of the echo is the only other packet: one pure ACK
// (DefaultPureACKs). A second pure ACK models a server that acknowledges the
// request before echoing; further ones alternate direction again.
// For p = 11 and one ACK: client→server 101+90 = 191 B, server→client 101 B,
// 292 B in all; a link is full duplex, so the busier direction (client→server,
// the server's receive side) is what must fit the card's rate.
const (
	PreambleSFD     = 8
	EthernetHeader  = 14
	IPv4Header      = 20
	TCPHeader       = 20
	TCPTimestampOpt = 12
	EthernetFCS     = 4
	InterFrameGap   = 12
	MinFrame        = 64
	MTU             = 1500
	// MSS is the TCP payload of a full segment: MTU − IPv4 − TCP − timestamps = 1448.
	MSS = MTU - IPv4Header - TCPHeader - TCPTimestampOpt
	// DefaultPureACKs is the delayed-ACK case: the echo acknowledges the request.
	DefaultPureACKs = 1
	// KeepalivePayload is the original client's message, "keepalive!\0".
	KeepalivePayload = 11
)

// frameOnWire is the link occupancy of a frame of frame bytes (Ethernet
// header through FCS): padded to the 64-byte minimum, plus preamble and gap.
func frameOnWire(frame int) int {
	return max(frame, MinFrame) + PreambleSFD + InterFrameGap
}

// SegmentOnWire is the link occupancy of one TCP segment carrying payload bytes.
func SegmentOnWire(payload int) int {
	return frameOnWire(EthernetHeader + IPv4Header + TCPHeader + TCPTimestampOpt + payload + EthernetFCS)
}

// Exchange is one keepalive exchange on the wire, per direction.
type Exchange struct {
	Payload, PureACKs int
	// Bytes on the wire (preamble and inter-frame gap included).
	ToServer, ToClient int
	// Packets (Ethernet frames).
	PacketsToServer, PacketsToClient int
}

// BytesPerExchange models a request of payload bytes, its echo, and pureACKs
// pure ACKs: the first from the client (acknowledging the echo), the second
// from the server (acknowledging the request), alternating after that.
// Payloads above the MSS are split into full segments and a remainder.
func BytesPerExchange(payload, pureACKs int) Exchange {
	x := Exchange{Payload: payload, PureACKs: pureACKs}
	data, packets := 0, 0
	for left := payload; left > 0 || packets == 0; left -= MSS {
		data += SegmentOnWire(min(left, MSS))
		packets++
	}
	x.ToServer, x.PacketsToServer = data, packets
	x.ToClient, x.PacketsToClient = data, packets
	for i := range pureACKs {
		if i%2 == 0 {
			x.ToServer, x.PacketsToServer = x.ToServer+SegmentOnWire(0), x.PacketsToServer+1
		} else {
			x.ToClient, x.PacketsToClient = x.ToClient+SegmentOnWire(0), x.PacketsToClient+1
		}
	}
	return x
}

// Total is the bytes on the wire of the exchange, both directions.
func (x Exchange) Total() int { return x.ToServer + x.ToClient }

// BitsPerSecond is the rate the busier direction needs when conns
// connections each make one exchange per interval.
func (x Exchange) BitsPerSecond(conns float64, interval time.Duration) float64 {
	return float64(max(x.ToServer, x.ToClient)) * 8 * conns / interval.Seconds()
}

// PacketsPerSecond is the packet rate of the busier direction.
func (x Exchange) PacketsPerSecond(conns float64, interval time.Duration) float64 {
	return float64(max(x.PacketsToServer, x.PacketsToClient)) * conns / interval.Seconds()
}

// MaxConns is the number of connections whose exchanges fill a link of
// bitsPerSecond in the busier direction.
func (x Exchange) MaxConns(bitsPerSecond float64, interval time.Duration) float64 {
	return bitsPerSecond * interval.Seconds() / (8 * float64(max(x.ToServer, x.ToClient)))
}

// RequiredBitsPerSecond is the busier direction's rate for conns
// connections exchanging payload bytes every interval, with delayed ACKs.
func RequiredBitsPerSecond(conns float64, interval time.Duration, payload int) float64 {
	return BytesPerExchange(payload, DefaultPureACKs).BitsPerSecond(conns, interval)
}

// PacketsPerSecond is the busier direction's packet rate, with delayed ACKs.
func PacketsPerSecond(conns float64, interval time.Duration, payload int) float64 {
	return BytesPerExchange(payload, DefaultPureACKs).PacketsPerSecond(conns, interval)
}

// NIC is a network card's line rate.
type NIC struct {
	Name          string
	BitsPerSecond float64
}

// NICs are the cards question 4 compares against.
var NICs = []NIC{{"1 GbE", 1e9}, {"10 GbE", 10e9}, {"25 GbE", 25e9}, {"100 GbE", 100e9}}

// MinFramePacketsPerSecond is the card's packet rate at minimum-size
// frames (84 bytes on the wire): 1,488,095 per second per Gbit/s.
func (n NIC) MinFramePacketsPerSecond() float64 {
	return n.BitsPerSecond / (8 * float64(frameOnWire(0)))
}

// KeepaliveIntervals are the intervals the model is drawn and tabled for.
var KeepaliveIntervals = []time.Duration{time.Second, 10 * time.Second, 30 * time.Second, time.Minute}

func (x Exchange) String() string {
	return fmt.Sprintf("%d-byte payload and %s: client→server %d B in %s, server→client %d B in %s",
		x.Payload, plural(x.PureACKs, "pure ACK"), x.ToServer, plural(x.PacketsToServer, "packet"), x.ToClient, plural(x.PacketsToClient, "packet"))
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// IntervalText writes a keepalive interval in seconds: "1 s", "60 s".
func IntervalText(d time.Duration) string {
	return numfmt.Number(d.Seconds()) + " s"
}
