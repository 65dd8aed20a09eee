// Package wsconn carries the relay's protocol over a gorilla/websocket
// connection: it turns a websocket into a server.Conn, with keepalive pings
// that tolerate slow links and bounded writes so a stuck peer cannot hold a
// goroutine forever. Large frames go compressed (permessage-deflate) to
// peers that offer it; what a peer sends compressed is bounded once
// inflated. Both the HTTP side (accepting) and dialers (the Go client,
// federation links) use it.
//
// An accepted connection over plain TCP on Linux waits between frames in
// one epoll set shared by the process (poll_linux.go): NotifyReadable
// registers it, one goroutine waits on the set for every connection and
// calls back the one whose socket has input, has ended or failed; Close
// and the keepalive (a peer silent too long) call back too. Pings and
// pongs between frames are taken by Readable, so the keepalive's exchange
// wakes a connection only for a moment. Where that cannot work (TLS,
// dialed connections, other platforms) the reader blocks in ReadFrame as
// usual.
//
// Locking: wmu serializes data frame writes (gorilla's own lock lets pings
// and pongs go out between fragments); kmu guards the keepalive's
// sampling; the poller's mu guards its registrations and Conn.pollID;
// onReadable passes the callback from NotifyReadable to exactly one wake.
package wsconn
