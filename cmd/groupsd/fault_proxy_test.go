package main

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// proxyMode is how the fault proxy treats connections.
type proxyMode int32

const (
	forward   proxyMode = iota // pass bytes both ways
	refuse                     // reset every connection at once: a database that is down
	blackhole                  // accept and never answer: a network partition
)

// tcpProxy stands between groupsd and Postgres so a test can cut the
// database off and bring it back without touching the server.
type tcpProxy struct {
	ln     net.Listener
	target string
	mode   atomic.Int32

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	epoch int // bumped by every closeAll: a connection from before it must not survive
	wg    sync.WaitGroup
}

func startProxy(t testing.TB, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.closeAll()
		p.wg.Wait()
	})
	return p
}

func (p *tcpProxy) Addr() string { return p.ln.Addr().String() }

// track registers c, accepted in epoch, for closeAll; it refuses (and the
// caller closes c) when a closeAll happened since.
func (p *tcpProxy) track(c net.Conn, epoch int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if epoch != p.epoch {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *tcpProxy) currentEpoch() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.epoch
}

func (p *tcpProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		epoch := p.currentEpoch()
		switch proxyMode(p.mode.Load()) {
		case refuse:
			c.(*net.TCPConn).SetLinger(0) // RST, like a closed port
			c.Close()
		case blackhole:
			if !p.track(c, epoch) { // held open, never answered, closed on restore
				c.Close()
			}
		default:
			p.wg.Add(1)
			go p.pipe(c, epoch)
		}
	}
}

func (p *tcpProxy) pipe(c net.Conn, epoch int) {
	defer p.wg.Done()
	up, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(c, epoch) || !p.track(up, epoch) {
		c.Close()
		up.Close()
		return
	}
	var once sync.Once
	done := func() { once.Do(func() { c.Close(); up.Close() }) }
	go func() { io.Copy(up, c); done() }()
	io.Copy(c, up)
	done()
}

// closeAll resets every connection the proxy holds.
func (p *tcpProxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.epoch++
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		c.Close()
	}
	clear(p.conns)
}

// cut makes the database unreachable through the proxy: every open
// connection is reset and new ones are refused or blackholed.
func (p *tcpProxy) cut(mode proxyMode) {
	p.mode.Store(int32(mode))
	p.closeAll()
}

// restore lets connections through again.
func (p *tcpProxy) restore() {
	p.mode.Store(int32(forward))
	p.closeAll() // blackholed connection attempts fail now instead of hanging
}
