package api

import (
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/veche-sync/veche/server"
)

// The access log: one line at info per HTTP request, and per websocket
// session when it ends, with the method, the path without its query
// string (?token= never reaches a log), the route, the status, the
// duration, the principal's kind and the bytes read and written. Tokens
// travel in headers or the query string and so never appear in it.

// Keys under which the sync handler leaves what the access log needs.
const (
	// sessionKey marks a request upgraded to a websocket session: the
	// session outlives the handler (it runs on a goroutine of its own, so
	// the HTTP server's buffers are let go), and writes its access log line
	// itself when it ends (logSession).
	sessionKey = "veche.session"
)

// accessEntry is one line of the access log.
type accessEntry struct {
	msg, method, path, route string
	status                   int
	duration                 time.Duration
	principal                string
	read, written            int64
}

// logAccess writes e and tells Metrics about the request.
func (s *Server) logAccess(e accessEntry) {
	s.log.Info(e.msg,
		"method", e.method,
		"path", e.path,
		"route", e.route,
		"status", e.status,
		"duration", e.duration.Round(time.Microsecond),
		"principal", e.principal,
		"bytes_in", e.read,
		"bytes_out", e.written,
	)
	s.metrics.Request(methodLabel(e.method), e.route, e.status, e.duration)
}

// accessLog is the middleware that writes the access log and tells
// Metrics about the request.
func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		req := c.Request()
		body := &countingReader{r: req.Body}
		if req.Body != nil && req.Body != http.NoBody {
			req.Body = body
		}
		if err := next(c); err != nil {
			c.Error(err) // writes the answer, so its status is known
		}
		d := time.Since(start)
		route := c.Path()
		if route == "" || route == "/*" {
			route = "unmatched"
		}
		status := c.Response().Status
		kind := "none"
		if p := principalOf(c); p.Kind != "" {
			kind = string(p.Kind)
		}
		if c.Get(sessionKey) != nil {
			return nil // the session logs itself when it ends
		}
		s.logAccess(accessEntry{msg: "request", method: req.Method, path: req.URL.Path, route: route,
			status: status, duration: d, principal: kind, read: body.n, written: c.Response().Size})
		return nil
	}
}

// methodLabel is the method a request is counted under: one of HTTP's
// own, or "other" for anything a client invents, so no client can grow
// the metrics without bound.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// countingReader counts the bytes of a request body read by a handler.
type countingReader struct {
	r io.ReadCloser
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }

// requireOperator is the middleware of routes only the relay's operator
// may call (GET /metrics on the main listener).
func (s *Server) requireOperator(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p, err := s.authenticate(c, false, false)
		if err != nil {
			return err
		}
		if p.Kind != server.KindOperator {
			return &Error{Code: CodeForbidden, Message: "only the relay's operator reads its metrics"}
		}
		c.Set(principalKey, p)
		return next(c)
	}
}
