package server

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// machineRoutes are requested by machines on a schedule (load balancer
// probes, Prometheus scrapes). Their access lines are DEBUG, so a healthy
// server's INFO log holds what clients did, not what its probes did; a 5xx
// answer stays at INFO, because a failing probe is news.
var machineRoutes = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// accessLevel is the level of the access line for a request to route.
func accessLevel(route string, status int) slog.Level {
	if machineRoutes[route] && status < http.StatusInternalServerError {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// maxUserAgent bounds the user agent in an access line: the header may be
// as long as --max-header-bytes allows, and a log line should not be.
const maxUserAgent = 256

// userAgent returns the request's User-Agent, cut to maxUserAgent bytes.
func userAgent(r *http.Request) string {
	ua := r.UserAgent()
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent]
	}
	return ua
}

// clientAddr returns the address of the client that sent r. It is the
// connection's peer, unless that peer is a trusted proxy: then it is the
// right-most X-Forwarded-For entry that is not itself a trusted proxy.
// Entries left of it were written by the client and prove nothing, so they
// are never used; an entry that is not an IP address stops the walk at the
// last address known to be good.
func clientAddr(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !isTrusted(peer, trusted) {
		return host
	}
	client := peer
	xff := r.Header.Values("X-Forwarded-For")
	for i := len(xff) - 1; i >= 0; i-- {
		hops := strings.Split(xff[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[j]))
			if err != nil {
				return client.Unmap().String()
			}
			client = a
			if !isTrusted(a, trusted) {
				return a.Unmap().String()
			}
		}
	}
	return client.Unmap().String()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
