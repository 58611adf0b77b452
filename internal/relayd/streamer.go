package relayd

import (
	"crypto/rand"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/bpftrail/bpftrail/ctf"
)

// Options describe a [Streamer].
type Options struct {
	Addr Addr
	// Session names the session on relayd (its directory there is
	// HOSTNAME/SESSION-YYYYMMDD-HHMMSS/, and live viewers find it at
	// net://HOST/host/HOSTNAME/SESSION).
	Session string
	// Hostname the session is filed under; default the kernel's host
	// name, as LTTng sends it.
	Hostname string
	// Path is the trace's directory inside the session; default
	// "bpftrail".
	Path string
	// Live, when positive, makes a live session with this timer period
	// (what viewers are told to poll at).
	Live time.Duration
	// Timeout bounds each exchange with relayd and the wait for the queue
	// to drain at Close; default 5s.
	Timeout time.Duration
	// Queue is the number of packets waiting to be sent before more are
	// dropped (and counted as discarded on relayd); default 4096.
	Queue int
	// Retry is the first wait before reconnecting to a lost relayd,
	// doubled after each failure up to MaxRetry; defaults 200ms and 5s.
	Retry, MaxRetry time.Duration
	// Logf, when set, is told of a lost connection and of each
	// reconnection.
	Logf func(format string, args ...any)
}

// Stats count what a [Streamer] sent and what relayd missed.
type Stats struct {
	Packets, Bytes uint64 // sent to relayd
	// Missed are the events of the packets relayd did not get (connection
	// lost, queue full); the packets sent after them report them as
	// discarded.
	Missed, MissedPackets uint64
	Reconnects            int
	Output                string // the session's directory under relayd's output (of the last connection)
	Minor                 uint32 // protocol 2.Minor in use
}

// item is one thing the sender sends, in order.
type item struct {
	kind   int // itemPacket, itemBeacon, itemMeta, itemClose
	id     int
	pkt    []byte
	events int
	ts     uint64
}

const (
	itemPacket = iota
	itemBeacon
	itemMeta
	itemClose
)

// stream is the sender's state of one CTF stream.
type stream struct {
	id      int
	missed  uint64 // events relayd missed so far
	handle  uint64 // relayd's, on the current connection
	added   bool   // on the current connection
	started bool   // a packet sent on the current connection
	netSeq  uint64 // next network sequence number on the current connection
	lastSeq uint64 // packet_seq_num of the last packet sent
	lastDis uint64 // events_discarded (with missed) of the last packet sent
}

// Streamer sends a trace to relayd as it is written: it is the
// [ctf.PacketSink] of the trace's writer. Its methods never block on the
// network.
type Streamer struct {
	o       Options
	session Session
	q       chan item
	done    chan struct{}

	mu      sync.Mutex
	stats   Stats
	streams map[int]*stream
	meta    []byte // the latest metadata
	closed  bool

	// Sender-side state (the sender goroutine only).
	c        *conn
	metaH    uint64
	metaSent int
	retryAt  time.Time
	backoff  time.Duration
	lastErr  error
}

// Start connects to relayd, creates the session and its first chunk, and
// starts sending. A relayd that cannot be reached is an error here; once
// started, a lost connection is retried.
func Start(o Options) (*Streamer, error) {
	if o.Session == "" {
		return nil, fmt.Errorf("relayd: a session needs a name")
	}
	if o.Hostname == "" {
		o.Hostname = kernelHostname()
	}
	if o.Path == "" {
		o.Path = "bpftrail"
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Queue <= 0 {
		o.Queue = 4096
	}
	if o.Retry <= 0 {
		o.Retry = 200 * time.Millisecond
	}
	if o.MaxRetry < o.Retry {
		o.MaxRetry = max(5*time.Second, o.Retry)
	}
	s := &Streamer{o: o, q: make(chan item, o.Queue), done: make(chan struct{}), streams: map[int]*stream{}, backoff: o.Retry}
	s.session = Session{Name: o.Session, Hostname: o.Hostname}
	if o.Live > 0 {
		s.session.LiveTimer = uint32(max(o.Live.Microseconds(), 1))
	}
	_, _ = rand.Read(s.session.SessiondUUID[:])
	s.session.SessiondUUID[6] = s.session.SessiondUUID[6]&0x0f | 0x40
	s.session.SessiondUUID[8] = s.session.SessiondUUID[8]&0x3f | 0x80
	if err := s.connect(); err != nil {
		return nil, err
	}
	go s.run()
	return s, nil
}

// kernelHostname is the host name relayd files LTTng sessions under.
func kernelHostname() string {
	if b, err := os.ReadFile("/proc/sys/kernel/hostname"); err == nil {
		if h := string(trimNL(b)); h != "" {
			return h
		}
	}
	h, _ := os.Hostname()
	return h
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == 0) {
		b = b[:len(b)-1]
	}
	return b
}

// Metadata implements [ctf.PacketSink].
func (s *Streamer) Metadata(tsdl []byte) {
	s.mu.Lock()
	s.meta = append(s.meta[:0], tsdl...)
	s.mu.Unlock()
	s.enqueue(item{kind: itemMeta})
}

// Packet implements [ctf.PacketSink].
func (s *Streamer) Packet(id int, pkt []byte, events int) {
	if !s.enqueue(item{kind: itemPacket, id: id, pkt: append([]byte(nil), pkt...), events: events}) {
		s.mu.Lock()
		s.stream(id).missed += uint64(events)
		s.stats.Missed += uint64(events)
		s.stats.MissedPackets++
		s.mu.Unlock()
	}
}

// Beacon tells live viewers that stream id holds nothing before clock
// value ts (a quiet CPU must not stall them). ts must not be later than
// the stream's next packet's timestamp_begin.
func (s *Streamer) Beacon(id int, ts uint64) {
	s.enqueue(item{kind: itemBeacon, id: id, ts: ts})
}

// stream returns the state of stream id (s.mu held).
func (s *Streamer) stream(id int) *stream {
	st := s.streams[id]
	if st == nil {
		st = &stream{id: id}
		s.streams[id] = st
	}
	return st
}

// enqueue queues it without blocking; false when the queue is full.
func (s *Streamer) enqueue(it item) bool {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return false
	}
	select {
	case s.q <- it:
		return true
	default:
		return it.kind == itemMeta // the sender reads the latest metadata anyway
	}
}

// Stats returns the counts so far.
func (s *Streamer) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Close sends what is queued, closes the session's streams and the
// connection. It waits at most the timeout for the queue to drain; what is
// left is counted as missed. It returns the last connection error, if
// relayd was lost and not reached again.
func (s *Streamer) Close() (Stats, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return s.Stats(), nil
	}
	s.closed = true
	s.mu.Unlock()
	stuck := time.After(2 * s.o.Timeout)
	select {
	case s.q <- item{kind: itemClose}:
		select {
		case <-s.done:
		case <-stuck:
			s.cut()
			<-s.done
		}
	case <-stuck:
		s.cut()
		s.q <- item{kind: itemClose} // the sender now drops what it cannot send
		<-s.done
	}
	return s.Stats(), s.lastErr
}

// cut closes the connection under a sender stuck on relayd, and waits for
// the sender to end.
func (s *Streamer) cut() {
	s.mu.Lock()
	if c := s.c; c != nil {
		c.close()
	}
	s.mu.Unlock()
}

// run is the sender.
func (s *Streamer) run() {
	defer close(s.done)
	var closeBy time.Time
	for it := range s.q {
		if it.kind == itemClose {
			closeBy = time.Now().Add(s.o.Timeout)
			if s.c != nil {
				s.c.deadline = closeBy
			}
			s.drain(closeBy)
			s.finish()
			return
		}
		s.handle(it)
	}
}

// drain sends what is still queued, until by.
func (s *Streamer) drain(by time.Time) {
	for {
		select {
		case it := <-s.q:
			if time.Now().After(by) && it.kind == itemPacket {
				s.miss(it)
				continue
			}
			s.handle(it)
		default:
			return
		}
	}
}

// handle sends one item, reconnecting first when due.
func (s *Streamer) handle(it item) {
	if s.c == nil && !time.Now().Before(s.retryAt) {
		s.reconnect()
	}
	if s.c == nil {
		if it.kind == itemPacket {
			s.miss(it)
		}
		return
	}
	var err error
	switch it.kind {
	case itemMeta:
		err = s.syncMetadata()
	case itemPacket:
		if err = s.syncMetadata(); err == nil {
			err = s.sendPacket(it)
		}
		if err != nil {
			s.miss(it)
		}
	case itemBeacon:
		err = s.sendBeacon(it)
	}
	if err != nil {
		s.lost(err)
	}
}

// miss counts a packet relayd will not get.
func (s *Streamer) miss(it item) {
	s.mu.Lock()
	s.stream(it.id).missed += uint64(it.events)
	s.stats.Missed += uint64(it.events)
	s.stats.MissedPackets++
	s.mu.Unlock()
}

// lost drops the connection after err; the next item reconnects after the
// backoff.
func (s *Streamer) lost(err error) {
	s.lastErr = fmt.Errorf("lttng-relayd at %s: %w", s.o.Addr.control(), err)
	if s.o.Logf != nil {
		s.o.Logf("lost lttng-relayd at %s: %v; retrying in %v", s.o.Addr.control(), err, s.backoff)
	}
	s.mu.Lock()
	c := s.c
	s.c = nil
	s.mu.Unlock()
	if c != nil {
		c.close()
	}
	s.retryAt = time.Now().Add(s.backoff)
	s.backoff = min(2*s.backoff, s.o.MaxRetry)
}

// reconnect opens a new connection and a new session of the same name:
// relayd's copy goes on in a new directory, each stream starting with an
// empty packet so that what was missed is counted from there.
func (s *Streamer) reconnect() {
	if err := s.connect(); err != nil {
		s.lastErr = err
		s.retryAt = time.Now().Add(s.backoff)
		s.backoff = min(2*s.backoff, s.o.MaxRetry)
		return
	}
	s.backoff = s.o.Retry
	s.lastErr = nil
	s.mu.Lock()
	s.stats.Reconnects++
	s.mu.Unlock()
	if s.o.Logf != nil {
		s.o.Logf("reconnected to lttng-relayd at %s", s.o.Addr.control())
	}
}

// connect dials relayd and sets the session up: session, chunk, the
// metadata stream and the known streams, published to live viewers.
func (s *Streamer) connect() error {
	c, err := dial(s.o.Addr, s.o.Timeout)
	if err != nil {
		return err
	}
	// Each connection is a session of its own on relayd (a directory of
	// its own, named after its creation time).
	s.session.ID++
	s.session.CreationTime = uint64(time.Now().Unix())
	fail := func(err error) error {
		c.close()
		return fmt.Errorf("lttng-relayd at %s: %w", s.o.Addr.control(), err)
	}
	if err := c.createSession(s.session); err != nil {
		return fail(err)
	}
	h, err := c.addStream("metadata", s.o.Path)
	if err != nil {
		return fail(err)
	}
	s.mu.Lock()
	ids := make([]int, 0, len(s.streams))
	for id, st := range s.streams {
		st.added, st.started, st.netSeq = false, false, 0
		ids = append(ids, id)
	}
	s.mu.Unlock()
	sort.Ints(ids)
	s.metaH, s.metaSent = h, 0
	s.setConn(c)
	for _, id := range ids {
		if err := s.addStream(id); err != nil {
			s.setConn(nil)
			return fail(err)
		}
	}
	if err := c.generic("streams sent", streamsSentMsg()); err != nil {
		s.setConn(nil)
		return fail(err)
	}
	if err := s.syncMetadata(); err != nil {
		s.setConn(nil)
		return fail(err)
	}
	s.mu.Lock()
	s.stats.Output, s.stats.Minor = c.output, c.minor
	s.mu.Unlock()
	return nil
}

// setConn sets the current connection (Close may read it).
func (s *Streamer) setConn(c *conn) {
	s.mu.Lock()
	s.c = c
	s.mu.Unlock()
}

// addStream adds stream id on the current connection.
func (s *Streamer) addStream(id int) error {
	h, err := s.c.addStream(fmt.Sprintf("stream_%d", id), s.o.Path)
	if err != nil {
		return err
	}
	s.mu.Lock()
	st := s.stream(id)
	st.handle, st.added = h, true
	s.mu.Unlock()
	return nil
}

// syncMetadata sends the metadata not yet sent on this connection.
func (s *Streamer) syncMetadata() error {
	s.mu.Lock()
	meta := s.meta
	if len(meta) <= s.metaSent {
		s.mu.Unlock()
		return nil
	}
	text := append([]byte(nil), meta[s.metaSent:]...)
	s.mu.Unlock()
	if err := s.c.sendMetadata(s.metaH, text); err != nil {
		return err
	}
	s.metaSent += len(text)
	return nil
}

// sendPacket sends a packet of a stream, with the events relayd missed
// added to its discarded count; the first packet of a stream on a
// connection that is not the stream's first is preceded by an empty one.
func (s *Streamer) sendPacket(it item) error {
	info, err := ctf.ParsePacket(it.pkt)
	if err != nil {
		return err
	}
	s.mu.Lock()
	st := s.stream(it.id)
	added := st.added
	s.mu.Unlock()
	if !added {
		if err := s.addStream(it.id); err != nil {
			return err
		}
		if err := s.c.generic("streams sent", streamsSentMsg()); err != nil {
			return err
		}
	}
	s.mu.Lock()
	missed, started := st.missed, st.started
	s.mu.Unlock()
	if !started && info.SeqNum > 0 {
		empty := ctf.EmptyPacket(it.pkt, info.SeqNum-1, info.TimestampBegin, info.TimestampBegin, st.lastDis)
		if err := s.send(st, empty); err != nil {
			return err
		}
	}
	ctf.SetPacketDiscarded(it.pkt, info.EventsDiscarded+missed)
	if err := s.send(st, it.pkt); err != nil {
		return err
	}
	s.mu.Lock()
	s.stats.Packets++
	s.stats.Bytes += info.ContentSize / 8
	s.mu.Unlock()
	return nil
}

// send sends one packet of st and its index.
func (s *Streamer) send(st *stream, pkt []byte) error {
	info, err := ctf.ParsePacket(pkt)
	if err != nil {
		return err
	}
	x := Index{
		RelayStream: st.handle, NetSeq: st.netSeq,
		PacketSize: info.PacketSize, ContentSize: info.ContentSize,
		TimestampBegin: info.TimestampBegin, TimestampEnd: info.TimestampEnd,
		EventsDiscarded: info.EventsDiscarded, StreamID: uint64(info.StreamID),
		StreamInstanceID: info.StreamInstanceID, PacketSeqNum: info.SeqNum,
	}
	if err := s.c.sendPacket(x, pkt); err != nil {
		return err
	}
	s.mu.Lock()
	st.netSeq++
	st.started = true
	st.lastSeq, st.lastDis = info.SeqNum, info.EventsDiscarded
	s.mu.Unlock()
	return nil
}

// sendBeacon sends a live beacon: an index without a packet.
func (s *Streamer) sendBeacon(it item) error {
	s.mu.Lock()
	st := s.stream(it.id)
	ok := st.added && st.started && s.session.LiveTimer > 0
	x := Index{RelayStream: st.handle, NetSeq: st.netSeq - 1, TimestampBegin: it.ts, TimestampEnd: it.ts,
		StreamInstanceID: uint64(it.id), PacketSeqNum: st.lastSeq}
	s.mu.Unlock()
	if !ok {
		return nil
	}
	return s.c.generic("send beacon", indexMsg(x))
}

// finish closes the session's streams and the connection.
func (s *Streamer) finish() {
	if s.c == nil {
		return
	}
	s.mu.Lock()
	ids := make([]int, 0, len(s.streams))
	for id, st := range s.streams {
		if st.added {
			ids = append(ids, id)
		}
	}
	sort.Ints(ids)
	rs := []Rotation{{Stream: s.metaH}}
	last := []uint64{^uint64(0)}
	for _, id := range ids {
		st := s.streams[id]
		rs = append(rs, Rotation{Stream: st.handle, RotateAt: st.lastSeq + 1})
		last = append(last, st.netSeq-1)
	}
	s.mu.Unlock()
	if err := s.c.closeSession(rs, last, uint64(time.Now().Unix())); err != nil {
		s.lastErr = fmt.Errorf("lttng-relayd at %s: %w", s.o.Addr.control(), err)
	}
	s.mu.Lock()
	c := s.c
	s.c = nil
	s.mu.Unlock()
	c.close()
}
