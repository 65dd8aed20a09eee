// Package linksim emulates a thin link in user space: a TCP proxy on
// loopback that limits bandwidth, adds delay and jitter, stalls as TCP does
// after a loss, and can cut its connections mid-stream or go down for a
// while. This kernel has no sch_netem, and a proxy is enough to put a
// relay and stock clients on a 2G link.
//
// Each direction of each connection is a pipe: a reader takes bytes from
// one socket in segments, as fast as the link's buffer has room; each
// segment is given the time it would arrive (serialised at the bandwidth,
// then delayed, jittered, and held back with everything behind it when it
// is "lost"); a writer delivers it to the other socket at that time. The
// proxy's sockets have small kernel buffers, so a sender feels the link's
// pace as backpressure, as it would on a real network.
//
// Link is safe for concurrent use. Every goroutine ends when the link is
// closed.
package linksim
