package relayd

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// Default ports of lttng-relayd.
const (
	DefaultControlPort = 5342
	DefaultDataPort    = 5343
	DefaultLivePort    = 5344
)

// Addr is where a relayd listens: its control and data ports.
type Addr struct {
	Host          string
	Control, Data int
}

func (a Addr) control() string { return net.JoinHostPort(a.Host, strconv.Itoa(a.Control)) }
func (a Addr) data() string    { return net.JoinHostPort(a.Host, strconv.Itoa(a.Data)) }

// String is the address in LTTng's URL form.
func (a Addr) String() string {
	h := a.Host
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	return fmt.Sprintf("net://%s:%d:%d", h, a.Control, a.Data)
}

// ParseURL reads LTTng's network URL: net://HOST[:CONTROL_PORT[:DATA_PORT]]
// (net6:// and tcp:// are taken too; an IPv6 host is written in brackets).
// The ports default to relayd's, 5342 and 5343.
func ParseURL(s string) (Addr, error) {
	rest := s
	for _, p := range []string{"net://", "net6://", "tcp://", "tcp6://"} {
		if strings.HasPrefix(rest, p) {
			rest = rest[len(p):]
			break
		}
	}
	if rest == s && strings.Contains(s, "://") {
		return Addr{}, fmt.Errorf("relayd URL %q: want net://HOST[:CONTROL_PORT[:DATA_PORT]]", s)
	}
	rest = strings.TrimSuffix(rest, "/")
	a := Addr{Control: DefaultControlPort, Data: DefaultDataPort}
	var ports string
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return Addr{}, fmt.Errorf("relayd URL %q: unclosed [ in the host", s)
		}
		a.Host, ports = rest[1:end], rest[end+1:]
		if ports != "" && !strings.HasPrefix(ports, ":") {
			return Addr{}, fmt.Errorf("relayd URL %q: want :PORT after the host", s)
		}
		ports = strings.TrimPrefix(ports, ":")
	} else {
		a.Host, ports, _ = strings.Cut(rest, ":")
	}
	if a.Host == "" || strings.ContainsAny(a.Host, "/ ") {
		return Addr{}, fmt.Errorf("relayd URL %q: want net://HOST[:CONTROL_PORT[:DATA_PORT]]", s)
	}
	if ports != "" {
		parts := strings.Split(ports, ":")
		if len(parts) > 2 {
			return Addr{}, fmt.Errorf("relayd URL %q: at most a control and a data port", s)
		}
		for i, p := range parts {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 {
				return Addr{}, fmt.Errorf("relayd URL %q: bad port %q", s, p)
			}
			if i == 0 {
				a.Control = n
			} else {
				a.Data = n
			}
		}
		if len(parts) == 1 {
			a.Data = a.Control + 1
		}
	}
	return a, nil
}

// announceMinor is the minor this client announces (tests lower it to
// speak older layouts to a newer relayd).
var announceMinor uint32 = VersionMinor

// conn is one connection to relayd: its control and data sockets and the
// negotiated protocol version.
type conn struct {
	addr     Addr
	ctrl     net.Conn
	data     net.Conn
	minor    uint32
	timeout  time.Duration
	session  uint64 // relayd's id of the session
	output   string // the session's directory under relayd's output
	deadline time.Time
}

// dial connects the control and data sockets and negotiates the version.
func dial(a Addr, timeout time.Duration) (*conn, error) {
	c := &conn{addr: a, timeout: timeout}
	var err error
	if c.ctrl, err = net.DialTimeout("tcp", a.control(), timeout); err != nil {
		return nil, fmt.Errorf("cannot reach lttng-relayd at %s: %w", a.control(), unwrapOp(err))
	}
	if c.data, err = net.DialTimeout("tcp", a.data(), timeout); err != nil {
		c.ctrl.Close()
		return nil, fmt.Errorf("cannot reach lttng-relayd at %s: %w", a.data(), unwrapOp(err))
	}
	reply, err := c.call(versionMsg(VersionMajor, announceMinor), versionReplySize)
	if err != nil {
		c.close()
		return nil, fmt.Errorf("cannot reach lttng-relayd at %s: version: %w", a.control(), err)
	}
	major, minor := be.Uint32(reply), be.Uint32(reply[4:])
	if major != VersionMajor {
		c.close()
		return nil, fmt.Errorf("lttng-relayd at %s speaks protocol %d.%d; this client speaks %d.x", a.control(), major, minor, VersionMajor)
	}
	c.minor = min(minor, announceMinor)
	if c.minor < MinVersionMinor {
		c.close()
		return nil, fmt.Errorf("lttng-relayd at %s speaks protocol 2.%d; 2.%d or later is needed (lttng-tools 2.11)", a.control(), minor, MinVersionMinor)
	}
	return c, nil
}

// unwrapOp drops the "dial tcp ADDR:" prefix the address already says.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// setDeadlines bounds the next exchange.
func (c *conn) setDeadlines() {
	d := time.Now().Add(c.timeout)
	if !c.deadline.IsZero() && c.deadline.Before(d) {
		d = c.deadline
	}
	_ = c.ctrl.SetDeadline(d)
	_ = c.data.SetDeadline(d)
}

// call sends a control message and reads a reply of n bytes.
func (c *conn) call(msg []byte, n int) ([]byte, error) {
	c.setDeadlines()
	if _, err := c.ctrl.Write(msg); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	reply := make([]byte, n)
	if _, err := io.ReadFull(c.ctrl, reply); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			err = errors.New("lttng-relayd closed the connection")
		}
		return nil, err
	}
	return reply, nil
}

// generic sends a command whose reply is a return code.
func (c *conn) generic(what string, msg []byte) error {
	reply, err := c.call(msg, genericReplySize)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return retError(what, be.Uint32(reply))
}

// createSession creates the session and its first trace chunk.
func (c *conn) createSession(s Session) error {
	reply, err := c.call(createSessionMsg(c.minor, s), sessionReplySize)
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	c.session = be.Uint64(reply)
	code, n := be.Uint32(reply[8:]), be.Uint32(reply[12:])
	if n > 4096 {
		return fmt.Errorf("create session: a reply path of %d bytes", n)
	}
	path := make([]byte, n)
	if _, err := io.ReadFull(c.ctrl, path); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	if err := retError("the session "+s.Name, code); err != nil {
		return err
	}
	c.output = strings.TrimRight(string(path), "\x00")
	return c.generic("create trace chunk", createChunkMsg(0, s.CreationTime))
}

// addStream adds a stream and returns relayd's handle of it.
func (c *conn) addStream(channel, path string) (uint64, error) {
	reply, err := c.call(addStreamMsg(channel, path, 0), streamReplySize)
	if err != nil {
		return 0, fmt.Errorf("add stream %s: %w", channel, err)
	}
	return be.Uint64(reply), retError("the stream "+channel, be.Uint32(reply[8:]))
}

// sendMetadata appends text to the metadata stream.
func (c *conn) sendMetadata(stream uint64, text []byte) error {
	_, err := c.call(metadataMsg(stream, text), 0)
	if err != nil {
		return fmt.Errorf("send metadata: %w", err)
	}
	return nil
}

// sendPacket sends a packet on the data socket and its index on the
// control socket. Only content bytes travel: relayd pads the packet.
func (c *conn) sendPacket(x Index, pkt []byte) error {
	content := min(int(x.ContentSize/8), len(pkt))
	pad := int(x.PacketSize/8) - content
	c.setDeadlines()
	hdr := dataHeader(x.RelayStream, x.NetSeq, uint32(content), uint32(pad))
	if _, err := (&net.Buffers{hdr, pkt[:content]}).WriteTo(c.data); err != nil {
		return fmt.Errorf("send packet: %w", err)
	}
	return c.generic("send index", indexMsg(x))
}

// close ends the session's streams as LTTng does (their rotation out of
// the chunk, the chunk's close, then each stream's close), then the
// sockets.
func (c *conn) closeSession(rs []Rotation, last []uint64, now uint64) error {
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	keep(c.generic("rotate streams", rotateStreamsMsg(rs)))
	if first == nil {
		reply, err := c.call(closeChunkMsg(0, now), closeChnkRplySize)
		if err == nil {
			if n := be.Uint32(reply[4:]); n > 0 && n <= 4096 {
				_, err = io.ReadFull(c.ctrl, make([]byte, n))
			}
			if err == nil {
				err = retError("closing the trace chunk", be.Uint32(reply))
			}
		}
		keep(err)
	}
	for i, r := range rs {
		if first != nil {
			break
		}
		keep(c.generic("close stream", closeStreamMsg(r.Stream, last[i])))
	}
	return first
}

func (c *conn) close() {
	c.ctrl.Close()
	c.data.Close()
}
