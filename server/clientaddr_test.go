package server

import (
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientAddr(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	for _, c := range []struct {
		name, remote string
		xff          []string
		trusted      []netip.Prefix
		want         string
	}{
		{"PeerWithoutProxies", "203.0.113.7:4242", nil, nil, "203.0.113.7"},
		{"ForwardedForIgnoredFromUntrustedPeer", "203.0.113.7:4242", []string{"198.51.100.1"}, proxies, "203.0.113.7"},
		{"ForwardedForIgnoredWithoutTrustedProxies", "10.1.2.3:4242", []string{"198.51.100.1"}, nil, "10.1.2.3"},
		{"TrustedPeerNamesTheClient", "10.1.2.3:4242", []string{"198.51.100.1"}, proxies, "198.51.100.1"},
		{"RightMostUntrustedWinsOverSpoofedLeft", "10.1.2.3:4242", []string{"1.1.1.1, 198.51.100.1, 10.9.9.9"}, proxies, "198.51.100.1"},
		{"SeveralHeaderLines", "10.1.2.3:4242", []string{"1.1.1.1", "198.51.100.1", "10.9.9.9"}, proxies, "198.51.100.1"},
		{"GarbageStopsAtLastGoodHop", "10.1.2.3:4242", []string{"198.51.100.1, not-an-ip, 10.9.9.9"}, proxies, "10.9.9.9"},
		{"AllTrustedIsTheLeftMost", "10.1.2.3:4242", []string{"10.0.0.1, 10.0.0.2"}, proxies, "10.0.0.1"},
		{"IPv6Peer", "[2001:db8::1]:4242", nil, proxies, "2001:db8::1"},
		{"IPv6TrustedProxy", "[fd00::1]:4242", []string{"2001:db8::2"}, proxies, "2001:db8::2"},
		{"MappedIPv4", "[::ffff:10.1.2.3]:4242", []string{"198.51.100.1"}, proxies, "198.51.100.1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/healthz", nil)
			r.RemoteAddr = c.remote
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := clientAddr(r, c.trusted); got != c.want {
				t.Errorf("clientAddr = %q, want %q", got, c.want)
			}
		})
	}
}

func TestAccessLevel(t *testing.T) {
	for _, c := range []struct {
		route  string
		status int
		want   slog.Level
	}{
		{"/healthz", 200, slog.LevelDebug},
		{"/readyz", 200, slog.LevelDebug},
		{"/metrics", 200, slog.LevelDebug},
		{"/readyz", 503, slog.LevelInfo},
		{"/api/v2/groups", 200, slog.LevelInfo},
		{"/docs", 200, slog.LevelInfo},
		{"unmatched", 404, slog.LevelInfo},
	} {
		if got := accessLevel(c.route, c.status); got != c.want {
			t.Errorf("accessLevel(%q, %d) = %v, want %v", c.route, c.status, got, c.want)
		}
	}
}
