package api

import (
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
)

// Request bodies may arrive slowly — the links veche is built for carry
// 10 kbit/s with 800 ms round trips — but not forever: a client that
// dribbles a byte every few seconds would hold a connection and a
// goroutine open indefinitely. So a body must keep up a minimal rate: by
// DefaultBodyGrace after the request began plus one second per
// DefaultBodyMinRate bytes received, the next byte must have arrived.
// A 1 MiB body on a 10 kbit/s (1250 B/s) link arrives in about 840 s and
// is allowed 30 s + 2097 s; the slow start and round trips of such a
// link cost a few seconds of the grace. A dribble of one byte every 5 s
// is cut after 30 s.
const (
	// DefaultBodyMinRate is Options.BodyMinRate's default, in bytes per
	// second: 4 kbit/s, under half of the slowest link served.
	DefaultBodyMinRate = 500
	// DefaultBodyGrace is Options.BodyGrace's default.
	DefaultBodyGrace = 30 * time.Second
)

// bodyAllowance is how long a body may have taken to deliver n bytes.
func bodyAllowance(n int64, minRate int, grace time.Duration) time.Duration {
	return grace + time.Duration(float64(n)/float64(minRate)*float64(time.Second))
}

// bodyDeadline is the middleware that holds request bodies to the rate.
func (s *Server) bodyDeadline(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.Body == nil || r.Body == http.NoBody {
			return next(c)
		}
		rc := http.NewResponseController(c.Response().Writer)
		b := &deadlineBody{r: r.Body, rc: rc, start: time.Now(), rate: s.opts.BodyMinRate, grace: s.opts.BodyGrace}
		if err := b.extend(); err != nil {
			return next(c) // the transport does not take deadlines (a test recorder)
		}
		r.Body = b
		// The deadline stays after the handler: net/http reads what is left
		// of an unread body before the next request on the connection, and
		// a dribbler must not hold it there; the next request's header
		// read sets a deadline of its own.
		return next(c)
	}
}

// deadlineBody moves the connection's read deadline as the body arrives.
type deadlineBody struct {
	r     io.ReadCloser
	rc    *http.ResponseController
	start time.Time
	rate  int
	grace time.Duration
	n     int64
}

func (b *deadlineBody) extend() error {
	return b.rc.SetReadDeadline(b.start.Add(bodyAllowance(b.n, b.rate, b.grace)))
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	if n > 0 {
		_ = b.extend()
	}
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return n, errBodyTooSlow{allowed: bodyAllowance(b.n, b.rate, b.grace), n: b.n}
	}
	return n, err
}

func (b *deadlineBody) Close() error { return b.r.Close() }

// errBodyTooSlow is a body that fell behind the minimal rate.
type errBodyTooSlow struct {
	allowed time.Duration
	n       int64
}

func (e errBodyTooSlow) Error() string {
	return "request body too slow: " + strconv.FormatInt(e.n, 10) + " bytes in " + e.allowed.Round(time.Second).String()
}
