package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
)

// progressDelay is how long work runs before it gets a progress bar:
// quick work prints no bar at all.
var progressDelay = time.Second

// isTerminal reports whether w is a terminal; tests replace it.
var isTerminal = func(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// progress is a progress bar (github.com/schollz/progressbar) on a
// terminal, shown once the work has taken longer than progressDelay; on
// anything else (a pipe, a log file, a test) it shows nothing.
type progress struct {
	w     io.Writer
	desc  string
	total int64
	bytes bool // count bytes (else items)
	on    bool // w is a terminal
	start time.Time

	mu  sync.Mutex // guards the following
	bar *progressbar.ProgressBar
	n   int64
}

// newProgress starts timing work of total units (bytes, if bytes; -1 if
// unknown) described by desc, reported on w.
func newProgress(w io.Writer, desc string, total int64, bytes bool) *progress {
	return &progress{w: w, desc: desc, total: total, bytes: bytes, on: isTerminal(w), start: time.Now()}
}

// Set reports that n units are done.
func (p *progress) Set(n int64) {
	if p == nil || !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n = n
	if p.bar == nil {
		if time.Since(p.start) < progressDelay {
			return
		}
		opts := []progressbar.Option{
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription(p.desc),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100 * time.Millisecond),
			progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(p.w) }),
		}
		if p.bytes {
			opts = append(opts, progressbar.OptionShowBytes(true))
		} else {
			opts = append(opts, progressbar.OptionShowCount())
		}
		p.bar = progressbar.NewOptions64(p.total, opts...)
	}
	_ = p.bar.Set64(n)
}

// Add reports n more units done.
func (p *progress) Add(n int64) {
	if p == nil || !p.on {
		return
	}
	p.mu.Lock()
	done := p.n + n
	p.mu.Unlock()
	p.Set(done)
}

// Finish completes the bar, if one is shown.
func (p *progress) Finish() {
	if p == nil || !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

// Writer counts what passes through w as progress.
func (p *progress) Writer(w io.Writer) io.Writer { return progressWriter{w: w, p: p} }

// Reader counts what is read from r as progress.
func (p *progress) Reader(r io.Reader) io.Reader { return progressReader{r: r, p: p} }

type progressWriter struct {
	w io.Writer
	p *progress
}

func (w progressWriter) Write(b []byte) (int, error) {
	n, err := w.w.Write(b)
	w.p.Add(int64(n))
	return n, err
}

type progressReader struct {
	r io.Reader
	p *progress
}

func (r progressReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	r.p.Add(int64(n))
	return n, err
}
