package api

import (
	"net"
	"net/netip"
	"strconv"
	"sync"

	"github.com/labstack/echo/v4"
)

// ipExtractor is how a request's client address is found: the TCP peer,
// or with trusted proxies, X-Forwarded-For read from the right past them
// (and only them: loopback and private ranges are not trusted unless
// listed).
func ipExtractor(trusted []netip.Prefix) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		opts = append(opts, echo.TrustIPRange(&net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// Defaults of the connection caps.
const (
	// DefaultMaxConnectionsPerToken is Options.MaxConnectionsPerToken's
	// default: a member's phones and laptops, with room for reconnects
	// that overlap the old connection.
	DefaultMaxConnectionsPerToken = 16
	// DefaultMaxConnectionsPerAddress is Options.MaxConnectionsPerAddress's
	// default: a village behind one NAT address.
	DefaultMaxConnectionsPerAddress = 256
)

// connLimiter counts open sync connections per principal and per address.
type connLimiter struct {
	perPrincipal, perAddress int

	mu         sync.Mutex // guards the following
	principals map[string]int
	addrs      map[string]int
}

func newConnLimiter(perPrincipal, perAddress int) *connLimiter {
	return &connLimiter{perPrincipal: perPrincipal, perAddress: perAddress, principals: map[string]int{}, addrs: map[string]int{}}
}

// acquire counts one more connection of principal (none for "") from
// addr, or refuses it; the caller calls release when it ends.
func (l *connLimiter) acquire(principal, addr string) (release func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if principal != "" && l.principals[principal] >= l.perPrincipal {
		return nil, &Error{Code: CodeTooManyRequests, Message: "too many open sync connections for this token's member (limit " + itoa(l.perPrincipal) + "): close one first"}
	}
	if l.addrs[addr] >= l.perAddress {
		return nil, &Error{Code: CodeTooManyRequests, Message: "too many open sync connections from this address (limit " + itoa(l.perAddress) + ")"}
	}
	if principal != "" {
		l.principals[principal]++
	}
	l.addrs[addr]++
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if principal != "" {
			if l.principals[principal]--; l.principals[principal] <= 0 {
				delete(l.principals, principal)
			}
		}
		if l.addrs[addr]--; l.addrs[addr] <= 0 {
			delete(l.addrs, addr)
		}
	}, nil
}

func itoa(n int) string { return strconv.Itoa(n) }
