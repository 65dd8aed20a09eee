//go:build !linux

package wsconn

// poller stands in for the shared epoll set where there is none: Conns
// never notify, and the relay reads on a goroutine per connection.
type poller struct{}

func thePoller() *poller { return nil }

func (p *poller) arm(*Conn) bool { return false }

func (p *poller) remove(*Conn) {}
